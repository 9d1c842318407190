"""Creating the queues a config file or SAM template declares (``--create-queues`` of ``qworker
run`` and ``qworker check``), dead-letter queues first, each reported as a :class:`Check`."""

from __future__ import annotations

from dataclasses import dataclass

from qworker.backend import Backend, QueueSpec
from qworker.commands.common import CommandError, run_with_backend
from qworker.errors import ConfigError, ExitCode, QWorkerError
from qworker.settings.layers import Effective


@dataclass
class Check:
    """One line of the report: what was checked, whether it passed, and the exit code if not."""

    name: str
    ok: bool
    message: str
    exit_code: int = ExitCode.OK


async def create_queues(backend: Backend, queues: list[QueueSpec]) -> list[Check]:
    """Create each queue (dead-letter queues come first in ``queues``); one check per queue."""
    checks = []
    for spec in queues:
        try:
            await backend.create_queue(spec)
        except QWorkerError as exc:
            checks.append(Check(f"create queue {spec.name}", False, str(exc), int(exc.exit_code)))
        else:
            checks.append(
                Check(f"create queue {spec.name}", True, "created (or already there, same attributes)")
            )
    return checks


def create_declared_queues(effective: Effective) -> None:
    """``--create-queues`` for ``qworker run``: create every declared queue or stop with the error."""
    _raise_queue_errors(effective)
    url = effective.options.backend_url or ""
    checks = run_with_backend(url, lambda backend: create_queues(backend, effective.queues))
    for check in checks:
        if not check.ok:
            raise CommandError(f"{check.name}: {check.message}", check.exit_code)


def _raise_queue_errors(effective: Effective) -> None:
    if effective.queue_errors:
        raise ConfigError(f"cannot create queues: {'; '.join(effective.queue_errors.values())}")

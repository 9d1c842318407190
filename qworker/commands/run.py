"""``qworker run``: the worker, for one mapping from options or many from a config file or template.

Three ways to say what to run:

* ``qworker run MODULE:HANDLER --queue NAME [options]``: one mapping, all from the command line;
* ``qworker run --config qworker.toml`` (or ``[tool.qworker]`` in ``pyproject.toml``; found in the
  current directory when nothing else is given): every function the file declares;
* ``qworker run --template template.yaml [--function NAME ...]``: the SQS-triggered functions of
  an AWS SAM template (:mod:`qworker.sam`).

Every option is declared once, in :mod:`qworker.settings.schema`: mapping options are named
after Lambda's fields (``--batch-size`` is ``BatchSize``, ...), each also comes from an
environment variable ``QWORKER_<OPTION>`` (``QWORKER_BATCH_SIZE``, ``QWORKER_QUEUE``, ...), the
handler from ``QWORKER_HANDLER``; options that go beyond Lambda say so in their help.
Precedence: command line > environment > config file > template > defaults; with several
functions, a mapping option given on the command line or in the environment applies to every
selected function (:mod:`qworker.settings.layers` has the rules).
"""

from __future__ import annotations

from typing import Any

import click

from qworker.errors import ExitCode
from qworker.importer import extend_import_path
from qworker.runtime.worker import run_worker
from qworker.settings.cli import given_values, worker_options
from qworker.settings.layers import Effective, resolve


@click.command("run")
@worker_options
def run_command(**_: Any) -> None:
    """Run HANDLER (module:function) on every message of --queue, as Lambda's SQS trigger would;
    or every function of a --config file or a SAM --template.

    \b
    Examples:
      qworker run app:handler --queue orders
      qworker run app:handler --queue orders --batch-size 100 --batch-window 2 --report-batch-item-failures
      qworker run app:handler --queue jobs.fifo --backend redis://localhost:6379/0
      qworker run --config qworker.toml
      qworker run --template template.yaml --function OrdersFunction --create-queues
      qworker run --runtime-command ./bootstrap --queue orders
    """
    import structlog

    from qworker import logs

    ctx = click.get_current_context()
    effective = resolve(given_values(ctx))
    logs.configure(effective.log_format, effective.log_level)  # type: ignore[arg-type]
    log = structlog.get_logger("qworker")
    for warning in effective.warnings:
        log.warning(warning)
    extend_import_path(effective.extra_paths)
    if ctx.params["create_queues"]:
        from qworker.commands.declared_queues import create_declared_queues

        create_declared_queues(effective)
    _log_sources(log, effective)
    code = run_worker(effective.mappings, effective.options)
    if code != ExitCode.OK:
        raise SystemExit(code)


def _log_sources(log: Any, effective: Effective) -> None:
    if effective.config_path is None and effective.template_path is None:
        return
    log.info(
        "configuration loaded",
        config=str(effective.config_path) if effective.config_path else None,
        template=str(effective.template_path) if effective.template_path else None,
        functions=[f.name for f in effective.functions if f.enabled],
        disabled=[f.name for f in effective.functions if not f.enabled] or None,
    )

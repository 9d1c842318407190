"""The ``qworker`` command: a click group that gathers the commands of :mod:`qworker.commands`.

``main`` is the console entry point (``qworker = "qworker.cli:main"``, also ``python -m qworker``).
Every option can come from the environment: ``--backend`` from ``QWORKER_BACKEND`` and ``--queue``
from ``QWORKER_QUEUE`` on every command; any other option from ``QWORKER_<COMMAND>_<OPTION>``
(click's ``auto_envvar_prefix``, e.g. ``QWORKER_SEND_GROUP_ID``; ``--help`` shows each name).
Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error, 3 backend unreachable,
4 handler import failure (:class:`qworker.errors.ExitCode`).

To add a command, write it in its own module under :mod:`qworker.commands` and name it in
:data:`COMMANDS` (it is imported only when used).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any

import click

from qworker import logs as _logs  # noqa: F401  # first: structlog imports without rich (logs.py)
from qworker.commands.common import ENV_PREFIX, QworkerGroup
from qworker.version import __version__

#: command name -> ``module:attribute``, imported only when that command runs (or ``--help``
#: lists them): ``qworker run`` does not pay for the console's, the server's or check's imports
COMMANDS = {
    "run": "qworker.commands.run:run_command",
    "queue": "qworker.commands.queue:queue_group",
    "send": "qworker.commands.send:send_command",
    "redrive": "qworker.commands.redrive:redrive_command",
    "check": "qworker.commands.check:check_command",
    "serve": "qworker.commands.serve:serve_command",
    "console": "qworker.commands.console:console_command",
}


class LazyGroup(QworkerGroup):
    """The top-level group: each command's module is imported when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: Any = getattr(import_module(module), attribute)
        return command


@click.group(
    "qworker",
    cls=LazyGroup,
    context_settings={"auto_envvar_prefix": ENV_PREFIX, "help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
@click.version_option(__version__, "-V", "--version", prog_name="qworker", message="%(prog)s %(version)s")
def cli() -> None:
    """Run AWS-Lambda-style SQS handlers on SQLite, Redis or Amazon SQS, and manage their queues.

    \b
    Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error,
                3 backend unreachable, 4 handler could not be imported.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the ``qworker`` command and exit with its exit code."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="qworker")

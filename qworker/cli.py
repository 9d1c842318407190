"""The ``qworker`` command: a click group that gathers the commands of :mod:`qworker.commands`.

``main`` is the console entry point (``qworker = "qworker.cli:main"``, also ``python -m qworker``).
Every option can come from the environment: ``--backend`` from ``QWORKER_BACKEND`` and ``--queue``
from ``QWORKER_QUEUE`` on every command; any other option from ``QWORKER_<COMMAND>_<OPTION>``
(click's ``auto_envvar_prefix``, e.g. ``QWORKER_SEND_GROUP_ID``; ``--help`` shows each name).
Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error, 3 backend unreachable,
4 handler import failure (:class:`qworker.errors.ExitCode`).

To add a command, write it in its own module under :mod:`qworker.commands` and add it below.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from qworker import __version__
from qworker.commands.check import check_command
from qworker.commands.common import ENV_PREFIX, QworkerGroup
from qworker.commands.console import console_command
from qworker.commands.queue import queue_group
from qworker.commands.redrive import redrive_command
from qworker.commands.run import run_command
from qworker.commands.send import send_command
from qworker.commands.serve import serve_command


@click.group(
    "qworker",
    cls=QworkerGroup,
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


cli.add_command(run_command)
cli.add_command(queue_group)
cli.add_command(send_command)
cli.add_command(redrive_command)
cli.add_command(check_command)
cli.add_command(serve_command)
cli.add_command(console_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the ``qworker`` command and exit with its exit code."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="qworker")

"""``qworker redrive DLQ``: move dead letters back to be processed again (SQS StartMessageMoveTask).

Messages go back to the queue each came from (its ``DeadLetterQueueSourceArn``) or to ``--to``,
as new messages with a receive count of 0 (SPEC ESM-DLQ-6). The command returns once every
message visible in the dead-letter queue when it started has been moved.
"""

from __future__ import annotations

import click

from qworker.backend import Backend, RedriveResult
from qworker.commands.common import CommandError, backend_option, option, run_with_backend
from qworker.errors import ExitCode


@click.command("redrive", short_help="Move dead letters back to be processed again.")
@click.argument("dlq")
@option("--to", metavar="NAME", help="Move to NAME instead of each message's source queue.")
@option(
    "--rate",
    type=click.IntRange(min=1),
    metavar="N",
    help="At most N messages a second (SQS MaxNumberOfMessagesPerSecond, up to 500 on SQS). "
    "[default: as fast as the backend goes]",
)
@backend_option
def redrive_command(dlq: str, to: str | None, rate: int | None, backend_url: str) -> None:
    """Move the messages of dead-letter queue DLQ back; print how many moved."""

    async def redrive(backend: Backend) -> RedriveResult:
        await backend.get_queue(dlq)
        if to is not None:
            await backend.get_queue(to)
        return await backend.redrive(dlq, to, rate)

    result = run_with_backend(backend_url, redrive)
    target = to if to is not None else "their source queues"
    click.echo(f"moved {result.moved} message{'' if result.moved == 1 else 's'} from {dlq} to {target}")
    if result.failed:
        raise CommandError(
            f"{result.failed} message(s) could not be moved and are still in {dlq} (is their source "
            "queue gone? move them with --to NAME).",
            ExitCode.RUNTIME_FAILURE,
        )

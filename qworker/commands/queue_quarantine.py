"""``qworker queue quarantine list / restore / drop NAME``: the messages a backend set aside
because they could not be decoded (RELIABILITY T16)."""

from __future__ import annotations

import click

from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    Backend,
    BatchEntryError,
    QuarantinedMessage,
)
from qworker.commands import quarantine_output
from qworker.commands.common import (
    CommandError,
    QworkerGroup,
    backend_option,
    option,
    run_with_backend,
    stdout_is_terminal,
    usage_error,
)
from qworker.errors import ExitCode


@click.group("quarantine", cls=QworkerGroup, no_args_is_help=True)
def quarantine_group() -> None:
    """List, restore and drop messages set aside because they could not be decoded.

    A message whose stored data the backend cannot decode (a damaged SQLite file, an envelope
    another program wrote into Redis) is set aside in its queue's quarantine, with the reason,
    instead of stopping the worker; the other messages flow. 'qworker queue stats NAME' counts
    them (ApproximateNumberOfMessagesQuarantined). SQLite and Redis have a quarantine; SQS has
    none (it stores no data of qworker's to decode).
    """


@quarantine_group.command("list", short_help="Show quarantined messages, oldest first.")
@click.argument("name")
@option(
    "-n",
    "--max-messages",
    type=click.IntRange(min=1),
    default=DEFAULT_QUARANTINE_LIST,
    show_default=True,
    help="How many to show, oldest first.",
)
@option(
    "--json/--table",
    "as_json",
    default=None,
    envvar="QWORKER_QUEUE_QUARANTINE_LIST_JSON",
    help="JSON lines or a table. [default: a table on a terminal, JSON lines otherwise]",
)
@backend_option
def quarantine_list_command(name: str, max_messages: int, as_json: bool | None, backend_url: str) -> None:
    """Show queue NAME's quarantined messages: id, when, why, and a preview of the raw data.

    The preview is escaped: bytes that are not UTF-8 show as \\xNN and unprintable characters
    (terminal controls included) as \\uNNNN. A message whose stored id is unreadable is named
    #SEQ (SQLite); use that name to restore or drop it.
    """

    async def listing(backend: Backend) -> tuple[list[QuarantinedMessage], int]:
        info = await backend.get_queue(name)
        return await backend.quarantined(name, max_messages), info.counts.quarantined

    entries, total = run_with_backend(backend_url, listing)
    if as_json if as_json is not None else not stdout_is_terminal():
        quarantine_output.print_jsonl(entries)
    else:
        quarantine_output.print_table(name, entries, total)


@quarantine_group.command("restore", short_help="Put quarantined messages back on a queue.")
@click.argument("name")
@click.argument("message_ids", metavar="ID...", nargs=-1, required=True)
@option("--to-dlq", is_flag=True, help="Put them on NAME's dead-letter queue (its RedrivePolicy) instead.")
@option("--to", "to", metavar="QUEUE", help="Put them on QUEUE instead (same type: FIFO or standard).")
@option(
    "--body-only",
    is_flag=True,
    help="Put back the body alone (message attributes and trace header dropped): for a message "
    "whose attributes cannot be decoded.",
)
@backend_option
def quarantine_restore_command(
    name: str, message_ids: tuple[str, ...], to_dlq: bool, to: str | None, body_only: bool, backend_url: str
) -> None:
    """Put quarantined messages of queue NAME back: on NAME, its dead-letter queue or another.

    Each message is decoded again first. One that still cannot be decoded is refused with the
    reason and stays in quarantine; --body-only puts its body back alone when the body can be
    read (a FIFO message also needs a readable group id). A restored message is a new arrival
    with the same message id: receive count 0, retention from now, visible at once, FIFO: at
    the end of its group. On the dead-letter queue it is a dead letter of NAME, so 'qworker
    redrive' brings it back. Prints the ids put back; exits 1 if any could not be.
    """
    if to_dlq and to is not None:
        usage_error("--to-dlq and --to QUEUE both say where to put the messages: give one.")

    async def restore(backend: Backend) -> tuple[str, list[BatchEntryError]]:
        info = await backend.get_queue(name)
        destination = to
        if to_dlq:
            policy = info.spec.redrive_policy
            if policy is None:
                usage_error(f"queue {name} has no dead-letter queue (no RedrivePolicy): use --to QUEUE.")
            destination = policy.dead_letter_queue
        if destination is not None:
            await backend.get_queue(destination)  # a clear "does not exist" on every backend
        failed = await backend.restore_quarantined(name, message_ids, destination, body_only=body_only)
        return destination or name, failed

    target, failed = run_with_backend(backend_url, restore)
    refused = {entry.id for entry in failed}
    restored = [message_id for message_id in dict.fromkeys(message_ids) if message_id not in refused]
    for message_id in restored:
        click.echo(message_id)
    click.echo(f"restored {len(restored)} message(s) to {target}", err=True)
    for entry in failed:
        click.echo(f"error: {entry.id}: {entry.code}: {entry.message}", err=True)
    if failed:
        raise CommandError(
            f"{len(failed)} message(s) could not be restored and stay in the quarantine of {name}.",
            ExitCode.RUNTIME_FAILURE,
        )


@quarantine_group.command("drop", short_help="Delete quarantined messages for good.")
@click.argument("name")
@click.argument("message_ids", metavar="[ID...]", nargs=-1)
@option("--all", "drop_all", is_flag=True, help="Drop every quarantined message of NAME.")
@option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@backend_option
def quarantine_drop_command(
    name: str, message_ids: tuple[str, ...], drop_all: bool, yes: bool, backend_url: str
) -> None:
    """Delete quarantined messages of queue NAME for good: the IDs given, or --all.

    Asks for confirmation unless --yes (a script without a terminal must pass --yes).
    """
    if drop_all == bool(message_ids):
        usage_error("give the IDs of the messages to drop, or --all (not both).")
    if not yes:
        what = "every quarantined message" if drop_all else f"{len(set(message_ids))} quarantined message(s)"
        click.confirm(f"Drop {what} of queue {name} for good?", abort=True, err=True)

    async def drop(backend: Backend) -> int:
        await backend.get_queue(name)
        return await backend.drop_quarantined(name, None if drop_all else message_ids)

    dropped = run_with_backend(backend_url, drop)
    click.echo(f"dropped {dropped} message(s) from the quarantine of {name}", err=True)
    missing = 0 if drop_all else len(set(message_ids)) - dropped
    if missing > 0:
        raise CommandError(
            f"{missing} of the ids given were not in the quarantine of {name} (see 'qworker queue "
            f"quarantine list {name}').",
            ExitCode.RUNTIME_FAILURE,
        )

"""``qworker queue ...``: create, list, inspect, change, tag, peek at, purge and delete queues, and
look after their quarantine (``qworker queue quarantine list|restore|drop NAME``).

Each subcommand is one backend call (SQS CreateQueue, ListQueues, GetQueueAttributes,
SetQueueAttributes, TagQueue, UntagQueue, ListQueueTags, PurgeQueue, DeleteQueue, and qworker's
``peek`` and quarantine calls). Attribute ranges are checked by click before anything is sent, so
``--visibility-timeout 99999`` names the option; the backend checks what needs the queue's
neighbours (a dead-letter queue that does not exist or is of the other type).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from qworker import limits
from qworker.backend import (
    DEFAULT_MAXIMUM_MESSAGE_SIZE,
    DEFAULT_QUARANTINE_LIST,
    DEFAULT_RETENTION_PERIOD,
    DEFAULT_VISIBILITY_TIMEOUT,
    Backend,
    BatchEntryError,
    QuarantinedMessage,
    QueueSpec,
    RedrivePolicy,
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
from qworker.commands.peek_output import print_jsonl, print_table
from qworker.errors import ConfigError, ExitCode

#: the key ``queue stats`` adds for the quarantine: qworker's own, SQS has no such attribute
QUARANTINED_KEY = "ApproximateNumberOfMessagesQuarantined"


def _parse_tags(values: tuple[str, ...], option_name: str = "--tag") -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (a value may be empty: ``KEY=``), checked as SQS checks
    tags (:func:`qworker.limits.check_tags`)."""
    tags: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            usage_error(f"{option_name} {text!r}: expected KEY=VALUE (the value may be empty: KEY=).")
        tags[key] = value
    try:
        limits.check_tags(tags)
    except ConfigError as exc:
        usage_error(f"{option_name}: {exc}")
    return tags


@click.group("queue", cls=QworkerGroup, no_args_is_help=True)
def queue_group() -> None:
    """Create, inspect, empty and delete queues."""


@queue_group.command("create", short_help="Create a queue.")
@click.argument("name")
@option("--fifo", is_flag=True, help="Make a FIFO queue; NAME must end in .fifo.")
@option(
    "--visibility-timeout",
    type=click.FloatRange(0, limits.MAX_VISIBILITY_TIMEOUT),
    metavar="S",
    help=f"Seconds a received message stays hidden (VisibilityTimeout). "
    f"[default: {DEFAULT_VISIBILITY_TIMEOUT}]",
)
@option(
    "--retention",
    type=click.IntRange(limits.MIN_RETENTION_PERIOD, limits.MAX_RETENTION_PERIOD),
    metavar="S",
    help=f"Seconds a message is kept (MessageRetentionPeriod). [default: {DEFAULT_RETENTION_PERIOD}]",
)
@option(
    "--delay",
    type=click.IntRange(0, limits.MAX_DELAY_SECONDS),
    metavar="S",
    help="Seconds before a new message becomes visible (DelaySeconds). [default: 0]",
)
@option(
    "--max-message-size",
    type=click.IntRange(limits.MIN_MESSAGE_SIZE_LIMIT, limits.MAX_MESSAGE_SIZE),
    metavar="B",
    help=f"Largest message in bytes, body plus attributes (MaximumMessageSize). "
    f"[default: {DEFAULT_MAXIMUM_MESSAGE_SIZE}]",
)
@option(
    "--receive-wait",
    type=click.FloatRange(0, limits.MAX_WAIT_TIME_SECONDS),
    metavar="S",
    help="Default long-poll wait of a receive (ReceiveMessageWaitTimeSeconds). [default: 0]",
)
@option("--dlq", metavar="NAME", help="Dead-letter queue (must exist, same type); needs --max-receive-count.")
@option(
    "--max-receive-count",
    type=click.IntRange(1, limits.MAX_RECEIVE_COUNT),
    metavar="N",
    help="Receives after which a message moves to the --dlq (RedrivePolicy maxReceiveCount).",
)
@option(
    "--content-based-dedup",
    is_flag=True,
    help="FIFO: deduplicate by the SHA-256 of the body when no --dedup-id is given.",
)
@option(
    "--dedup-scope",
    type=click.Choice(["queue", "messageGroup"]),
    help="FIFO: deduplicate per queue or per message group (high throughput). [default: queue]",
)
@option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="A tag for the new queue (repeatable; SQS limits: 50 tags, keys 1-128, values 0-256 "
    "characters). An existing queue keeps its tags.",
)
@backend_option
def create_command(
    name: str,
    fifo: bool,
    visibility_timeout: float | None,
    retention: int | None,
    delay: int | None,
    max_message_size: int | None,
    receive_wait: float | None,
    dlq: str | None,
    max_receive_count: int | None,
    content_based_dedup: bool,
    dedup_scope: str | None,
    tags: tuple[str, ...],
    backend_url: str,
) -> None:
    """Create queue NAME (idempotent when it exists with the same attributes); prints NAME."""
    is_fifo = name.endswith(".fifo")
    if fifo and not is_fifo:
        usage_error(f"--fifo: FIFO queue names end in .fifo; name the queue '{name}.fifo'.")
    if not is_fifo and (content_based_dedup or dedup_scope is not None):
        flag = "--content-based-dedup" if content_based_dedup else "--dedup-scope"
        usage_error(f"{flag} is for FIFO queues only: name the queue '{name}.fifo' and add --fifo.")
    if dlq is not None and max_receive_count is None:
        usage_error("--dlq needs --max-receive-count N: how many receives before a message moves there.")
    if max_receive_count is not None and dlq is None:
        usage_error("--max-receive-count needs --dlq NAME: the queue poison messages move to.")
    spec = QueueSpec(
        name=name,
        visibility_timeout=DEFAULT_VISIBILITY_TIMEOUT if visibility_timeout is None else visibility_timeout,
        message_retention_period=DEFAULT_RETENTION_PERIOD if retention is None else retention,
        delay_seconds=delay or 0,
        maximum_message_size=DEFAULT_MAXIMUM_MESSAGE_SIZE if max_message_size is None else max_message_size,
        receive_wait_time_seconds=receive_wait or 0,
        redrive_policy=None if dlq is None else RedrivePolicy(dlq, max_receive_count or 0),
        content_based_deduplication=content_based_dedup,
        deduplication_scope="messageGroup" if dedup_scope == "messageGroup" else "queue",
    )
    limits.validate_queue_spec(spec)
    given_tags = _parse_tags(tags)
    run_with_backend(backend_url, lambda backend: backend.create_queue(spec, given_tags or None))
    click.echo(name)


@queue_group.command("set-attributes", short_help="Change a queue's attributes.")
@click.argument("name")
@option(
    "--visibility-timeout",
    type=click.FloatRange(0, limits.MAX_VISIBILITY_TIMEOUT),
    metavar="S",
    help="Seconds a received message stays hidden (VisibilityTimeout); messages in flight keep theirs.",
)
@option(
    "--retention",
    type=click.IntRange(limits.MIN_RETENTION_PERIOD, limits.MAX_RETENTION_PERIOD),
    metavar="S",
    help="Seconds a message is kept (MessageRetentionPeriod). As on SQS this applies to the messages "
    "already queued too: a shorter period deletes those older than it.",
)
@option(
    "--delay",
    type=click.IntRange(0, limits.MAX_DELAY_SECONDS),
    metavar="S",
    help="Seconds before a message sent from now on becomes visible (DelaySeconds).",
)
@option(
    "--max-message-size",
    type=click.IntRange(limits.MIN_MESSAGE_SIZE_LIMIT, limits.MAX_MESSAGE_SIZE),
    metavar="B",
    help="Largest message in bytes, body plus attributes (MaximumMessageSize).",
)
@option(
    "--receive-wait",
    type=click.FloatRange(0, limits.MAX_WAIT_TIME_SECONDS),
    metavar="S",
    help="Default long-poll wait of a receive (ReceiveMessageWaitTimeSeconds).",
)
@option(
    "--dlq",
    metavar="NAME",
    help="Dead-letter queue (must exist, same type); with --max-receive-count unless the queue has one.",
)
@option(
    "--max-receive-count",
    type=click.IntRange(1, limits.MAX_RECEIVE_COUNT),
    metavar="N",
    help="Receives after which a message moves to the dead-letter queue (RedrivePolicy maxReceiveCount).",
)
@option("--no-dlq", is_flag=True, help="Remove the RedrivePolicy: nothing moves to a dead-letter queue.")
@option(
    "--content-based-dedup/--no-content-based-dedup",
    default=None,
    help="FIFO: deduplicate by the SHA-256 of the body when no --dedup-id is given.",
)
@option(
    "--dedup-scope",
    type=click.Choice(["queue", "messageGroup"]),
    help="FIFO: deduplicate per queue or per message group (high throughput).",
)
@backend_option
def set_attributes_command(
    name: str,
    visibility_timeout: float | None,
    retention: int | None,
    delay: int | None,
    max_message_size: int | None,
    receive_wait: float | None,
    dlq: str | None,
    max_receive_count: int | None,
    no_dlq: bool,
    content_based_dedup: bool | None,
    dedup_scope: str | None,
    backend_url: str,
) -> None:
    """Change attributes of queue NAME (SQS SetQueueAttributes); the others keep their values.

    Every worker and client sees the new values at its next send or receive. Prints each change
    on stderr. The queue type (FIFO or standard) cannot change.
    """
    changes: dict[str, Any] = {
        "visibility_timeout": visibility_timeout,
        "message_retention_period": retention,
        "delay_seconds": delay,
        "maximum_message_size": max_message_size,
        "receive_wait_time_seconds": receive_wait,
        "content_based_deduplication": content_based_dedup,
        "deduplication_scope": dedup_scope,
    }
    changes = {field: value for field, value in changes.items() if value is not None}
    if no_dlq and (dlq is not None or max_receive_count is not None):
        usage_error("--no-dlq removes the dead-letter queue: it cannot go with --dlq or --max-receive-count.")
    if not changes and dlq is None and max_receive_count is None and not no_dlq:
        usage_error("nothing to change: give at least one attribute option (see --help).")
    if not name.endswith(".fifo") and ("content_based_deduplication" in changes or dedup_scope is not None):
        flag = "--dedup-scope" if dedup_scope is not None else "--content-based-dedup"
        usage_error(f"{flag} is for FIFO queues only (names ending in .fifo).")

    async def update(backend: Backend) -> tuple[QueueSpec, QueueSpec]:
        old = (await backend.get_queue(name)).spec
        policy = old.redrive_policy
        if no_dlq:
            policy = None
        elif dlq is not None or max_receive_count is not None:
            count = max_receive_count or (policy.max_receive_count if policy is not None else None)
            target = dlq or (policy.dead_letter_queue if policy is not None else None)
            if count is None:
                usage_error(f"--dlq needs --max-receive-count N: queue {name} has no RedrivePolicy yet.")
            if target is None:
                usage_error(
                    f"--max-receive-count needs --dlq NAME: queue {name} has no dead-letter queue yet."
                )
            policy = RedrivePolicy(target, count)
        new = dataclasses.replace(old, redrive_policy=policy, **changes)
        await backend.set_queue_attributes(name, new)
        return old, new

    old, new = run_with_backend(backend_url, update)
    before, after = old.attributes(), new.attributes()
    changed = [key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]
    for key in changed:
        click.echo(f"{key}: {before.get(key, '(none)')} -> {after.get(key, '(none)')}", err=True)
    if not changed:
        click.echo(f"queue {name}: nothing changed", err=True)


@queue_group.command("tags", short_help="Show a queue's tags (JSON).")
@click.argument("name")
@backend_option
def tags_command(name: str, backend_url: str) -> None:
    """Print the queue's tags as a JSON object (SQS ListQueueTags)."""
    tags = run_with_backend(backend_url, lambda backend: backend.queue_tags(name))
    click.echo(json.dumps(dict(sorted(tags.items())), indent=2))


@queue_group.command("tag", short_help="Add or change tags of a queue.")
@click.argument("name")
@click.argument("tags", nargs=-1, required=True, metavar="KEY=VALUE...")
@backend_option
def tag_command(name: str, tags: tuple[str, ...], backend_url: str) -> None:
    """Add tags to queue NAME, or change the value of tags it has (SQS TagQueue)."""
    given = _parse_tags(tags, "tag")
    run_with_backend(backend_url, lambda backend: backend.tag_queue(name, given))


@queue_group.command("untag", short_help="Remove tags from a queue.")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@backend_option
def untag_command(name: str, keys: tuple[str, ...], backend_url: str) -> None:
    """Remove the tags with these keys from queue NAME (SQS UntagQueue; absent keys are fine)."""
    run_with_backend(backend_url, lambda backend: backend.untag_queue(name, list(keys)))


@queue_group.command("list", short_help="List queue names.")
@option("--prefix", default="", metavar="P", help="Only queues whose name starts with P.")
@backend_option
def list_command(prefix: str, backend_url: str) -> None:
    """Print the queue names, one a line, sorted."""
    for name in run_with_backend(backend_url, lambda backend: backend.list_queues(prefix)):
        click.echo(name)


@queue_group.command("stats", short_help="Show attributes and message counts (JSON).")
@click.argument("name")
@backend_option
def stats_command(name: str, backend_url: str) -> None:
    """Print the queue's attributes and approximate counts as JSON, named as SQS names them.

    ApproximateNumberOfMessages (visible), ...NotVisible (in flight), ...Delayed, plus
    VisibilityTimeout, RedrivePolicy, QueueArn and the rest of GetQueueAttributes(All). On
    backends with a quarantine (SQLite, Redis) also ApproximateNumberOfMessagesQuarantined:
    qworker's own key, not SQS's, the messages set aside because they could not be decoded
    (see 'qworker queue quarantine list').
    """

    async def stats(backend: Backend) -> dict[str, str]:
        info = await backend.get_queue(name)
        attributes = info.attributes()
        if backend.capabilities.quarantine:
            attributes[QUARANTINED_KEY] = str(info.counts.quarantined)
        return attributes

    click.echo(json.dumps(run_with_backend(backend_url, stats), indent=2))


@queue_group.command("purge", short_help="Delete every message of a queue.")
@click.argument("name")
@backend_option
def purge_command(name: str, backend_url: str) -> None:
    """Delete every message of the queue, in flight or not; keep the queue."""

    async def purge(backend: Backend) -> None:
        await backend.get_queue(name)  # a clear "does not exist" on every backend
        await backend.purge_queue(name)

    run_with_backend(backend_url, purge)  # purged < 60 s ago: PurgeQueueInProgress, exit 2
    click.echo(f"purged queue {name}", err=True)


@queue_group.command("delete", short_help="Delete a queue.")
@click.argument("name")
@backend_option
def delete_command(name: str, backend_url: str) -> None:
    """Delete the queue and its messages."""
    run_with_backend(backend_url, lambda backend: backend.delete_queue(name))
    click.echo(f"deleted queue {name}", err=True)


@queue_group.command("peek", short_help="Show messages without receiving them.")
@click.argument("name")
@option(
    "-n",
    "--max-messages",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many messages to show, in queue order.",
)
@option(
    "--json/--table",
    "as_json",
    default=None,
    envvar="QWORKER_QUEUE_PEEK_JSON",
    help="JSON lines or a table. [default: a table on a terminal, JSON lines otherwise]",
)
@backend_option
def peek_command(name: str, max_messages: int, as_json: bool | None, backend_url: str) -> None:
    """Show messages without receiving them: state, receive count, last error.

    Nothing changes: no receive is counted and nothing is hidden. Not every backend can do this
    (Amazon SQS cannot look at a message without receiving it).
    """

    async def peek(backend: Backend) -> tuple[bool, list]:
        info = await backend.get_queue(name)
        return info.spec.fifo, await backend.peek(name, max_messages)

    fifo, messages = run_with_backend(backend_url, peek)
    if as_json if as_json is not None else not stdout_is_terminal():
        print_jsonl(messages)
    else:
        print_table(name, fifo, messages)


# -- quarantine (RELIABILITY T16) -----------------------------------------------------------------


@queue_group.group("quarantine", cls=QworkerGroup, no_args_is_help=True)
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

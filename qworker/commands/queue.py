"""``qworker queue ...``: create, list, inspect, change, tag, peek at, purge and delete queues, and
look after their quarantine (``qworker queue quarantine list|restore|drop NAME``).

Each subcommand is one backend call (SQS CreateQueue, ListQueues, GetQueueAttributes,
SetQueueAttributes, TagQueue, UntagQueue, ListQueueTags, PurgeQueue, DeleteQueue, and qworker's
``peek`` and quarantine calls). Attribute ranges are checked by click before anything is sent, so
``--visibility-timeout 99999`` names the option; the backend checks what needs the queue's
neighbours (a dead-letter queue that does not exist or is of the other type).
"""

from __future__ import annotations

import json

import click

from qworker import limits
from qworker.backend import (
    DEFAULT_MAXIMUM_MESSAGE_SIZE,
    DEFAULT_RETENTION_PERIOD,
    DEFAULT_VISIBILITY_TIMEOUT,
    Backend,
    QueueSpec,
    RedrivePolicy,
)
from qworker.commands.common import (
    QworkerGroup,
    backend_option,
    option,
    run_with_backend,
    stdout_is_terminal,
    usage_error,
)
from qworker.commands.peek_output import print_jsonl, print_table
from qworker.commands.queue_attributes import (
    attribute_option,
    parse_tags,
    set_attributes_command,
    tag_command,
    tags_command,
    untag_command,
)
from qworker.commands.queue_quarantine import quarantine_group

#: the key ``queue stats`` adds for the quarantine: qworker's own, SQS has no such attribute
QUARANTINED_KEY = "ApproximateNumberOfMessagesQuarantined"


@click.group("queue", cls=QworkerGroup, no_args_is_help=True)
def queue_group() -> None:
    """Create, inspect, empty and delete queues."""


@queue_group.command("create", short_help="Create a queue.")
@click.argument("name")
@option("--fifo", is_flag=True, help="Make a FIFO queue; NAME must end in .fifo.")
@attribute_option(
    "--visibility-timeout",
    help=f"Seconds a received message stays hidden (VisibilityTimeout). "
    f"[default: {DEFAULT_VISIBILITY_TIMEOUT}]",
)
@attribute_option(
    "--retention",
    help=f"Seconds a message is kept (MessageRetentionPeriod). [default: {DEFAULT_RETENTION_PERIOD}]",
)
@attribute_option(
    "--delay",
    help="Seconds before a new message becomes visible (DelaySeconds). [default: 0]",
)
@attribute_option(
    "--max-message-size",
    help=f"Largest message in bytes, body plus attributes (MaximumMessageSize). "
    f"[default: {DEFAULT_MAXIMUM_MESSAGE_SIZE}]",
)
@attribute_option(
    "--receive-wait",
    help="Default long-poll wait of a receive (ReceiveMessageWaitTimeSeconds). [default: 0]",
)
@option("--dlq", metavar="NAME", help="Dead-letter queue (must exist, same type); needs --max-receive-count.")
@attribute_option(
    "--max-receive-count",
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
    given_tags = parse_tags(tags)
    run_with_backend(backend_url, lambda backend: backend.create_queue(spec, given_tags or None))
    click.echo(name)


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


queue_group.add_command(set_attributes_command)
queue_group.add_command(tags_command)
queue_group.add_command(tag_command)
queue_group.add_command(untag_command)
queue_group.add_command(quarantine_group)

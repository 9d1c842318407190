"""``qworker queue set-attributes / tags / tag / untag``: change a queue's attributes and tags
(SQS SetQueueAttributes, ListQueueTags, TagQueue, UntagQueue)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from qworker import limits
from qworker.backend import (
    Backend,
    QueueSpec,
    RedrivePolicy,
)
from qworker.commands.common import (
    backend_option,
    option,
    run_with_backend,
    usage_error,
)
from qworker.errors import ConfigError

#: the type and metavar of each queue-attribute option, shared by ``queue create`` and
#: ``queue set-attributes`` (SQS's ranges: :mod:`qworker.limits`)
_ATTRIBUTE_OPTIONS: dict[str, tuple[click.ParamType, str]] = {
    "--visibility-timeout": (click.FloatRange(0, limits.MAX_VISIBILITY_TIMEOUT), "S"),
    "--retention": (click.IntRange(limits.MIN_RETENTION_PERIOD, limits.MAX_RETENTION_PERIOD), "S"),
    "--delay": (click.IntRange(0, limits.MAX_DELAY_SECONDS), "S"),
    "--max-message-size": (click.IntRange(limits.MIN_MESSAGE_SIZE_LIMIT, limits.MAX_MESSAGE_SIZE), "B"),
    "--receive-wait": (click.FloatRange(0, limits.MAX_WAIT_TIME_SECONDS), "S"),
    "--max-receive-count": (click.IntRange(1, limits.MAX_RECEIVE_COUNT), "N"),
}


F = TypeVar("F", bound=Callable[..., Any])


def attribute_option(flag: str, help: str) -> Callable[[F], F]:
    """A queue-attribute option with SQS's range for it; each command words its own help."""
    kind, metavar = _ATTRIBUTE_OPTIONS[flag]
    return option(flag, type=kind, metavar=metavar, help=help)


def parse_tags(values: tuple[str, ...], option_name: str = "--tag") -> dict[str, str]:
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


def _new_redrive_policy(
    name: str, policy: RedrivePolicy | None, dlq: str | None, max_receive_count: int | None
) -> RedrivePolicy | None:
    """The queue's RedrivePolicy after --dlq and/or --max-receive-count (the one not given keeps
    the queue's value; a queue without a policy needs both)."""
    if dlq is None and max_receive_count is None:
        return policy
    count = max_receive_count or (policy.max_receive_count if policy is not None else None)
    target = dlq or (policy.dead_letter_queue if policy is not None else None)
    if count is None:
        usage_error(f"--dlq needs --max-receive-count N: queue {name} has no RedrivePolicy yet.")
    if target is None:
        usage_error(f"--max-receive-count needs --dlq NAME: queue {name} has no dead-letter queue yet.")
    return RedrivePolicy(target, count)


@click.command("set-attributes", short_help="Change a queue's attributes.")
@click.argument("name")
@attribute_option(
    "--visibility-timeout",
    help="Seconds a received message stays hidden (VisibilityTimeout); messages in flight keep theirs.",
)
@attribute_option(
    "--retention",
    help="Seconds a message is kept (MessageRetentionPeriod). As on SQS this applies to the messages "
    "already queued too: a shorter period deletes those older than it.",
)
@attribute_option(
    "--delay",
    help="Seconds before a message sent from now on becomes visible (DelaySeconds).",
)
@attribute_option(
    "--max-message-size",
    help="Largest message in bytes, body plus attributes (MaximumMessageSize).",
)
@attribute_option(
    "--receive-wait",
    help="Default long-poll wait of a receive (ReceiveMessageWaitTimeSeconds).",
)
@option(
    "--dlq",
    metavar="NAME",
    help="Dead-letter queue (must exist, same type); with --max-receive-count unless the queue has one.",
)
@attribute_option(
    "--max-receive-count",
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
        policy = None if no_dlq else _new_redrive_policy(name, old.redrive_policy, dlq, max_receive_count)
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


@click.command("tags", short_help="Show a queue's tags (JSON).")
@click.argument("name")
@backend_option
def tags_command(name: str, backend_url: str) -> None:
    """Print the queue's tags as a JSON object (SQS ListQueueTags)."""
    tags = run_with_backend(backend_url, lambda backend: backend.queue_tags(name))
    click.echo(json.dumps(dict(sorted(tags.items())), indent=2))


@click.command("tag", short_help="Add or change tags of a queue.")
@click.argument("name")
@click.argument("tags", nargs=-1, required=True, metavar="KEY=VALUE...")
@backend_option
def tag_command(name: str, tags: tuple[str, ...], backend_url: str) -> None:
    """Add tags to queue NAME, or change the value of tags it has (SQS TagQueue)."""
    given = parse_tags(tags, "tag")
    run_with_backend(backend_url, lambda backend: backend.tag_queue(name, given))


@click.command("untag", short_help="Remove tags from a queue.")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@backend_option
def untag_command(name: str, keys: tuple[str, ...], backend_url: str) -> None:
    """Remove the tags with these keys from queue NAME (SQS UntagQueue; absent keys are fine)."""
    run_with_backend(backend_url, lambda backend: backend.untag_queue(name, list(keys)))

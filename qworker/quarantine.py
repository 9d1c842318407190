"""What every backend's quarantine shares (RELIABILITY T16): the rules of a restore.

A backend with ``capabilities.quarantine`` sets aside the stored messages it cannot decode
(:meth:`qworker.backend.Backend.quarantined`). To restore one it decodes what it kept into a
:class:`Readable`; :func:`plan_restore` then decides, the same way on every backend, whether and
how the message goes back (:meth:`qworker.backend.Backend.restore_quarantined`):

* a message that still cannot be decoded is refused (``MessageUndecodable``, with the reason)
  and stays in quarantine, unless the caller asked for its body alone (``body_only``);
* a restored message is a new arrival with the same message id (a new one only when the stored
  id is unreadable and ``body_only`` was asked), body, message attributes, group and
  deduplication ids and trace header; it must pass the destination's send checks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from qworker.backend import (
    QUARANTINE_UNDECODABLE,
    BatchEntryError,
    MessageAttributeValue,
    QueueSpec,
    SendEntry,
)
from qworker.errors import InvalidParameterValue
from qworker.limits import check_send_entry


@dataclass(frozen=True, slots=True)
class Readable:
    """What a backend could decode of a quarantined message."""

    #: why the message as a whole still cannot be decoded (``None``: all of it decodes)
    problem: str | None
    body: str | None  #: ``None``: unreadable
    message_id: str | None = None  #: ``None``: unreadable
    #: ``None``: unreadable (an empty dict: the message has none)
    attributes: dict[str, MessageAttributeValue] | None = field(default_factory=dict)
    group_id: str | None = None
    dedup_id: str | None = None
    trace_header: str | None = None
    #: the queue the message had been dead-lettered from (a name), if any
    dead_letter_source: str | None = None


@dataclass(frozen=True, slots=True)
class Restore:
    """How one quarantined message goes back."""

    message_id: str
    entry: SendEntry  #: body, attributes, group, deduplication id and trace header to enqueue
    dead_letter_source: str | None  #: the ``DeadLetterQueueSourceArn`` queue name to give it


def check_destination(source: QueueSpec, target: QueueSpec) -> None:
    """Raise ``InvalidParameterValue`` unless ``target`` can take ``source``'s messages."""
    if source.fifo != target.fifo:
        raise InvalidParameterValue(
            f"Cannot restore messages of {'a FIFO' if source.fifo else 'a standard'} queue to "
            f"{target.name!r}: source and destination must both be FIFO or both standard."
        )


def plan_restore(
    source: QueueSpec, target: QueueSpec, key: str, readable: Readable, body_only: bool
) -> Restore | BatchEntryError:
    """Decide how the quarantined message named ``key`` goes from ``source``'s quarantine to
    ``target``, or why it cannot (the failure names it by ``key``; it then stays)."""
    if readable.problem is not None and not body_only:
        hint = (
            " Put its body back alone (body_only=True; the command line's --body-only), or drop it."
            if readable.body is not None
            else " Its body cannot be read either: nothing can be put back; drop it."
        )
        return BatchEntryError(
            key,
            QUARANTINE_UNDECODABLE,
            f"The message still cannot be decoded ({readable.problem}), so it stays in quarantine.{hint}",
        )
    if readable.body is None:
        return BatchEntryError(
            key,
            QUARANTINE_UNDECODABLE,
            f"The message's body cannot be decoded ({readable.problem}): nothing can be put back; drop it.",
        )
    if target.fifo and readable.group_id is None:
        return BatchEntryError(
            key,
            QUARANTINE_UNDECODABLE,
            f"The message's group id cannot be decoded ({readable.problem}) and a FIFO queue needs "
            "one: it stays in quarantine; drop it.",
        )
    message_id = readable.message_id or str(uuid.uuid4())
    attributes = {} if body_only or readable.attributes is None else readable.attributes
    trace = None if body_only else readable.trace_header
    dedup = (readable.dedup_id or message_id) if target.fifo else None
    if target.name == source.name:
        dead_letter_source = readable.dead_letter_source
    elif source.redrive_policy is not None and source.redrive_policy.dead_letter_queue == target.name:
        dead_letter_source = source.name  # a dead letter of its queue: a redrive brings it back
    else:
        dead_letter_source = None
    entry = SendEntry(
        readable.body,
        id=message_id,
        message_attributes=attributes,
        message_group_id=readable.group_id,
        message_deduplication_id=dedup,
        trace_header=trace,
    )
    error = check_send_entry(entry, key, target)
    if error is not None:
        return BatchEntryError(key, error.code, f"{error.message} The message stays in quarantine.")
    return Restore(message_id, entry, dead_letter_source)

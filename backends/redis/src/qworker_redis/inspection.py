"""An operator's view of a queue: peek (changes nothing), the last failure recorded with each
message, and delete by message id (the console's Delete of a peeked message)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qworker import arn
from qworker.backend import FailureNote, PeekedMessage, system_attributes
from qworker_redis import codec
from qworker_redis.core import Core
from qworker_redis.queues import QueueRef

#: longest failure text kept with a message
MAX_ERROR_TEXT = 4096
_PEEK_STATES = {b"i": "in_flight", b"d": "delayed", b"v": "visible"}


async def peek(core: Core, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
    """Messages in enqueue order, without receiving them (no receive is counted)."""
    ref, reply = await core.run("peek", queue, lambda r: (r.inc, core.offset_ms(), max_messages))
    return [_peeked(ref, reply[i : i + 6]) for i in range(1, len(reply), 6)]


def _peeked(ref: QueueRef, item: list[Any]) -> PeekedMessage:
    """One message of the peek script's reply: id, envelope, state, last error, where, visible at."""
    raw_id, raw_envelope, raw_state, raw_error, where, at = item
    message_id = raw_id.decode()
    envelope = codec.decode(raw_envelope or None)
    _, count, first, _, _, src, _ = (raw_state.decode().split("|", 6) + [""] * 7)[:7]
    last_error = raw_error.decode("utf-8", "replace") or None
    if type(envelope) is str:
        body, attributes, message_attributes = "", {}, {}
        last_error = f"corrupt envelope ({envelope}); it will be quarantined when received"
        visible_at = at
    else:
        body, message_attributes = envelope.body, envelope.attributes
        attributes = system_attributes(
            receive_count=int(count or 0),
            sent_ms=int(envelope.sent_ms),
            first_receive_ms=int(first or 0),
            sender_id=arn.account_id(),
            sequence_number=envelope.sequence_number,
            group_id=envelope.group_id if ref.fifo else None,
            dedup_id=(message_id if src else envelope.dedup_id) if ref.fifo else None,
            trace_header=envelope.trace_header,
            dead_letter_source_arn=arn.queue_arn(src) if src else None,
        )
        visible_at = at or int(envelope.sent_ms)
    return PeekedMessage(
        message_id=message_id,
        body=body,
        attributes=attributes,
        message_attributes=message_attributes,
        state=_PEEK_STATES[where],  # type: ignore[arg-type]
        visible_at=visible_at,
        last_error=last_error,
    )


async def record_failures(core: Core, queue: str, notes: Sequence[FailureNote]) -> None:
    """Keep each note's error text with its message while the receipt handle is current."""
    args: list[Any] = []
    for note in notes:
        args += (note.receipt_handle, note.error[:MAX_ERROR_TEXT])
    if args:
        await core.run("record_failures", queue, lambda r: (r.inc, *args))


async def delete_by_id(core: Core, queue: str, message_ids: Sequence[str]) -> list[str]:
    """Delete messages by id whatever their state; the ids that were there."""
    if not message_ids:
        await core.ref(queue)  # QueueDoesNotExist all the same
        return []
    _, reply = await core.run("delete_by_id", queue, lambda r: (r.inc, *message_ids))
    return [item.decode() for item in reply[1:]]

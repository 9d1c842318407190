"""SQS's rules on one queue's list of messages: which ones a receive may take, which message a
receipt handle holds, and the system attributes a message shows. Plain functions on plain data,
so each rule reads on its own."""

from __future__ import annotations

from qworker import arn
from qworker.backend import BatchEntryError, system_attributes

from qworker_jsondir.files import Message, Queue

_STALE = "The message was received again since this receipt handle was issued."


def candidates(q: Queue, now: int) -> list[Message]:
    """The messages a receive may return now, in order. Standard: every visible one, those
    visible longest first. FIFO (SQS-F-2): per group in send order, none of a group while any
    of it is in flight, a delayed message stopping its group; groups by oldest head."""
    if not q.spec.fifo:
        return sorted((m for m in q.messages if not m.hidden(now)), key=lambda m: m.visible_at_ms)
    groups: dict[str | None, list[Message]] = {}
    for message in q.messages:
        groups.setdefault(message.group_id, []).append(message)
    ready: list[Message] = []
    for members in groups.values():
        if any(m.in_flight(now) for m in members):
            continue
        for message in members:
            if message.hidden(now):  # delayed: the rest of the group waits behind it
                break
            ready.append(message)
    return ready


def holder(q: Queue, handle: str) -> Message | BatchEntryError | None:
    """The message ``handle`` holds now; an error entry for a malformed, foreign or stale handle;
    None when the message is gone."""
    incarnation, _, rest = handle.partition(":")
    message_id, _, token = rest.partition(":")
    if incarnation != q.incarnation or not token:
        return BatchEntryError(handle, "ReceiptHandleIsInvalid", "The receipt handle is not valid.")
    message = next((m for m in q.messages if m.message_id == message_id), None)
    if message is not None and message.token != token:
        return BatchEntryError(handle, "ReceiptHandleIsStale", _STALE)
    return message


def shown_attributes(m: Message) -> dict[str, str]:
    return system_attributes(
        receive_count=m.receive_count,
        sent_ms=m.sent_ms,
        first_receive_ms=m.first_receive_ms or 0,
        sender_id=arn.account_id(),
        sequence_number=m.sequence_number,
        group_id=m.group_id,
        dedup_id=m.dedup_id,
        trace_header=m.trace_header,
        dead_letter_source_arn=m.dead_letter_source_arn,
    )

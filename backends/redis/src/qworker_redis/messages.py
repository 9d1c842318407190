"""Receive replies into :class:`~qworker.backend.ReceivedMessage` objects: the receive hot path.

A message's system attributes are built in Lambda's order (SPEC EVT-4), the order of
:data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER`, so the runtime copies them without reordering.
They are built here by three small builders whose dict displays spell the names out (the
fastest way CPython builds a dict; ``dict(zip(names, values))`` costs three times as much),
and the builders are checked against that one definition when this module is imported
(:func:`_check_order`, which also compares them with :func:`qworker.backend.system_attributes`):
a builder that drifted from it fails the import, not a record.
"""

from __future__ import annotations

from typing import Any

from qworker import arn
from qworker.backend import ReceivedMessage, system_attributes
from qworker.events import SYSTEM_ATTRIBUTE_ORDER
from qworker_redis import codec
from qworker_redis.queues import QueueRef


def standard_attributes(count: str, sent_ms: str, sender: str, first_ms: str) -> dict[str, str]:
    """A standard queue's message: no dead-letter source, no trace header (the common case)."""
    return {
        "ApproximateReceiveCount": count,
        "SentTimestamp": sent_ms,
        "SenderId": sender,
        "ApproximateFirstReceiveTimestamp": first_ms,
    }


def fifo_attributes(
    count: str,
    sent_ms: str,
    sequence: str | None,
    group_id: str | None,
    sender: str,
    dedup_id: str | None,
    first_ms: str,
) -> dict[str, Any]:
    """A FIFO queue's message: no dead-letter source, no trace header (a FIFO queue's envelope
    always has the three FIFO fields)."""
    return {
        "ApproximateReceiveCount": count,
        "SentTimestamp": sent_ms,
        "SequenceNumber": sequence,
        "MessageGroupId": group_id,
        "SenderId": sender,
        "MessageDeduplicationId": dedup_id,
        "ApproximateFirstReceiveTimestamp": first_ms,
    }


def any_attributes(
    source: str | None,
    count: str,
    trace: str | None,
    sent_ms: str,
    fifo: tuple[str | None, str | None, str | None] | None,
    sender: str,
    first_ms: str,
) -> dict[str, Any]:
    """Any message (``fifo``: sequence number, group id, dedup id of a FIFO queue's message)."""
    attrs: dict[str, Any] = {}
    if source is not None:
        attrs["DeadLetterQueueSourceArn"] = source
    attrs["ApproximateReceiveCount"] = count
    if trace is not None:
        attrs["AWSTraceHeader"] = trace
    attrs["SentTimestamp"] = sent_ms
    if fifo is not None:
        attrs["SequenceNumber"] = fifo[0]
        attrs["MessageGroupId"] = fifo[1]
    attrs["SenderId"] = sender
    if fifo is not None:
        attrs["MessageDeduplicationId"] = fifo[2]
    attrs["ApproximateFirstReceiveTimestamp"] = first_ms
    return attrs


def _check_order() -> None:
    """Every builder, on every branch, gives exactly what :func:`qworker.backend.system_attributes`
    gives, in :data:`~qworker.events.SYSTEM_ATTRIBUTE_ORDER`."""
    built = [
        (standard_attributes("2", "10", "S", "11"), {}),
        (fifo_attributes("2", "10", "7", "g", "S", "d", "11"), {"fifo": True}),
    ]
    for source in (None, "arn:src"):
        for trace in (None, "Root=1"):
            for fifo in (None, ("7", "g", "d")):
                attrs = any_attributes(source, "2", trace, "10", fifo, "S", "11")
                built.append((attrs, {"source": source, "trace": trace, "fifo": fifo is not None}))
    for attrs, case in built:
        fifo = bool(case.get("fifo"))
        reference = system_attributes(
            receive_count=2,
            sent_ms=10,
            first_receive_ms=11,
            sender_id="S",
            sequence_number="7" if fifo else None,
            group_id="g" if fifo else None,
            dedup_id="d" if fifo else None,
            trace_header=case.get("trace"),
            dead_letter_source_arn=case.get("source"),
        )
        ranked = [name for name in SYSTEM_ATTRIBUTE_ORDER if name in attrs]
        if list(attrs.items()) != list(reference.items()) or list(attrs) != ranked:
            raise ImportError(f"qworker_redis.messages: attributes out of Lambda's order: {list(attrs)}")


_check_order()


def decode_reply(
    ref: QueueRef, reply: list[Any], token: str
) -> tuple[list[ReceivedMessage], list[tuple[str, str]]]:
    """The messages of a receive script's reply, and (message id, reason) of those that do not
    decode (for the quarantine). A couple of microseconds a message: names are hoisted into
    locals and the reply is read five items at a time."""
    out: list[ReceivedMessage] = []
    corrupt: list[tuple[str, str]] = []
    fifo = ref.fifo
    sender = arn.account_id()
    decode = codec.decode_fields
    message = ReceivedMessage
    standard, fifo_only = standard_attributes, fifo_attributes
    handle_prefix, handle_suffix = f"{ref.inc}:", f":{token}"  # receipt handle around the id
    source_arns: dict[bytes, str] = {}  # a dead-letter queue's batch has few source queues
    items = iter(reply[2:])  # two header items, then five per message: taken five at a time
    for raw_id, data, count, first_ms, src in zip(items, items, items, items, items, strict=False):
        message_id = raw_id.decode()
        fields = decode(data)
        if type(fields) is str:
            corrupt.append((message_id, fields))
            continue
        body, attributes, md5_of_body, md5_of_attributes, group_id, dedup_id, trace, sent_ms, sequence = (
            fields
        )
        if src or trace is not None:
            source = None
            if src:
                source = source_arns.get(src)
                if source is None:
                    source = source_arns[src] = arn.queue_arn(src.decode())
            # a FIFO dead-letter queue's messages take their message id as dedup id
            group = (sequence, group_id, message_id if src else dedup_id) if fifo else None
            attrs = any_attributes(source, str(count), trace, sent_ms, group, sender, first_ms.decode())
        elif fifo:
            attrs = fifo_only(str(count), sent_ms, sequence, group_id, sender, dedup_id, first_ms.decode())
        else:
            attrs = standard(str(count), sent_ms, sender, first_ms.decode())
        out.append(
            message(
                message_id,
                f"{handle_prefix}{message_id}{handle_suffix}",
                body,
                md5_of_body,
                attrs,
                attributes,
                md5_of_attributes,
            )
        )
    return out, corrupt

"""Receive replies into :class:`~qworker.backend.ReceivedMessage` objects: the receive hot path.

A message's system attributes are built in Lambda's order (SPEC EVT-4), the order of
:data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER`, so the runtime copies them without reordering.
:func:`decode_reply` spells the names out in dict displays inside its loop: the fastest way
CPython builds a dict (a builder function costs a call per message, ``dict(zip(names, values))``
three times as much). So that those spelled-out names cannot drift from the one definition,
this module runs :func:`decode_reply` when it is imported, on a reply with a message for every
branch (standard or FIFO, with or without a dead-letter source and a trace header), and compares
what it built with :func:`qworker.backend.system_attributes` and with the definition's order
(:func:`_check_order`): a drift fails the import, not a record.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgpack

from qworker import arn
from qworker.backend import QueueSpec, ReceivedMessage, system_attributes
from qworker.events import SYSTEM_ATTRIBUTE_ORDER
from qworker_redis import codec
from qworker_redis.queues import QueueRef


def decode_reply(
    ref: QueueRef, reply: list[Any], token: str
) -> tuple[list[ReceivedMessage], list[tuple[str, str]]]:
    """The messages of a receive script's reply, and (message id, reason) of those that do not
    decode (for the quarantine). A couple of microseconds a message: names are hoisted into
    locals, the reply is read five items at a time, and the common cases (no dead-letter source,
    no trace header) build their attributes in one dict display."""
    out: list[ReceivedMessage] = []
    corrupt: list[tuple[str, str]] = []
    fifo = ref.fifo
    sender = arn.account_id()
    decode = codec.decode_fields
    message = ReceivedMessage
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
        # Lambda's order (checked against SYSTEM_ATTRIBUTE_ORDER at import); every branch keeps it
        if src or trace is not None or (group_id is not None and not fifo):
            # the rare cases: a dead letter, a traced message, a group on a standard queue
            source = source_arns.get(src) if src else None
            if src and source is None:
                source = source_arns[src] = arn.queue_arn(src.decode())
            # a FIFO dead-letter queue's messages take their message id as dedup id; a standard
            # queue's message keeps the group it was sent with (SQS's fair queues)
            fifo_fields = (
                (sequence, group_id, message_id if src else dedup_id) if fifo else (None, group_id, None)
            )
            attrs = _any_attributes(
                source, str(count), trace, sent_ms, fifo_fields, sender, first_ms.decode()
            )
        elif fifo:
            attrs = {
                "ApproximateReceiveCount": str(count),
                "SentTimestamp": sent_ms,
                "SequenceNumber": sequence,
                "MessageGroupId": group_id,
                "SenderId": sender,
                "MessageDeduplicationId": dedup_id,
                "ApproximateFirstReceiveTimestamp": first_ms.decode(),
            }
        else:
            attrs = {
                "ApproximateReceiveCount": str(count),
                "SentTimestamp": sent_ms,
                "SenderId": sender,
                "ApproximateFirstReceiveTimestamp": first_ms.decode(),
            }
        handle = f"{handle_prefix}{message_id}{handle_suffix}"
        out.append(message(message_id, handle, body, md5_of_body, attrs, attributes, md5_of_attributes))
    return out, corrupt


def _any_attributes(
    source: str | None,
    count: str,
    trace: str | None,
    sent_ms: str,
    fifo: tuple[str | None, str | None, str | None],
    sender: str,
    first_ms: str,
) -> dict[str, Any]:
    """Any message's attributes (``fifo``: its sequence number, group id and deduplication id,
    each None when it has none), for the cases :func:`decode_reply` does not build inline."""
    sequence, group, dedup = fifo
    attrs: dict[str, Any] = {}
    if source is not None:
        attrs["DeadLetterQueueSourceArn"] = source
    attrs["ApproximateReceiveCount"] = count
    if trace is not None:
        attrs["AWSTraceHeader"] = trace
    attrs["SentTimestamp"] = sent_ms
    if sequence is not None:
        attrs["SequenceNumber"] = sequence
    if group is not None:
        attrs["MessageGroupId"] = group
    attrs["SenderId"] = sender
    if dedup is not None:
        attrs["MessageDeduplicationId"] = dedup
    attrs["ApproximateFirstReceiveTimestamp"] = first_ms
    return attrs


def _check_order() -> None:
    """Run :func:`decode_reply` on every branch; raise ImportError unless each message's
    attributes are exactly :func:`~qworker.backend.system_attributes`', in the definition's order."""
    for fifo in (False, True):
        name = "order-check.fifo" if fifo else "order-check"
        ref = QueueRef.build(QueueSpec(name), name, "1", "check")
        reply: list[Any] = [1, -1]
        groups = ("g",) if fifo else (None, "g")  # a standard queue's message may have a group
        cases = list(itertools.product((b"", b"source-queue"), (None, "Root=1-5759e988"), groups))
        for index, (src, trace, group) in enumerate(cases):
            dedup, sequence = ("d", "7") if fifo else (None, None)
            envelope = [1, "body", None, "0" * 32, None, group, dedup, trace, "10", sequence]
            reply += [f"{index:036d}".encode(), msgpack.packb(envelope), 2, b"11", src]
        messages, corrupt = decode_reply(ref, reply, "0" * 16)
        for message, (src, trace, group) in zip(messages, cases, strict=True):
            expected = system_attributes(
                receive_count=2,
                sent_ms=10,
                first_receive_ms=11,
                sender_id=arn.account_id(),
                sequence_number="7" if fifo else None,
                group_id=group,
                dedup_id=(message.message_id if src else "d") if fifo else None,
                trace_header=trace,
                dead_letter_source_arn=arn.queue_arn(src.decode()) if src else None,
            )
            built = message.attributes
            ranked = [name for name in SYSTEM_ATTRIBUTE_ORDER if name in built]
            if corrupt or list(built.items()) != list(expected.items()) or list(built) != ranked:
                raise ImportError(f"qworker_redis.messages: attributes out of Lambda's order: {list(built)}")


_check_order()

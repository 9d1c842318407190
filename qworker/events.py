"""Lambda SQS event records, built exactly as Lambda's event source mapping emits them.

A handler written for Lambda reads ``event["Records"]`` (SPEC EVT-1..8). This module turns a
:class:`~qworker.backend.ReceivedMessage` into such a record, and measures the serialized size of
an event so the batcher can cut batches at Lambda's 6 MB invocation payload quota (ESM-B-4).

The record is built in two steps so filtering never pays for a dict built twice (FLT-5: filter
patterns see the record *before* ``eventSource``, ``eventSourceARN`` and ``awsRegion`` exist)::

    view = filter_view(message)          # messageId .. md5OfBody, what FilterCriteria match
    if matches(view):
        record = complete_record(view, arn, region)   # same dict, 3 keys appended in place

``build_record`` does both at once for callers that do not filter.

Shape decisions, with the evidence behind each (the newest real-AWS evidence wins, as SPEC §0
says):

* Record keys come in EVT-2 order. ``md5OfMessageAttributes`` is always present and ``null`` when
  the message has no attributes (EVT-6; AWS has also been seen omitting the key on some mappings,
  and Powertools' parser accepts both).
* ``attributes`` (system attributes, all strings, EVT-4) and ``messageAttributes`` come in the
  order Lambda's poller emits them: the iteration order of a Java ``HashMap`` with 16 buckets.
  That order reproduces every key order recorded from real AWS: the standard and FIFO examples of
  the Lambda guide, a real dead-letter-queue event (``DeadLetterQueueSourceArn,
  ApproximateReceiveCount, AWSTraceHeader, SentTimestamp, SenderId,
  ApproximateFirstReceiveTimestamp``), LocalStack's AWS snapshot of ``Title, Author, WeeksOn``
  sent and ``WeeksOn, Author, Title`` received, and a 2024 event with ``X-Symfony-Messenger,
  type, Content-Type``. Message attributes are inserted in name order (as SQS returns them),
  system attributes in SQS's response order. Order has no meaning in JSON; it is reproduced so
  that logged or snapshot-tested events look exactly like Lambda's.
* A message attribute value is ``{"stringValue", "binaryValue", "stringListValues",
  "binaryListValues", "dataType"}`` with the unused value ``null`` and both list values ``[]``:
  real events from 2024 and 2025 carry ``"binaryValue": null`` on String attributes
  (aws-powertools/powertools-lambda-typescript#3398 and #4436), where LocalStack's 2023 snapshot
  omitted the null. ``binaryValue`` is base64 text.
"""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any

from qworker.backend import MessageAttributeValue, ReceivedMessage

#: ``eventSource`` of every SQS record (EVT-7).
EVENT_SOURCE = "aws:sqs"

#: Lambda's synchronous invocation payload quota, 6 MB, as bytes of the event's JSON (ESM-B-4).
MAX_EVENT_BYTES = 6_291_456

#: System attribute names in the order Lambda emits them (Java ``HashMap`` order, 16 buckets, with
#: ``ApproximateReceiveCount`` ahead of ``AWSTraceHeader`` in their shared bucket, as SQS returns
#: them). ``tests/test_events.py`` recomputes this from the Java hash.
SYSTEM_ATTRIBUTE_ORDER: tuple[str, ...] = (
    "DeadLetterQueueSourceArn",
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
)


def _compact_encoder() -> Callable[[object], str]:
    """JSON with compact separators and raw UTF-8: how a JSON serializer that is not Python's
    default writes (Lambda's service side is Java). Every size this module reports uses it."""
    python_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    if c_make_encoder is None:  # pragma: no cover - interpreters without the C accelerator
        return python_encoder.encode
    # The same encoding without building an encoder per call (saves ~1 us per record).
    iterencode = c_make_encoder(
        None, python_encoder.default, c_encode_basestring, None, ":", ",", False, False, True
    )

    def encode(obj: object) -> str:
        return "".join(iterencode(obj, 0))

    return encode


_encode = _compact_encoder()

#: ``len('{"Records":[]}')``: the bytes of an event before any record is added.
EMPTY_EVENT_BYTES = len(_encode({"Records": []}))


def filter_view(message: ReceivedMessage) -> dict[str, Any]:
    """The record without ``eventSource``, ``eventSourceARN`` and ``awsRegion`` (FLT-5).

    This is what filter patterns are matched against. Keys are in EVT-2 order, so
    :func:`complete_record` only has to append the last three. Both attribute dicts are new
    (shallow) dicts: a handler that edits its record cannot change the :class:`ReceivedMessage`
    the runtime keeps (receive counts, FIFO group ids).
    """
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": system_attributes(message.attributes),
        "messageAttributes": message_attributes(message.message_attributes),
        "md5OfMessageAttributes": message.md5_of_message_attributes,
        "md5OfBody": message.md5_of_body,
    }


def complete_record(view: dict[str, Any], event_source_arn: str, aws_region: str) -> dict[str, Any]:
    """Turn a :func:`filter_view` dict into the full record, in place, and return it."""
    view["eventSource"] = EVENT_SOURCE
    view["eventSourceARN"] = event_source_arn
    view["awsRegion"] = aws_region
    return view


def build_record(message: ReceivedMessage, event_source_arn: str, aws_region: str) -> dict[str, Any]:
    """The record Lambda would put in ``event["Records"]`` for this message (EVT-2..8)."""
    return complete_record(filter_view(message), event_source_arn, aws_region)


def build_event(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The invocation event: exactly ``{"Records": [...]}`` (EVT-1), records in receive order."""
    return {"Records": records}


def system_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """A copy of the system attributes in Lambda's key order; unknown names keep their order, last."""
    if _in_lambda_order(tuple(attributes)):  # qworker's backends build them in this order
        return dict(attributes)
    ordered = {name: attributes[name] for name in SYSTEM_ATTRIBUTE_ORDER if name in attributes}
    if len(ordered) != len(attributes):
        for name, value in attributes.items():
            if name not in ordered:
                ordered[name] = value
    return ordered


@lru_cache(maxsize=256)
def _in_lambda_order(names: tuple[str, ...]) -> bool:
    ranks = [SYSTEM_ATTRIBUTE_ORDER.index(n) if n in SYSTEM_ATTRIBUTE_ORDER else -1 for n in names]
    return -1 not in ranks and ranks == sorted(ranks)


def message_attributes(attributes: Mapping[str, MessageAttributeValue]) -> dict[str, dict[str, Any]]:
    """Message attributes as record values (EVT-5), in Lambda's key order; ``{}`` when none."""
    if not attributes:
        return {}
    names = attributes if len(attributes) == 1 else _attribute_order(tuple(attributes))
    return {name: attribute_value(attributes[name]) for name in names}


@lru_cache(maxsize=1024)
def _attribute_order(names: tuple[str, ...]) -> tuple[str, ...]:
    # SQS returns message attributes sorted by name; Lambda's HashMap then reorders them. Names
    # are ASCII (SQS-L-5), so Python's sort is Java's String order.
    return tuple(java_hashmap_order(sorted(names)))


def attribute_value(value: MessageAttributeValue) -> dict[str, Any]:
    """One message attribute as Lambda emits it (EVT-5): fresh lists, the unused value ``null``."""
    binary = value.binary_value
    return {
        "stringValue": value.string_value if binary is None else None,
        "binaryValue": None if binary is None else b64encode(binary).decode("ascii"),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.data_type,
    }


def java_hashmap_order(names: Sequence[str]) -> list[str]:
    """``names`` (given in insertion order) in the iteration order of a Java ``HashMap``.

    A ``HashMap`` iterates bucket by bucket; entries of one bucket keep their insertion order.
    The bucket of a key is ``(h ^ (h >>> 16)) & (capacity - 1)`` where ``h`` is Java's
    ``String.hashCode``; capacity starts at 16 and doubles whenever the map holds more than
    three quarters of it. Lambda's SQS poller builds its attribute maps this way (see the module
    docstring for the evidence).
    """
    capacity = 16
    while len(names) > capacity * 3 // 4:
        capacity *= 2
    mask = capacity - 1
    # sorted() is stable: names sharing a bucket keep their insertion order.
    return sorted(names, key=lambda name: _spread_hash(name) & mask)


@lru_cache(maxsize=4096)
def _spread_hash(name: str) -> int:
    """Java's ``HashMap.hash(name)``: ``String.hashCode`` with its high bits folded in."""
    h = 0
    data = name.encode("utf-16-be")  # String.hashCode runs over UTF-16 code units
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h ^ (h >> 16)


def record_size(record: Mapping[str, Any]) -> int:
    """Bytes the record adds to the event's JSON (without the comma that separates records).

    What is counted: the compact JSON of the record (``separators=(",", ":")``), non-ASCII text as
    raw UTF-8, everything included: receipt handle, attributes, message attributes, digests,
    ``eventSource``, ``eventSourceARN``, ``awsRegion`` (ESM-B-4: "Both Lambda and Amazon SQS
    generate metadata for each record. This additional metadata is counted"). AWS does not
    document its serializer; a Java service writes compact UTF-8 JSON, which is also the
    smallest faithful encoding, so a batch is never cut earlier than Lambda would cut it.
    """
    text = _encode(record)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def event_size(records: Iterable[Mapping[str, Any]]) -> int:
    """Bytes of ``{"Records": [...]}`` serialized as :func:`record_size` describes."""
    total = EMPTY_EVENT_BYTES
    count = 0
    for record in records:
        total += record_size(record)
        count += 1
    return total + max(count - 1, 0)  # the commas between records


class PayloadMeter:
    """The running size of an event as the batcher adds records, without re-serializing it.

    Measure each record once with :func:`record_size`, then::

        size = record_size(record)
        if not meter.fits(size):
            ...close the batch (cut reason "size"), meter.reset(), start the next batch...
        meter.add(size)

    ``size`` always equals ``event_size`` of the records added since the last reset. A record
    that does not fit in an empty batch still fits, alone: it cannot be delivered any other way,
    and a record that did not fit is never dropped (ESM-B-4). With SQS's 1 MiB message limit a
    single record stays far below 6 MB, so this is a guard, not a case Lambda documents.
    """

    __slots__ = ("count", "limit", "size")

    def __init__(self, limit: int = MAX_EVENT_BYTES) -> None:
        if limit < EMPTY_EVENT_BYTES:
            raise ValueError(f"payload limit must be at least {EMPTY_EVENT_BYTES} bytes, got {limit}")
        self.limit = limit
        self.size = EMPTY_EVENT_BYTES  #: bytes of the event's JSON so far
        self.count = 0  #: records added since the last reset

    def cost(self, record_bytes: int) -> int:
        """Bytes adding a record of ``record_bytes`` would add (its comma included)."""
        return record_bytes + 1 if self.count else record_bytes

    def fits(self, record_bytes: int) -> bool:
        """True when a record of ``record_bytes`` can join the batch without passing the limit."""
        return self.count == 0 or self.size + record_bytes + 1 <= self.limit

    def add(self, record_bytes: int) -> None:
        """Count a record of ``record_bytes`` (from :func:`record_size`) as part of the event."""
        self.size += self.cost(record_bytes)
        self.count += 1

    def reset(self) -> None:
        """Start a new, empty event."""
        self.size = EMPTY_EVENT_BYTES
        self.count = 0

    @property
    def remaining(self) -> int:
        """Bytes left before the limit (negative only after a lone oversized record)."""
        return self.limit - self.size

    def __repr__(self) -> str:
        return f"PayloadMeter(size={self.size}, count={self.count}, limit={self.limit})"

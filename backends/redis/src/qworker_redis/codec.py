"""Message envelopes: msgpack, strictly bounded, never pickle (RELIABILITY section 3.3).

An envelope is a msgpack array of 10 items::

    [1, body, attributes, md5_of_body, md5_of_attributes, group_id, dedup_id, trace_header,
     sent_ms, sequence_number]

``attributes`` is ``None`` or a list of ``[name, data_type, value]`` (``value`` is ``str`` for
String/Number, ``bytes`` for Binary). The client packs the first 8 items behind a 10-item array
header; the send script appends ``sent_ms`` (Redis's clock, as a decimal string) and the
SequenceNumber (FIFO) or nil, so both come from the server without the script decoding msgpack.
Decoding uses hard limits and rejects ext types; anything that does not decode to exactly this
shape is reported as corrupt and set aside by the backend, never raised to the receiver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import msgpack

from qworker import randomness
from qworker.backend import MessageAttributeValue
from qworker.quarantine import Readable

VERSION = 1
#: the largest envelope accepted: the 1 MiB message limit plus room for the fixed fields
MAX_ENVELOPE = 1_114_112
_HEADER = b"\x9a"  # msgpack fixarray of 10

_packb = msgpack.Packer(use_bin_type=True).pack
_unpackb = msgpack.unpackb


def encode_prefix(
    body: str,
    attributes: Mapping[str, MessageAttributeValue] | None,
    md5_of_body: str,
    md5_of_attributes: str | None,
    group_id: str | None,
    dedup_id: str | None,
    trace_header: str | None,
) -> bytes:
    """The envelope without its last two items (the scripts append them)."""
    attrs = None
    if attributes:
        attrs = [
            [
                name,
                value.data_type,
                value.binary_value if value.binary_value is not None else value.string_value,
            ]
            for name, value in attributes.items()
        ]
    packed = _packb([VERSION, body, attrs, md5_of_body, md5_of_attributes, group_id, dedup_id, trace_header])
    return _HEADER + packed[1:]  # packed starts with fixarray(8) = one byte


#: A decoded envelope's fields, in envelope order without the version: ``body``, ``attributes``,
#: ``md5_of_body``, ``md5_of_attributes``, ``group_id``, ``dedup_id``, ``trace_header``, ``sent_ms``,
#: ``sequence_number``.
Fields = tuple[
    str,
    dict[str, MessageAttributeValue],
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str,
    str | None,
]


class Envelope:
    """A decoded envelope (plain attributes, no validation beyond the types)."""

    __slots__ = (
        "attributes",
        "body",
        "dedup_id",
        "group_id",
        "md5_of_attributes",
        "md5_of_body",
        "sent_ms",
        "sequence_number",
        "trace_header",
    )

    def __init__(self, fields: Fields) -> None:
        (
            self.body,
            self.attributes,
            self.md5_of_body,
            self.md5_of_attributes,
            self.group_id,
            self.dedup_id,
            self.trace_header,
            self.sent_ms,
            self.sequence_number,
        ) = fields


def decode(data: bytes | None) -> Envelope | str:
    """The envelope, or the reason it is corrupt (a short code for logs and quarantine)."""
    fields = decode_fields(data)
    return fields if type(fields) is str else Envelope(fields)


def decode_fields(data: bytes | None) -> Fields | str:
    """:func:`decode` without the :class:`Envelope`: the envelope's fields as a tuple, or the
    reason it is corrupt. The receive path calls this once per message, so it is kept lean."""
    if data is None:
        return "missing-envelope"
    if len(data) > MAX_ENVELOPE:
        return "oversize"
    try:
        # Hard limits, no ext types. raw=False and strict_map_key=True are msgpack's defaults
        # (since 1.0), and unpackb bounds strings and bins by len(data), checked above to be at
        # most MAX_ENVELOPE: passing those four arguments too would only cost time, per message.
        items = _unpackb(data, max_array_len=64, max_map_len=0, max_ext_len=0)
    except Exception as exc:  # msgpack raises several types (ExtraData, FormatError, StackError, ...)
        return f"undecodable:{type(exc).__name__}"
    if type(items) is not list or len(items) != 10:
        return "unknown-format"
    version, body, attrs, md5_of_body, md5_of_attributes, group_id, dedup_id, trace, sent_ms, sequence = items
    if type(version) is not int or version != VERSION:
        return "unknown-format"
    if (
        type(body) is not str
        or type(md5_of_body) is not str
        or type(sent_ms) is not str
        # at most 20 ASCII digits: str.isdigit() is also true for "²" or "¹²", which int()
        # refuses, and int() refuses more than 4300 digits (peek reads SentTimestamp with int())
        or not (len(sent_ms) <= 20 and sent_ms.isascii() and sent_ms.isdigit())
        or (md5_of_attributes is not None and type(md5_of_attributes) is not str)
        or (group_id is not None and type(group_id) is not str)
        or (dedup_id is not None and type(dedup_id) is not str)
        or (trace is not None and type(trace) is not str)
        or (sequence is not None and type(sequence) is not str)
    ):
        return "bad-field-type"
    attributes: dict[str, MessageAttributeValue] = {}
    if attrs is not None:
        if type(attrs) is not list:
            return "bad-attributes"
        for attr in attrs:
            if type(attr) is not list or len(attr) != 3:
                return "bad-attributes"
            name, data_type, value = attr
            if type(name) is not str or type(data_type) is not str:
                return "bad-attributes"
            if isinstance(value, str):
                attributes[name] = MessageAttributeValue(data_type, value)
            elif isinstance(value, bytes):
                attributes[name] = MessageAttributeValue(data_type, None, value)
            else:
                return "bad-attributes"
    return body, attributes, md5_of_body, md5_of_attributes, group_id, dedup_id, trace, sent_ms, sequence


def readable(message_id: str, data: bytes | None, state: bytes | None) -> Readable:
    """What can be read of a quarantined message, from its raw envelope and its raw state
    string (``token|count|first|received|arrival|src|group``; empty when it had none), for a
    restore (:func:`qworker.quarantine.plan_restore`)."""
    src = group = None
    parts = (state or b"").split(b"|", 6)
    if len(parts) == 7:
        src, group = _text(parts[5]), _text(parts[6])
    fields = decode_fields(data)
    if type(fields) is not str:
        body, attributes, _, _, group_id, dedup_id, trace, _, _ = fields
        return Readable(None, body, message_id, attributes, group_id, dedup_id, trace, src or None)
    body = salvaged_group = None
    if data is not None and len(data) <= MAX_ENVELOPE:
        try:
            items = _unpackb(data, max_array_len=64, max_map_len=0, max_ext_len=0)
        except Exception:  # as decode_fields: nothing can be read
            items = None
        if type(items) is list and len(items) == 10:
            body = items[1] if type(items[1]) is str else None
            salvaged_group = items[5] if type(items[5]) is str else None
    return Readable(fields, body, message_id, None, salvaged_group or group or None, None, None, src or None)


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


class MessageIds:
    """UUIDv7-style message ids: time-ordered, monotonic within a process.

    SQS message ids are UUIDs; time order makes ties in the expiry ZSET (messages with the same
    retention deadline) sort in send order, which is the order ``peek`` shows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def next(self) -> str:
        """One id (a send batch takes :meth:`many`)."""
        return self.many(1)[0]

    def many(self, count: int) -> list[str]:
        """``count`` ids in order: one lock and one read of random bytes for a whole batch."""
        with self._lock:
            stamps = [self._tick() for _ in range(count)]
        # 48 bits of milliseconds, version 7, 12 bits of counter, variant 0b10, 62 random bits
        # (2 in the variant's hex digit, 60 in the 15 digits after it), spelled out directly
        r = randomness.take(8 * count).hex()
        ids = []
        for k, (ms, counter) in zip(range(0, 16 * count, 16), stamps, strict=True):
            t, variant = f"{ms:012x}", _VARIANT[int(r[k], 16) & 3]
            ids.append(f"{t[:8]}-{t[8:]}-7{counter:03x}-{variant}{r[k + 1 : k + 4]}-{r[k + 4 : k + 16]}")
        return ids

    def _tick(self) -> tuple[int, int]:
        """The next (milliseconds, counter): later than the last one (called under the lock)."""
        ms = time.time_ns() // 1_000_000
        if ms <= self._last_ms:
            ms = self._last_ms
            self._counter += 1
            if self._counter > 0xFFF:
                ms += 1
                self._counter = 0
        else:
            self._counter = 0
        self._last_ms = ms
        return ms, self._counter


#: the hex digit of the variant (0b10) and the two random bits after it
_VARIANT = "89ab"

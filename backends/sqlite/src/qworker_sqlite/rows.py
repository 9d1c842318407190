"""Decoding stored message rows strictly: a row either becomes a message or yields the reason it
cannot (RELIABILITY T16), never an exception in the caller.

SQLite keeps whatever a column is given, so a damaged file (a bad disk, another program writing
to it, a buggy tool) can hold a message row whose values are not what qworker wrote: bytes
that are not UTF-8 in a TEXT column, a BLOB where an integer belongs, attributes that are not
msgpack. Each decoder here checks types and shapes and reports the first problem as a short
reason, ``PROBLEM:COLUMN``: ``not-utf8:body``, ``bad-type:sent_ms``, ``bad-attributes:FormatError``,
``missing-body``. The quarantine (:mod:`qworker_sqlite.quarantine`) sets such rows
aside with their reason.

Text that is not UTF-8 makes ``sqlite3`` raise while fetching the row, before any decoder sees
it; :func:`lenient_text` fetches with a text factory that keeps such values as
:class:`BadText` instead, for the few reads that must see them (a receive that met one, peek,
redrive, the quarantine).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgpack

from qworker.backend import MessageAttributeValue

_unpackb = msgpack.unpackb
#: the columns of a message row that receives, peek and redrive read, in this order
COLUMNS = (
    "seq, message_id, md5_body, md5_attrs, sent_ms, receive_count, first_receive_ms, token, group_id, "
    "dedup_id, sequence_number, dlq_source, trace_header, attrs, body"
)
#: what each of :data:`COLUMNS` must hold, after a large body was joined in from ``bodies``
#: (``token`` is checked by the receive that sets it; ``seq`` is the row's key)
_EXPECTED: tuple[tuple[int, str, type, bool], ...] = (
    # (index in COLUMNS, name, type, may be NULL)
    (14, "body", str, False),
    (1, "message_id", str, False),
    (2, "md5_body", str, False),
    (3, "md5_attrs", str, True),
    (4, "sent_ms", int, False),
    (5, "receive_count", int, False),
    (6, "first_receive_ms", int, True),
    (8, "group_id", str, True),
    (9, "dedup_id", str, True),
    (10, "sequence_number", int, True),
    (11, "dlq_source", str, True),
    (12, "trace_header", str, True),
    (13, "attrs", bytes, True),
)
_TEXT_DECODE_ERROR = "Could not decode to UTF-8"


class BadText(bytes):
    """The bytes of a TEXT value that is not valid UTF-8 (from :func:`lenient_text`)."""


def _text(data: bytes) -> str | BadText:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return BadText(data)


@contextmanager
def lenient_text(conn: sqlite3.Connection) -> Iterator[None]:
    """Fetch TEXT values that are not UTF-8 as :class:`BadText` instead of raising (every other
    value comes back as usual). The connection is used by one thread, so this is safe."""
    conn.text_factory = _text
    try:
        yield
    finally:
        conn.text_factory = str


def is_text_decode_error(exc: BaseException) -> bool:
    """True for the error ``sqlite3`` raises when a fetched TEXT value is not UTF-8."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(_TEXT_DECODE_ERROR)


def value_problem(name: str, value: object, kind: type, nullable: bool) -> str | None:
    """Why ``value`` is not a valid ``name`` column value (``None``: it is)."""
    if value is None:
        return None if nullable else f"bad-type:{name}"
    if type(value) is BadText:
        return f"not-utf8:{name}"
    if type(value) is not kind:
        return f"bad-type:{name}"
    return None


def decode_attributes(blob: bytes | None) -> dict[str, MessageAttributeValue] | str:
    """Message attributes from their msgpack (:func:`~qworker_sqlite.codec.pack_attributes`),
    or the reason they cannot be decoded (``bad-attributes:...``)."""
    if blob is None:
        return {}
    try:
        items = _unpackb(blob, max_ext_len=0)
    except Exception as exc:  # msgpack raises several types (FormatError, ExtraData, StackError, ...)
        return f"bad-attributes:{type(exc).__name__}"
    if type(items) is not dict:
        return "bad-attributes:shape"
    out = {}
    for name, value in items.items():
        if type(name) is not str or type(value) is not list or len(value) != 3:
            return "bad-attributes:shape"
        data_type, string_value, binary_value = value
        if (
            type(data_type) is not str
            or (string_value is not None and type(string_value) is not str)
            or (binary_value is not None and type(binary_value) is not bytes)
            or (string_value is None) == (binary_value is None)
        ):
            return "bad-attributes:shape"
        out[name] = MessageAttributeValue(data_type, string_value, binary_value)
    return out


#: the columns a restore puts back (the others it makes anew: ids, digests, times, counts)
_RESTORED = frozenset({"body", "message_id", "group_id", "dedup_id", "dlq_source", "trace_header", "attrs"})


def row_problem(row: tuple[Any, ...], fifo: bool, restoring: bool = False) -> str | None:
    """Why a row of :data:`COLUMNS` (large body already joined in) cannot be delivered, or
    ``None``; with ``restoring``, why it cannot be put back (only the values a restore keeps
    are needed)."""
    for index, name, kind, nullable in _EXPECTED:
        if restoring and name not in _RESTORED:
            continue
        problem = value_problem(name, row[index], kind, nullable)
        if problem is not None:
            return problem
    if fifo:
        for index, name in ((8, "group_id"), (10, "sequence_number")):
            if row[index] is None and not (restoring and name not in _RESTORED):
                return f"bad-type:{name}"
    attributes = decode_attributes(row[13])
    return attributes if type(attributes) is str else None


def join_body(row: tuple[Any, ...], by_seq: dict[int, tuple[Any, Any]]) -> tuple[Any, ...] | None:
    """The row with its large body and attributes from ``bodies`` in place (``None`` when that
    row is missing); rows whose body is inline come back as they are."""
    if row[14] is not None:
        return row
    pair = by_seq.get(row[0])
    if pair is None:
        return None
    return (*row[:13], pair[0], pair[1])


@dataclass(frozen=True, slots=True)
class Refused:
    """A row that could not be delivered: what the quarantine needs to set it aside."""

    seq: int
    token: int | None  #: the row's token when it was read (the move is fenced on it)
    message_id: str  #: readable id, or ``#SEQ`` when the stored one is not text
    reason: str


def readable_id(seq: int, message_id: object) -> str:
    """The message id to show and to name the message by: ``#SEQ`` when it is not readable."""
    return message_id if type(message_id) is str and message_id else f"#{seq}"

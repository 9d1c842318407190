"""SendMessageBatch on SQLite: validation outside the lock, one transaction for the batch."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qworker.backend import BatchEntryError, SendBatchResult, SendEntry, SendResult
from qworker.digest import content_deduplication_id, md5_of_body, md5_of_message_attributes
from qworker.limits import DEDUPLICATION_WINDOW_SECONDS, check_send_entry, entry_ids, utf8_length
from qworker_sqlite.codec import new_message_id, pack_attributes, sequence_number_text
from qworker_sqlite.schema import INLINE_LIMIT
from qworker_sqlite.store import QueueRow, Store

_INSERT = (
    "INSERT INTO messages (seq, queue_id, visible_at, expires_at, sent_ms, group_id, message_id, md5_body, "
    "md5_attrs, trace_header, sequence_number, dedup_id, attrs, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_BODY = "INSERT INTO bodies (seq, attrs, body) VALUES (?, ?, ?)"
#: :data:`_INSERT` without ``seq``: AUTOINCREMENT numbers the rows when no body goes to ``bodies``
_INSERT_INLINE = _INSERT.replace("(seq, ", "(").replace("VALUES (?, ", "VALUES (")


@dataclass(slots=True)
class _Valid:
    """An entry that passed validation, with what can be computed before taking the lock."""

    entry_id: str
    entry: SendEntry
    message_id: str  #: made before the lock is taken (unused if the entry turns out a duplicate)
    md5_body: str
    md5_attrs: str | None
    attrs: bytes | None
    inline: bool  #: small enough to live in the message row (schema.INLINE_LIMIT)


def send(store: Store, queue_name: str, entries: Sequence[SendEntry]) -> SendBatchResult:
    """Send ``entries``; see :meth:`qworker.backend.Backend.send` for the contract."""
    ids = entry_ids(list(entries))
    # Validated against the row as last read, without a lock or a read (a SELECT costs more than
    # the whole validation when idle), then checked against the row read in the transaction.
    queue = store.last_seen_queue(queue_name)
    valid, failed = _validate(queue, entries, ids)
    if not valid:
        current = store.queue(queue_name)
        if current != queue:
            queue = current
            valid, failed = _validate(queue, entries, ids)
        if not valid:
            return SendBatchResult(successful=[], failed=failed)
    with store.write():
        current = store.queue(queue_name)
        if current != queue:  # re-created or its attributes changed since we validated: again
            queue = current
            valid, failed = _validate(queue, entries, ids)
        now = store.now_ms()
        if queue.fifo:
            successful = _send_fifo(store, queue, valid, now)
        else:
            successful = _send_standard(store, queue, valid, now)
    return SendBatchResult(successful=successful, failed=failed)


def _validate(
    queue: QueueRow, entries: Sequence[SendEntry], ids: list[str]
) -> tuple[list[_Valid], list[BatchEntryError]]:
    spec = queue.spec
    valid: list[_Valid] = []
    failed: list[BatchEntryError] = []
    for entry, entry_id in zip(entries, ids, strict=True):
        error = check_send_entry(entry, entry_id, spec)
        if error is not None:
            failed.append(error)
            continue
        attributes = entry.message_attributes
        packed = pack_attributes(attributes)
        size = utf8_length(entry.body) + (len(packed) if packed is not None else 0)
        valid.append(
            _Valid(
                entry_id,
                entry,
                new_message_id(),
                md5_of_body(entry.body),
                md5_of_message_attributes(attributes) if attributes else None,
                packed,
                size <= INLINE_LIMIT,
            )
        )
    return valid, failed


def _send_standard(store: Store, queue: QueueRow, valid: list[_Valid], now: int) -> list[SendResult]:
    spec = queue.spec
    expires_at = queue.expires_at(now)
    default_delay = spec.delay_seconds
    rows = []
    bodies = []
    results = []
    inline = all(item.inline for item in valid)  # else rows and bodies need the same seqs
    seq = 0 if inline else store.first_free_seq()
    for item in valid:
        entry = item.entry
        delay = default_delay if entry.delay_seconds is None else entry.delay_seconds
        message_id = item.message_id
        attrs, body = _row_columns(item, seq, bodies)
        rows.append(
            (seq, queue.id, now + delay * 1000, expires_at, now, entry.message_group_id, message_id,
             item.md5_body, item.md5_attrs, entry.trace_header, None, None, attrs, body)
        )  # fmt: skip
        results.append(SendResult(item.entry_id, message_id, item.md5_body, item.md5_attrs))
        seq += 1
    if inline:
        store.conn.executemany(_INSERT_INLINE, [row[1:] for row in rows])
    else:
        store.conn.executemany(_INSERT, rows)
    if bodies:
        store.conn.executemany(_INSERT_BODY, bodies)
    return results


def _send_fifo(store: Store, queue: QueueRow, valid: list[_Valid], now: int) -> list[SendResult]:
    """FIFO: in order (SQS-F-5), with sequence numbers and 5-minute deduplication (SQS-F-3, F-4)."""
    conn = store.conn
    spec = queue.spec
    per_group = spec.deduplication_scope == "messageGroup"
    conn.execute("DELETE FROM fifo_dedup WHERE queue_id = ? AND expires_at <= ?", (queue.id, now))
    known, keys = _deduplication_keys(conn, queue, valid, per_group)
    fresh = sum(1 for key, value in known.items() if value is None)
    sequence = store.next_sequence_numbers(queue.id, fresh) if fresh else 0
    visible_at = now + spec.delay_seconds * 1000
    expires_at = queue.expires_at(now)
    dedup_expires = now + DEDUPLICATION_WINDOW_SECONDS * 1000
    rows = []
    bodies = []
    dedup_rows = []
    heads: dict[str, int] = {}
    results = []
    seq = store.first_free_seq()
    for item, key in zip(valid, keys, strict=True):
        original = known[key]
        if original is None:
            entry = item.entry
            message_id = item.message_id
            original = known[key] = (message_id, sequence)
            group = entry.message_group_id
            assert group is not None  # checked by check_send_entry
            attrs, body = _row_columns(item, seq, bodies)
            rows.append(
                (seq, queue.id, visible_at, expires_at, now, group, message_id, item.md5_body,
                 item.md5_attrs, entry.trace_header, sequence, key[1], attrs, body)
            )  # fmt: skip
            dedup_rows.append((queue.id, key[0], key[1], message_id, sequence, dedup_expires))
            heads.setdefault(group, visible_at)
            sequence += 1
            seq += 1
        results.append(
            SendResult(
                item.entry_id, original[0], item.md5_body, item.md5_attrs, sequence_number_text(original[1])
            )
        )
    if rows:
        conn.executemany(_INSERT, rows)
        if bodies:
            conn.executemany(_INSERT_BODY, bodies)
        conn.executemany(
            "INSERT INTO fifo_dedup (queue_id, scope, dedup_id, message_id, sequence_number, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            dedup_rows,
        )
        store.add_groups(queue.id, heads)
    return results


def _row_columns(item: _Valid, seq: int, bodies: list[tuple[int, Any, str]]) -> tuple[Any, str | None]:
    """The attrs and body columns of a message's row: the values themselves when they are small
    enough to sit inline, else NULLs and the values queued for the bodies table under ``seq``."""
    if item.inline:
        return item.attrs, item.entry.body
    bodies.append((seq, item.attrs, item.entry.body))
    return None, None


def _deduplication_keys(
    conn: sqlite3.Connection, queue: QueueRow, valid: list[_Valid], per_group: bool
) -> tuple[dict[tuple[str, str], tuple[str, int] | None], list[tuple[str, str]]]:
    """Each entry's deduplication key (scope, id), and for each distinct key the (message id,
    sequence number) of the earlier send it duplicates, or None: a later entry of this batch
    with a key seen earlier in it is a duplicate of that entry (SQS-F-3, F-4)."""
    known: dict[tuple[str, str], tuple[str, int] | None] = {}
    keys = []
    for item in valid:
        entry = item.entry
        dedup_id = entry.message_deduplication_id or content_deduplication_id(entry.body)
        key = (entry.message_group_id if per_group else "", dedup_id)  # type: ignore[assignment]
        keys.append(key)
        if key not in known:
            row = conn.execute(
                "SELECT message_id, sequence_number FROM fifo_dedup "
                "WHERE queue_id = ? AND scope = ? AND dedup_id = ?",
                (queue.id, key[0], key[1]),
            ).fetchone()
            known[key] = (row[0], row[1]) if row is not None else None
    return known, keys

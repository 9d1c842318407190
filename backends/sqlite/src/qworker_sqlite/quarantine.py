"""The SQLite quarantine (RELIABILITY T16): message rows that cannot be decoded, set aside.

A row moves from ``messages`` to ``quarantine`` in one transaction (copy, then delete), fenced on
the ``token`` it had when it was read: a row another receiver took meanwhile is left alone. The
copy is made in SQL, so every value keeps its type and bytes, unreadable ones included.

Where rows are set aside:

* a receive: the rows it took that do not decode, in a second transaction right after the
  receive's own (the good ones are delivered; a crash between the two leaves the bad row in
  flight, to be set aside when its visibility timeout ends);
* a FIFO receive that finds no group ready and no group at all while the queue still has
  messages: those rows belong to no group (their ``group_id`` was damaged), so no receive can
  reach them (:func:`sweep_fifo_orphans`);
* a redrive, for the dead letters it cannot read (:mod:`qworker_sqlite.redrive`).

Peek shows a bad row as corrupt and moves nothing. Names: a quarantined message is named by its
message id, or by ``#SEQ`` when the stored id is not readable text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from qworker import arn
from qworker.backend import (
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    BatchEntryError,
    QuarantinedMessage,
)
from qworker.digest import md5_of_body, md5_of_message_attributes
from qworker.limits import utf8_length
from qworker.quarantine import Readable, Restore, check_destination, plan_restore
from qworker_sqlite.codec import pack_attributes
from qworker_sqlite.rows import (
    COLUMNS,
    Refused,
    decode_attributes,
    lenient_text,
    readable_id,
    row_problem,
    value_problem,
)
from qworker_sqlite.schema import INLINE_LIMIT
from qworker_sqlite.store import QueueRow, Store

_VALUE_COLUMNS = (
    "message_id, md5_body, md5_attrs, sent_ms, receive_count, first_receive_ms, received_ms, visible_at, "
    "expires_at, token, sequence_number, group_id, dedup_id, dlq_source, trace_header, last_error, attrs, "
    "body"
)
_MOVE_ASIDE = (
    f"INSERT INTO quarantine (seq, queue_id, reason, quarantined_ms, {_VALUE_COLUMNS}) "
    "SELECT m.seq, m.queue_id, ?1, ?2, m.message_id, m.md5_body, m.md5_attrs, m.sent_ms, m.receive_count, "
    "m.first_receive_ms, m.received_ms, m.visible_at, m.expires_at, m.token, m.sequence_number, m.group_id, "
    "m.dedup_id, m.dlq_source, m.trace_header, m.last_error, iif(m.body IS NULL, b.attrs, m.attrs), "
    "iif(m.body IS NULL, b.body, m.body) "
    "FROM messages AS m LEFT JOIN bodies AS b ON m.body IS NULL AND b.seq = m.seq "
    "WHERE m.seq = ?3 AND m.queue_id = ?4 AND m.token IS ?5"
)
_INSERT = (
    "INSERT INTO messages (seq, queue_id, visible_at, expires_at, sent_ms, group_id, message_id, md5_body, "
    "md5_attrs, trace_header, sequence_number, dedup_id, dlq_source, attrs, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: rows looked at per orphan sweep (the rest wait for the next empty-looking receive)
_SWEEP_LIMIT = 1000


@dataclass(slots=True)
class SetAside:
    """What :func:`move_aside` moved: for the log, the metrics and the FIFO groups."""

    moved: list[tuple[str, str]] = field(default_factory=list)  #: (message id, reason)
    groups: set[str] = field(default_factory=set)  #: FIFO groups that lost a message


def move_aside(store: Store, queue: QueueRow, refused: Sequence[Refused], now: int) -> SetAside:
    """Move ``refused`` rows to the quarantine; call inside a write transaction.

    A row whose token is no longer the one it was read with (received again, deleted) is left
    where it is. FIFO groups that lost a message are refreshed here.
    """
    conn = store.conn
    result = SetAside()
    with lenient_text(conn):  # a damaged group_id must not fail the RETURNING below
        for item in refused:
            if conn.execute(_MOVE_ASIDE, (item.reason, now, item.seq, queue.id, item.token)).rowcount != 1:
                continue
            (group,) = conn.execute(
                "DELETE FROM messages WHERE seq = ? RETURNING group_id", (item.seq,)
            ).fetchone()
            result.moved.append((item.message_id, item.reason))
            if type(group) is str:
                result.groups.add(group)
    if queue.fifo and result.groups:
        store.refresh_groups(queue.id, result.groups)
    return result


def set_aside(store: Store, queue: QueueRow, refused: Sequence[Refused]) -> SetAside:
    """:func:`move_aside` in a transaction of its own (after a receive has committed)."""
    with store.write():
        return move_aside(store, queue, refused, store.now_ms())


def sweep_fifo_orphans(store: Store, queue: QueueRow) -> SetAside:
    """Set aside the messages of a FIFO queue that has no group left: their ``group_id`` or
    ``sequence_number`` was damaged, so no group leads to them and no receive would ever reach
    them (while they counted as visible: ``--until-empty`` would wait for ever)."""
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM fifo_groups WHERE queue_id = ? LIMIT 1", (queue.id,)).fetchone():
            return SetAside()  # a send made a group meanwhile: the receive handles it
        now = store.now_ms()
        store.expire(queue, now)
        with lenient_text(conn):
            rows = conn.execute(
                "SELECT seq, token, message_id, group_id, sequence_number FROM messages WHERE queue_id = ? "
                "ORDER BY seq LIMIT ?",
                (queue.id, _SWEEP_LIMIT),
            ).fetchall()
        refused = [
            Refused(
                seq,
                token,
                readable_id(seq, message_id),
                value_problem("group_id", group, str, False)
                or value_problem("sequence_number", sequence, int, False)
                or "orphan:group_id",
            )
            for seq, token, message_id, group, sequence in rows
        ]
        return move_aside(store, queue, refused, now)


def count(store: Store, queue_id: int) -> int:
    """How many messages of the queue are in quarantine."""
    return store.conn.execute("SELECT count(*) FROM quarantine WHERE queue_id = ?", (queue_id,)).fetchone()[0]


def listing(store: Store, queue_name: str, max_messages: int) -> list[QuarantinedMessage]:
    """The queue's quarantined messages, oldest first."""
    queue = store.queue(queue_name)
    with lenient_text(store.conn):
        rows = store.conn.execute(
            "SELECT seq, message_id, reason, quarantined_ms, substr(CAST(body AS BLOB), 1, ?), "
            "length(CAST(body AS BLOB)) FROM quarantine WHERE queue_id = ? ORDER BY quarantined_ms, seq "
            "LIMIT ?",
            (QUARANTINE_PREVIEW_BYTES, queue.id, max_messages),
        ).fetchall()
    return [
        QuarantinedMessage(
            message_id=readable_id(seq, message_id),
            reason=reason if type(reason) is str else repr(reason),
            quarantined_at=at if type(at) is int else 0,
            raw_preview=bytes(preview or b""),
            raw_size=size or 0,
        )
        for seq, message_id, reason, at, preview, size in rows
    ]


def _select_keys(
    store: Store, queue: QueueRow, keys: Sequence[str], columns: str
) -> tuple[dict[str, list[tuple]], list[str]]:
    """The quarantine rows named by ``keys`` (message ids or ``#SEQ``), by key; unknown keys."""
    seqs = [int(key[1:]) for key in keys if key.startswith("#") and key[1:].isdigit()]
    ids = [key for key in keys if not (key.startswith("#") and key[1:].isdigit())]
    with lenient_text(store.conn):
        rows = store.conn.execute(
            f"SELECT {columns} FROM quarantine WHERE queue_id = ? AND "
            "(seq IN (SELECT value FROM json_each(?)) OR message_id IN (SELECT value FROM json_each(?))) "
            "ORDER BY seq",
            (queue.id, json.dumps(seqs), json.dumps(ids)),
        ).fetchall()
    by_key: dict[str, list[tuple]] = {}
    for row in rows:
        seq, message_id = row[0], row[1]
        for key in (f"#{seq}", message_id):
            if type(key) is str and key in keys:
                by_key.setdefault(key, []).append(row)
    return by_key, [key for key in dict.fromkeys(keys) if key not in by_key]


def readable(row: tuple, fifo: bool) -> Readable:
    """What can be decoded of a quarantine row of :data:`~qworker_sqlite.rows.COLUMNS`."""
    (_seq, message_id, _md5, _md5_attrs, _sent, _count, _first, _token, group, dedup_id, _sequence,
     dlq_source, trace, attrs, body) = row  # fmt: skip

    def text(value: object) -> str | None:
        return value if type(value) is str else None

    decoded = decode_attributes(attrs) if attrs is None or type(attrs) is bytes else "bad-type:attrs"
    source = None
    if type(dlq_source) is str:
        try:
            source = arn.queue_name_from_arn(dlq_source)
        except ValueError:
            source = None
    return Readable(
        problem="missing-body" if body is None else row_problem(row, fifo, restoring=True),
        body=text(body),
        message_id=text(message_id) or None,
        attributes=decoded if type(decoded) is dict else None,
        group_id=text(group),
        dedup_id=text(dedup_id),
        trace_header=text(trace),
        dead_letter_source=source,
    )


def restore(
    store: Store, queue_name: str, keys: Sequence[str], destination: str | None, body_only: bool
) -> tuple[list[BatchEntryError], list[str]]:
    """Put quarantined messages back, in one transaction (see the protocol); returns the failed
    entries and the queues that got messages (to wake their waiters)."""
    failed: list[BatchEntryError] = []
    with store.write() as conn:
        source = store.queue(queue_name)
        target = store.queue(destination) if destination is not None else source
        check_destination(source.spec, target.spec)
        now = store.now_ms()
        by_key, unknown = _select_keys(store, source, keys, COLUMNS)
        failed += [
            BatchEntryError(
                key, QUARANTINE_NOT_FOUND, f"No message {key!r} in the quarantine of {queue_name!r}."
            )
            for key in unknown
        ]
        plans: list[tuple[int, Restore]] = []
        done: set[int] = set()
        for key in dict.fromkeys(keys):
            for row in by_key.get(key, []):
                if row[0] in done:
                    continue
                done.add(row[0])
                plan = plan_restore(source.spec, target.spec, key, readable(row, source.fifo), body_only)
                if isinstance(plan, BatchEntryError):
                    failed.append(plan)
                else:
                    plans.append((row[0], plan))
        if plans:
            _enqueue(store, target, [plan for _, plan in plans], now)
            conn.execute(
                "DELETE FROM quarantine WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps([seq for seq, _ in plans]),),
            )
    return failed, [target.spec.name] if plans else []


def _enqueue(store: Store, target: QueueRow, plans: list[Restore], now: int) -> None:
    """Insert the restored messages as new arrivals (as a redrive does: no deduplication check)."""
    spec = target.spec
    visible_at = now + spec.delay_seconds * 1000
    expires_at = now + spec.message_retention_period * 1000
    sequence = store.next_sequence_numbers(target.id, len(plans)) if target.fifo else None
    seq = store.first_free_seq()
    rows, bodies = [], []
    heads: dict[str, int] = {}
    for index, plan in enumerate(plans):
        entry = plan.entry
        attributes = dict(entry.message_attributes)
        packed = pack_attributes(attributes)
        inline = utf8_length(entry.body) + (len(packed) if packed is not None else 0) <= INLINE_LIMIT
        source_arn = arn.queue_arn(plan.dead_letter_source) if plan.dead_letter_source else None
        rows.append(
            (seq, target.id, visible_at, expires_at, now, entry.message_group_id, plan.message_id,
             md5_of_body(entry.body), md5_of_message_attributes(attributes) if attributes else None,
             entry.trace_header, sequence + index if sequence is not None else None,
             entry.message_deduplication_id, source_arn,
             packed if inline else None, entry.body if inline else None)
        )  # fmt: skip
        if not inline:
            bodies.append((seq, packed, entry.body))
        if target.fifo and entry.message_group_id is not None:
            heads.setdefault(entry.message_group_id, visible_at)
        seq += 1
    store.conn.executemany(_INSERT, rows)
    if bodies:
        store.conn.executemany("INSERT INTO bodies (seq, attrs, body) VALUES (?, ?, ?)", bodies)
    if heads:
        store.add_groups(target.id, heads)


def drop(store: Store, queue_name: str, keys: Sequence[str] | None) -> int:
    """Delete quarantined messages for good (all of the queue's when ``keys`` is ``None``)."""
    with store.write() as conn:
        queue = store.queue(queue_name)
        if keys is None:
            return conn.execute("DELETE FROM quarantine WHERE queue_id = ?", (queue.id,)).rowcount
        by_key, _ = _select_keys(store, queue, keys, "seq, message_id")
        seqs = sorted({row[0] for rows in by_key.values() for row in rows})
        return conn.execute(
            "DELETE FROM quarantine WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(seqs),)
        ).rowcount

"""ReceiveMessage on SQLite: standard and FIFO receives, and the dead-letter move (ESM-DLQ-2).

A receive first checks, without any lock, whether anything can be delivered (the smallest
``visible_at`` of a standard queue, the smallest ``available_at`` of a FIFO queue's groups); an
idle poller therefore never takes the write lock. Otherwise one ``BEGIN IMMEDIATE`` transaction
drops expired messages, picks the messages, moves poison messages to the dead-letter queue and
marks the rest received, returning their rows with ``UPDATE ... RETURNING``.

Rows are decoded strictly after the commit (:mod:`qworker_sqlite.rows`); a row that
does not decode is set aside in the quarantine, fenced on its new token, and the others are
delivered (RELIABILITY T16). A TEXT value that is not UTF-8 makes ``sqlite3`` fail the fetch
itself: that transaction is rolled back and the receive runs again fetching leniently.
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import nullcontext
from dataclasses import dataclass, field

from qworker import arn
from qworker.backend import ReceivedMessage, system_attributes
from qworker.errors import InvalidParameterValue
from qworker.limits import check_max_messages, check_visibility_timeout
from qworker_sqlite import quarantine
from qworker_sqlite.codec import encode_handle, new_token_base, sequence_number_text
from qworker_sqlite.rows import (
    COLUMNS,
    Refused,
    decode_attributes,
    is_text_decode_error,
    join_body,
    lenient_text,
    readable_id,
    row_problem,
)
from qworker_sqlite.store import QueueRow, Store

_MARK = (
    "UPDATE messages SET visible_at = ?1, receive_count = receive_count + 1, "
    "first_receive_ms = coalesce(first_receive_ms, ?2), received_ms = ?2, token = ?3 + seq "
)
_RECEIVE_STANDARD = (
    _MARK + "WHERE seq IN (SELECT seq FROM messages WHERE queue_id = ?4 AND visible_at <= ?2 "
    "ORDER BY visible_at LIMIT ?5) RETURNING " + COLUMNS
)
_RECEIVE_LISTED = _MARK + "WHERE seq IN (SELECT value FROM json_each(?4)) RETURNING " + COLUMNS
_MOVE_COLUMNS = (
    "seq, queue_id, visible_at, expires_at, receive_count, first_receive_ms, sent_ms, sequence_number, "
    "group_id, dedup_id, message_id, md5_body, md5_attrs, dlq_source, trace_header, last_error, attrs, body"
)
#: standard dead-letter queues keep the original enqueue time for retention (ESM-DLQ-4)
_MOVE_STANDARD = (
    f"INSERT INTO messages ({_MOVE_COLUMNS}) SELECT ?6, ?1, ?2, sent_ms + ?3, receive_count, "
    "first_receive_ms, sent_ms, NULL, group_id, dedup_id, message_id, md5_body, md5_attrs, ?4, trace_header, "
    "last_error, attrs, body FROM messages WHERE seq = ?5"
)
#: FIFO dead-letter queues restart retention (ESM-DLQ-4) and take the message id as the
#: deduplication id (SQS developer guide, "Using dead-letter queues with FIFO queues")
_MOVE_FIFO = (
    f"INSERT INTO messages ({_MOVE_COLUMNS}) SELECT ?6, ?1, ?2, ?2 + ?3, receive_count, first_receive_ms, "
    "sent_ms, ?7, group_id, message_id, message_id, md5_body, md5_attrs, ?4, trace_header, last_error, "
    "attrs, body FROM messages WHERE seq = ?5"
)
_BODIES = "SELECT seq, attrs, body FROM bodies WHERE seq IN (SELECT value FROM json_each(?))"


@dataclass(slots=True)
class ReceiveOutcome:
    """What one receive attempt did, and what a long poll needs to wait well."""

    messages: list[ReceivedMessage]
    #: epoch ms when a message may next be deliverable (``None``: the queue is empty)
    next_visible_ms: int | None
    #: ``(PRAGMA data_version, stamp)`` read before the attempt: a long poll waits for a later
    #: reading that differs (:mod:`qworker_sqlite.wakeups`)
    data_version: tuple[int, int]
    #: the queue's ``ReceiveMessageWaitTimeSeconds`` (the wait when the caller gives none)
    wait_seconds: float
    #: queues that received messages (dead-letter moves), so their waiters can be woken
    fed: list[str] = field(default_factory=list)
    #: the visibility timeout the messages were received with
    visibility_seconds: float = 0.0
    #: ``(message id, reason)`` of the rows this attempt set aside in the quarantine (T16)
    quarantined: list[tuple[str, str]] = field(default_factory=list)


def check_arguments(max_messages: int, wait_seconds: float | None, visibility_timeout: float | None) -> None:
    """ReceiveMessage's parameters, checked before any work (``InvalidParameterValue``)."""
    check_max_messages(max_messages)
    if wait_seconds is not None and (
        isinstance(wait_seconds, bool)
        or not isinstance(wait_seconds, int | float)
        or math.isnan(wait_seconds)
        or wait_seconds < 0
    ):
        raise InvalidParameterValue(
            f"Value {wait_seconds!r} for parameter WaitTimeSeconds is invalid. Reason: it must be a "
            "number of seconds >= 0."
        )
    if visibility_timeout is not None:
        error = check_visibility_timeout(visibility_timeout)
        if error is not None:
            raise InvalidParameterValue(error)


def visibility_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up: never visible earlier than asked."""
    return math.ceil(round(seconds * 1000, 6))


def receive(
    store: Store,
    queue_name: str,
    max_messages: int,
    visibility_timeout: float | None,
    may_wait: bool = True,
    reading: tuple[int, int] | None = None,
) -> ReceiveOutcome:
    """One receive attempt; see :meth:`qworker.backend.Backend.receive` for the contract.

    ``may_wait`` False (a short poll) skips reading ``PRAGMA data_version``, which only a long
    poll needs; ``reading`` is one just taken on this connection (by the probe that makes this
    attempt), which does as well: a reading older than needed only risks a spurious wake-up.
    """
    version = reading if reading is not None else store.data_version() if may_wait else (0, 0)
    queue = store.queue(queue_name)
    now = store.now_ms()
    next_visible = _next_visible(store, queue)
    swept: list[tuple[str, str]] = []
    if next_visible is None and queue.fifo and _has_messages(store, queue):
        swept = quarantine.sweep_fifo_orphans(store, queue).moved
    if next_visible is None or next_visible > now:
        return ReceiveOutcome(
            [], next_visible, version, queue.spec.receive_wait_time_seconds, quarantined=swept
        )
    try:
        taken = _take(store, queue, max_messages, visibility_timeout, lenient=False)
    except sqlite3.OperationalError as exc:
        if not is_text_decode_error(exc):
            raise
        # A TEXT value that is not UTF-8: the transaction was rolled back; fetch leniently.
        taken = _take(store, queue, max_messages, visibility_timeout, lenient=True)
    # Built after COMMIT: other processes need not wait for Python to make objects.
    messages, refused = build_messages(queue, taken.rows, taken.bodies)
    if refused:
        swept += quarantine.set_aside(store, queue, refused).moved
    spec = queue.spec
    return ReceiveOutcome(
        messages,
        taken.next_visible,
        version,
        spec.receive_wait_time_seconds,
        taken.fed,
        taken.visibility_seconds,
        swept,
    )


@dataclass(slots=True)
class _Taken:
    """What the receive transaction committed: rows marked received, and what waiters need."""

    rows: list[tuple]
    bodies: list[tuple]
    next_visible: int | None
    fed: list[str]
    visibility_seconds: float


def _take(
    store: Store, queue: QueueRow, max_messages: int, visibility_timeout: float | None, lenient: bool
) -> _Taken:
    """The receive transaction. ``lenient``: fetch the rows with
    :func:`~qworker_sqlite.rows.lenient_text`, for a receive that met non-UTF-8 text."""
    while True:
        with store.write():
            # The queue's row as it is now, in this transaction: its attributes may have changed
            # since it was read above (SetQueueAttributes: visibility timeout, redrive policy,
            # retention), and it may have been deleted (QueueDoesNotExist) or created again.
            queue = store.queue(queue.spec.name)
            now = store.now_ms()
            if store.expire(queue, now) >= store.expire_batch:
                continue  # a mass expiry: commit this bounded sweep, let other writers in, go on
            spec = queue.spec
            timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
            visible_at = now + visibility_ms(timeout)
            policy = spec.redrive_policy
            dlq = store.find_queue(policy.dead_letter_queue) if policy is not None else None
            receiver = _receive_fifo if queue.fifo else _receive_standard
            rows, moved = receiver(store, queue, dlq, max_messages, now, visible_at, lenient)
            next_visible = None if rows else _next_visible(store, queue)
            outside = [row[0] for row in rows if row[-1] is None]  # large: in the bodies table
            bodies = []
            if outside:
                with lenient_text(store.conn) if lenient else nullcontext():
                    bodies = store.conn.execute(_BODIES, (json.dumps(outside),)).fetchall()
        fed = [dlq.spec.name] if moved and dlq is not None else []
        break
    return _Taken(rows, bodies, next_visible, fed, float(timeout))


def _has_messages(store: Store, queue: QueueRow) -> bool:
    sql = "SELECT 1 FROM messages WHERE queue_id = ? LIMIT 1"
    return store.conn.execute(sql, (queue.id,)).fetchone() is not None


def _next_visible(store: Store, queue: QueueRow) -> int | None:
    if queue.fifo:
        sql = "SELECT min(available_at) FROM fifo_groups WHERE queue_id = ?"
    else:
        sql = "SELECT min(visible_at) FROM messages WHERE queue_id = ?"
    return store.conn.execute(sql, (queue.id,)).fetchone()[0]


def _receive_standard(
    store: Store, queue: QueueRow, dlq: QueueRow | None, limit: int, now: int, visible_at: int, lenient: bool
) -> tuple[list[tuple], int]:
    conn = store.conn
    token_base = new_token_base()
    if dlq is None:
        with lenient_text(conn) if lenient else nullcontext():
            rows = conn.execute(_RECEIVE_STANDARD, (visible_at, now, token_base, queue.id, limit)).fetchall()
        rows.sort()
        return rows, 0
    max_count = queue.spec.redrive_policy.max_receive_count  # type: ignore[union-attr]
    deliver: list[int] = []
    moved = 0
    cursor = (-1, -1)
    while len(deliver) < limit:
        wanted = limit - len(deliver)
        candidates = conn.execute(  # poison: compared in SQL, so a damaged count cannot raise here
            "SELECT visible_at, seq, typeof(receive_count) = 'integer' AND receive_count >= ? FROM messages "
            "WHERE queue_id = ? AND visible_at <= ? AND (visible_at, seq) > (?, ?) ORDER BY visible_at, seq "
            "LIMIT ?",
            (max_count, queue.id, now, cursor[0], cursor[1], wanted),
        ).fetchall()
        if not candidates:
            break
        cursor = candidates[-1][:2]
        poison = [seq for _, seq, dead in candidates if dead]
        deliver.extend(seq for _, seq, dead in candidates if not dead)
        if poison:
            move_to_dead_letter_queue(store, queue, dlq, [(seq, None) for seq in poison], now)
            moved += len(poison)
        if len(candidates) < wanted:
            break
    if not deliver:
        return [], moved
    with lenient_text(conn) if lenient else nullcontext():
        rows = conn.execute(_RECEIVE_LISTED, (visible_at, now, token_base, json.dumps(deliver))).fetchall()
    rows.sort()
    return rows, moved


def _receive_fifo(
    store: Store, queue: QueueRow, dlq: QueueRow | None, limit: int, now: int, visible_at: int, lenient: bool
) -> tuple[list[tuple], int]:
    """Fill from the heads of the groups that can deliver (SQS-F-2, ESM-FIFO-3).

    A group is skipped while any of its messages is in flight or its head is delayed; each group
    gives as many messages as it can, in order, before the next group is read.
    """
    conn = store.conn
    max_count = queue.spec.redrive_policy.max_receive_count if dlq is not None else None  # type: ignore[union-attr]
    deliver: list[int] = []
    poison: list[tuple[int, str]] = []
    touched: set[str] = set()
    cursor = -1
    while len(deliver) < limit:
        page = limit - len(deliver)
        groups = conn.execute(  # ready groups, oldest head first (see Backend.receive)
            "SELECT head_seq, group_id FROM fifo_groups WHERE queue_id = ? AND head_seq > ? "
            "AND available_at <= ? ORDER BY head_seq LIMIT ?",
            (queue.id, cursor, now, page),
        ).fetchall()
        for head_seq, group in groups:
            cursor = head_seq
            if group in touched:
                continue
            touched.add(group)
            _take_from_group(store, queue, group, limit, now, max_count, deliver, poison)
            if len(deliver) >= limit:
                break
        if len(groups) < page:
            break
    if poison:
        assert dlq is not None
        move_to_dead_letter_queue(store, queue, dlq, poison, now)
    rows = []
    if deliver:
        with lenient_text(conn) if lenient else nullcontext():
            rows = conn.execute(
                _RECEIVE_LISTED, (visible_at, now, new_token_base(), json.dumps(deliver))
            ).fetchall()
        order = {seq: index for index, seq in enumerate(deliver)}
        rows.sort(key=lambda row: order[row[0]])
    if touched:
        store.refresh_groups(queue.id, touched)
    return rows, len(poison)


def _take_from_group(
    store: Store,
    queue: QueueRow,
    group: str,
    limit: int,
    now: int,
    max_count: int | None,
    deliver: list[int],
    poison: list[tuple[int, str]],
) -> None:
    """Append the group's deliverable head messages to ``deliver`` (poison ones to ``poison``)."""
    last_seq = -1
    while True:
        wanted = limit - len(deliver)
        rows = store.conn.execute(  # compared in SQL, so damaged values cannot raise here
            "SELECT seq, visible_at > ?, typeof(receive_count) = 'integer' AND receive_count >= ? "
            "FROM messages WHERE queue_id = ? AND group_id = ? AND sequence_number IS NOT NULL AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (now, max_count if max_count is not None else -1, queue.id, group, last_seq, wanted),
        ).fetchall()
        for seq, hidden, dead in rows:
            if hidden:  # delayed (or, defensively, in flight): the group stops here
                return
            if max_count is not None and dead:
                poison.append((seq, group))
            else:
                deliver.append(seq)
                if len(deliver) >= limit:
                    return
            last_seq = seq
        if len(rows) < wanted:
            return


def move_to_dead_letter_queue(
    store: Store, source: QueueRow, dlq: QueueRow, messages: list[tuple[int, str | None]], now: int
) -> None:
    """Move messages (``(seq, group)``) to ``dlq`` in this order, keeping id, body, attributes and
    receive count and adding ``DeadLetterQueueSourceArn`` (ESM-DLQ-2, ESM-DLQ-4, ESM-DLQ-5)."""
    conn = store.conn
    source_arn = arn.queue_arn(source.spec.name)
    # added to the enqueue time (standard: the original one, FIFO: now), net of the DLQ's shift
    retention = dlq.spec.message_retention_period * 1000 - dlq.expiry_shift_ms
    seqs = [seq for seq, _ in messages]
    first = store.first_free_seq()
    if dlq.fifo:
        number = store.next_sequence_numbers(dlq.id, len(messages))
        conn.executemany(
            _MOVE_FIFO,
            [(dlq.id, now, retention, source_arn, seq, first + i, number + i) for i, seq in enumerate(seqs)],
        )
        heads: dict[str, int] = {}
        for _, group in messages:
            if group is not None:
                heads.setdefault(group, now)
        store.add_groups(dlq.id, heads)
    else:
        conn.executemany(
            _MOVE_STANDARD,
            [(dlq.id, now, retention, source_arn, seq, first + i) for i, seq in enumerate(seqs)],
        )
    store.copy_bodies([(first + i, seq) for i, seq in enumerate(seqs)])
    conn.execute("DELETE FROM messages WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(seqs),))


def build_messages(
    queue: QueueRow, rows: list[tuple], bodies: list[tuple]
) -> tuple[list[ReceivedMessage], list[Refused]]:
    """:class:`ReceivedMessage` objects from received rows of :data:`COLUMNS` and their large
    ``bodies``, and the rows that do not decode (for the quarantine, T16)."""
    queue_id = queue.id
    fifo = queue.fifo
    sender = arn.account_id()
    by_seq = {seq: (attrs, body) for seq, attrs, body in bodies}
    messages = []
    refused = []
    for row in rows:
        (seq, message_id, md5_body, md5_attrs, sent_ms, count, first_receive, token, group, dedup_id,
         sequence_number, dlq_source, trace, attrs, body) = row  # fmt: skip
        if body is None:
            pair = by_seq.get(seq)
            if pair is None:
                refused.append(Refused(seq, token, readable_id(seq, message_id), "missing-body"))
                continue
            attrs, body = pair
        # Types first, in one expression (the common case costs a few type() calls per row);
        # the exact reason is worked out only for a row that fails.
        if not (
            type(body) is str
            and type(message_id) is str
            and type(md5_body) is str
            and type(sent_ms) is int
            and type(count) is int
            and type(token) is int
            and (md5_attrs is None or type(md5_attrs) is str)
            and (first_receive is None or type(first_receive) is int)
            and (group is None or type(group) is str)
            and (dedup_id is None or type(dedup_id) is str)
            and (sequence_number is None or type(sequence_number) is int)
            and (dlq_source is None or type(dlq_source) is str)
            and (trace is None or type(trace) is str)
            and (attrs is None or type(attrs) is bytes)
            and (not fifo or (group is not None and sequence_number is not None))
        ):
            full = join_body(row, by_seq) or row
            reason = row_problem(full, fifo) or "bad-type:token"
            refused.append(Refused(seq, token, readable_id(seq, message_id), reason))
            continue
        message_attributes = decode_attributes(attrs) if attrs is not None else {}
        if type(message_attributes) is str:
            refused.append(Refused(seq, token, message_id, message_attributes))
            continue
        attributes = stored_system_attributes(
            sender, sent_ms, count, first_receive, group, dedup_id, sequence_number, dlq_source, trace
        )
        handle = encode_handle(queue_id, seq, token)
        messages.append(
            ReceivedMessage(message_id, handle, body, md5_body, attributes, message_attributes, md5_attrs)
        )
    return messages, refused


def stored_system_attributes(
    sender: str,
    sent_ms: int,
    receive_count: int,
    first_receive_ms: int | None,
    group: str | None,
    dedup_id: str | None,
    sequence_number: int | None,
    dlq_source: str | None,
    trace_header: str | None,
) -> dict[str, str]:
    """The SQS system attributes (EVT-4) of a message from its stored columns
    (``ApproximateFirstReceiveTimestamp`` is ``"0"`` for a message never received, as in peek)."""
    return system_attributes(
        receive_count=receive_count,
        sent_ms=sent_ms,
        first_receive_ms=first_receive_ms or 0,
        sender_id=sender,
        sequence_number=sequence_number_text(sequence_number) if sequence_number is not None else None,
        group_id=group,
        dedup_id=dedup_id,
        trace_header=trace_header,
        dead_letter_source_arn=dlq_source,
    )

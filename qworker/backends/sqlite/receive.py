"""ReceiveMessage on SQLite: standard and FIFO receives, and the dead-letter move (ESM-DLQ-2).

A receive first checks, without any lock, whether anything can be delivered (the smallest
``visible_at`` of a standard queue, the smallest ``available_at`` of a FIFO queue's groups); an
idle poller therefore never takes the write lock. Otherwise one ``BEGIN IMMEDIATE`` transaction
drops expired messages, picks the messages, moves poison messages to the dead-letter queue and
marks the rest received, returning their rows with ``UPDATE ... RETURNING``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import structlog

from qworker import arn
from qworker.backend import ReceivedMessage, system_attributes
from qworker.backends.sqlite.codec import (
    CorruptRecord,
    encode_handle,
    new_token_base,
    sequence_number_text,
    unpack_attributes,
)
from qworker.backends.sqlite.store import QueueRow, Store

log = structlog.get_logger("qworker.sqlite")

#: the columns :func:`build_message` reads, in order
COLUMNS = (
    "seq, message_id, md5_body, md5_attrs, sent_ms, receive_count, first_receive_ms, token, group_id, "
    "dedup_id, sequence_number, dlq_source, trace_header, attrs, body"
)
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
    #: reading that differs (:mod:`qworker.backends.sqlite.wakeups`)
    data_version: tuple[int, int]
    #: the queue's ``ReceiveMessageWaitTimeSeconds`` (the wait when the caller gives none)
    wait_seconds: float
    #: queues that received messages (dead-letter moves), so their waiters can be woken
    fed: list[str] = field(default_factory=list)
    #: the visibility timeout the messages were received with
    visibility_seconds: float = 0.0


def visibility_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up: never visible earlier than asked."""
    return math.ceil(round(seconds * 1000, 6))


def receive(
    store: Store, queue_name: str, max_messages: int, visibility_timeout: float | None, may_wait: bool = True
) -> ReceiveOutcome:
    """One receive attempt; see :meth:`qworker.backend.Backend.receive` for the contract.

    ``may_wait`` False (a short poll) skips reading ``PRAGMA data_version``, which only a long
    poll needs.
    """
    version = store.data_version() if may_wait else (0, 0)
    queue = store.queue(queue_name)
    now = store.now_ms()
    next_visible = _next_visible(store, queue)
    if next_visible is None or next_visible > now:
        return ReceiveOutcome([], next_visible, version, queue.spec.receive_wait_time_seconds)
    with store.write():
        # No second look-up of the queue: a queue's row never changes (attributes are fixed at
        # creation; a re-created queue gets a new id), and if it was deleted meanwhile its
        # messages are gone and this finds nothing.
        now = store.now_ms()
        store.expire(queue, now)
        spec = queue.spec
        timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
        visible_at = now + visibility_ms(timeout)
        policy = spec.redrive_policy
        dlq = store.find_queue(policy.dead_letter_queue) if policy is not None else None
        receiver = _receive_fifo if queue.fifo else _receive_standard
        rows, moved = receiver(store, queue, dlq, max_messages, now, visible_at)
        next_visible = None if rows else _next_visible(store, queue)
        outside = [row[0] for row in rows if row[-1] is None]  # large: in the bodies table
        bodies = store.conn.execute(_BODIES, (json.dumps(outside),)).fetchall() if outside else []
    # Built after COMMIT: other processes need not wait for Python to make objects.
    fed = [dlq.spec.name] if moved and dlq is not None else []
    return ReceiveOutcome(
        build_messages(queue, rows, bodies),
        next_visible,
        version,
        spec.receive_wait_time_seconds,
        fed,
        float(timeout),
    )


def _next_visible(store: Store, queue: QueueRow) -> int | None:
    if queue.fifo:
        sql = "SELECT min(available_at) FROM fifo_groups WHERE queue_id = ?"
    else:
        sql = "SELECT min(visible_at) FROM messages WHERE queue_id = ?"
    return store.conn.execute(sql, (queue.id,)).fetchone()[0]


def _receive_standard(
    store: Store, queue: QueueRow, dlq: QueueRow | None, limit: int, now: int, visible_at: int
) -> tuple[list[tuple], int]:
    conn = store.conn
    token_base = new_token_base()
    if dlq is None:
        rows = conn.execute(_RECEIVE_STANDARD, (visible_at, now, token_base, queue.id, limit)).fetchall()
        rows.sort()
        return rows, 0
    max_count = queue.spec.redrive_policy.max_receive_count  # type: ignore[union-attr]
    deliver: list[int] = []
    moved = 0
    cursor = (-1, -1)
    while len(deliver) < limit:
        wanted = limit - len(deliver)
        candidates = conn.execute(
            "SELECT visible_at, seq, receive_count FROM messages WHERE queue_id = ? AND visible_at <= ? "
            "AND (visible_at, seq) > (?, ?) ORDER BY visible_at, seq LIMIT ?",
            (queue.id, now, cursor[0], cursor[1], wanted),
        ).fetchall()
        if not candidates:
            break
        cursor = candidates[-1][:2]
        poison = [seq for _, seq, count in candidates if count >= max_count]
        deliver.extend(seq for _, seq, count in candidates if count < max_count)
        if poison:
            move_to_dead_letter_queue(store, queue, dlq, [(seq, None) for seq in poison], now)
            moved += len(poison)
        if len(candidates) < wanted:
            break
    if not deliver:
        return [], moved
    rows = conn.execute(_RECEIVE_LISTED, (visible_at, now, token_base, json.dumps(deliver))).fetchall()
    rows.sort()
    return rows, moved


def _receive_fifo(
    store: Store, queue: QueueRow, dlq: QueueRow | None, limit: int, now: int, visible_at: int
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
        rows = store.conn.execute(
            "SELECT seq, visible_at, receive_count FROM messages WHERE queue_id = ? AND group_id = ? "
            "AND sequence_number IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?",
            (queue.id, group, last_seq, wanted),
        ).fetchall()
        for seq, message_visible_at, count in rows:
            if message_visible_at > now:  # delayed (or, defensively, in flight): the group stops here
                return
            if max_count is not None and count >= max_count:
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
    retention = dlq.spec.message_retention_period * 1000
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
    queue: QueueRow, rows: list[tuple], bodies: list[tuple[int, bytes | None, str]]
) -> list[ReceivedMessage]:
    """:class:`ReceivedMessage` objects from rows of :data:`COLUMNS` and the large ``bodies``.

    A row that cannot be decoded (:class:`CorruptRecord`: written by another program, or
    damaged) is left out and logged; the message stays in flight, so it comes back after its
    visibility timeout and, on a queue with a redrive policy, goes to the dead-letter queue after
    ``maxReceiveCount`` receives. It never fails the receive of the other messages.
    """
    queue_id = queue.id
    sender = arn.account_id()
    by_seq = {seq: (attrs, body) for seq, attrs, body in bodies}
    messages = []
    for row in rows:
        try:
            messages.append(received_message(queue_id, sender, row, by_seq))
        except CorruptRecord as exc:
            log.warning(
                "sqlite.message_undecodable",
                queue=queue.spec.name,
                message_id=str(row[1])[:128],
                reason=exc.reason,
                advice="the message stays in flight; a redrive policy moves it to the dead-letter queue",
            )
    return messages


def received_message(
    queue_id: int, sender: str, row: tuple, by_seq: dict[int, tuple[bytes | None, str]]
) -> ReceivedMessage:
    """One row of :data:`COLUMNS` as a :class:`ReceivedMessage`; raises :class:`CorruptRecord`
    (only) when a column does not hold what qworker writes there."""
    (seq, message_id, md5_body, md5_attrs, sent_ms, count, first_receive, token, group, dedup_id,
     sequence_number, dlq_source, trace, attrs, body) = row  # fmt: skip
    if body is None:
        attrs, body = by_seq.get(seq, (None, None))
    # the column types qworker writes (SQLite keeps whatever another program stores): one
    # expression on this hot path, the failing column named only when one fails
    if not (
        type(body) is str
        and type(seq) is int
        and type(sent_ms) is int
        and type(count) is int
        and type(token) is int
        and type(message_id) is str
        and type(md5_body) is str
        and (first_receive is None or type(first_receive) is int)
        and (sequence_number is None or type(sequence_number) is int)
        and (md5_attrs is None or type(md5_attrs) is str)
        and (group is None or type(group) is str)
        and (dedup_id is None or type(dedup_id) is str)
        and (dlq_source is None or type(dlq_source) is str)
        and (trace is None or type(trace) is str)
    ):
        if type(token) is not int:
            raise CorruptRecord("bad-column:token")
        check_message_columns(
            seq, message_id, md5_body, md5_attrs, sent_ms, count, first_receive, group, dedup_id,
            sequence_number, dlq_source, trace, body,
        )  # fmt: skip
    attributes = stored_system_attributes(
        sender, sent_ms, count, first_receive, group, dedup_id, sequence_number, dlq_source, trace
    )
    handle = encode_handle(queue_id, seq, token)
    return ReceivedMessage(
        message_id, handle, body, md5_body, attributes, unpack_attributes(attrs), md5_attrs
    )


def check_message_columns(
    seq: object,
    message_id: object,
    md5_body: object,
    md5_attrs: object,
    sent_ms: object,
    count: object,
    first_receive: object,
    group: object,
    dedup_id: object,
    sequence_number: object,
    dlq_source: object,
    trace: object,
    body: object,
) -> None:
    """Raise :class:`CorruptRecord` naming the first column whose type is not the one qworker
    writes (SQLite keeps whatever type another program stores in a column). One expression on
    the hot path; the column is named only when something is wrong."""
    if (
        type(body) is str
        and type(seq) is int
        and type(sent_ms) is int
        and type(count) is int
        and type(message_id) is str
        and type(md5_body) is str
        and (first_receive is None or type(first_receive) is int)
        and (sequence_number is None or type(sequence_number) is int)
        and (md5_attrs is None or type(md5_attrs) is str)
        and (group is None or type(group) is str)
        and (dedup_id is None or type(dedup_id) is str)
        and (dlq_source is None or type(dlq_source) is str)
        and (trace is None or type(trace) is str)
    ):
        return
    if body is None:
        raise CorruptRecord("missing-body")
    columns = {
        "body": (body, str, False),
        "seq": (seq, int, False),
        "sent_ms": (sent_ms, int, False),
        "receive_count": (count, int, False),
        "message_id": (message_id, str, False),
        "md5_body": (md5_body, str, False),
        "first_receive_ms": (first_receive, int, True),
        "sequence_number": (sequence_number, int, True),
        "md5_attrs": (md5_attrs, str, True),
        "group_id": (group, str, True),
        "dedup_id": (dedup_id, str, True),
        "dlq_source": (dlq_source, str, True),
        "trace_header": (trace, str, True),
    }
    for name, (value, kind, nullable) in columns.items():
        if not ((nullable and value is None) or type(value) is kind):
            raise CorruptRecord(f"bad-column:{name}")


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

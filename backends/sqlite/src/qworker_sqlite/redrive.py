"""Moving dead letters back (SQS StartMessageMoveTask, SPEC ESM-DLQ-6), in chunks.

:func:`plan` lists the dead-letter queue's messages visible at the start; :func:`move_chunk`
moves some of them in one transaction. The async layer calls it chunk by chunk, sleeping between
chunks to honour ``max_per_second`` and releasing the write lock so workers keep running.
A dead letter whose row does not decode is set aside in the dead-letter queue's quarantine
instead of being moved (RELIABILITY T16), and counts as failed.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qworker import arn
from qworker.errors import InvalidParameterValue
from qworker_sqlite import quarantine
from qworker_sqlite.rows import COLUMNS, Refused, join_body, lenient_text, readable_id, row_problem
from qworker_sqlite.store import QueueRow, Store

_COPY = (
    "INSERT INTO messages (seq, queue_id, visible_at, expires_at, sent_ms, sequence_number, group_id, "
    "dedup_id, message_id, md5_body, md5_attrs, trace_header, attrs, body) "
    "SELECT ?8, ?1, ?2, ?3, ?4, ?5, group_id, dedup_id, ?6, md5_body, md5_attrs, trace_header, attrs, body "
    "FROM messages WHERE seq = ?7"
)


@dataclass(slots=True)
class ChunkResult:
    """What one chunk did."""

    moved: int = 0
    failed: int = 0
    fed: set[str] = field(default_factory=set)  #: destination queues (to wake their waiters)
    #: ``(message id, reason)`` of the dead letters set aside in the quarantine (T16)
    quarantined: list[tuple[str, str]] = field(default_factory=list)


def plan(store: Store, dead_letter_queue: str, destination: str | None) -> list[int]:
    """Check the request and list the ``seq`` of every message visible in the queue now."""
    dlq = store.queue(dead_letter_queue)
    if destination is not None:
        target = store.queue(destination)
        _check_destination(dlq, target)
    now = store.now_ms()
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT seq FROM messages WHERE queue_id = ? AND visible_at <= ? AND expires_at > ? ORDER BY seq",
            (dlq.id, now, dlq.expiry_cutoff(now)),
        )
    ]


def _check_destination(dlq: QueueRow, target: QueueRow) -> None:
    if target.id == dlq.id:
        raise InvalidParameterValue("The destination of a message move task cannot be its source queue.")
    if target.fifo != dlq.fifo:
        raise InvalidParameterValue(
            f"Cannot move messages from {'a FIFO' if dlq.fifo else 'a standard'} queue to "
            f"{target.spec.name!r}: source and destination must both be FIFO or both standard."
        )


def move_chunk(
    store: Store, dead_letter_queue: str, destination: str | None, seqs: Sequence[int]
) -> ChunkResult:
    """Move these messages (those still visible) as new messages; the rest count as failed.

    A message goes to ``destination`` or else to the queue named by its
    ``DeadLetterQueueSourceArn``; one without a source, or whose source queue no longer exists,
    stays and counts as failed. Deleted or expired messages count as neither.
    """
    result = ChunkResult()
    with store.write() as conn:
        dlq = store.queue(dead_letter_queue)
        now = store.now_ms()
        rows, by_seq = _read_chunk(conn, dlq, now, seqs)
        by_target, refused = _route(rows, by_seq, dlq, destination, result)
        if refused:
            result.quarantined = quarantine.move_aside(store, dlq, refused, now).moved
        _move(store, conn, dlq, by_target, now, result)
    return result


def _read_chunk(
    conn: sqlite3.Connection, dlq: QueueRow, now: int, seqs: Sequence[int]
) -> tuple[list[tuple[Any, ...]], dict[int, tuple[Any, Any]]]:
    """The chunk's rows (with ``expired`` and ``hidden`` flags) and the bodies stored apart."""
    with lenient_text(conn):  # every column, read strictly: what cannot be read is set aside
        rows = conn.execute(
            f"SELECT {COLUMNS}, expires_at <= ?, visible_at > ? FROM messages "
            "WHERE seq IN (SELECT value FROM json_each(?)) AND +queue_id = ? ORDER BY seq",
            (dlq.expiry_cutoff(now), now, json.dumps(list(seqs)), dlq.id),
        ).fetchall()
        outside = [row[0] for row in rows if row[14] is None]
        by_seq = {
            seq: (attrs, body)
            for seq, attrs, body in conn.execute(
                "SELECT seq, attrs, body FROM bodies WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps(outside),),
            )
        }
    return rows, by_seq


def _route(
    rows: list[tuple[Any, ...]],
    by_seq: dict[int, tuple[Any, Any]],
    dlq: QueueRow,
    destination: str | None,
    result: ChunkResult,
) -> tuple[dict[str, list[tuple[int, str | None]]], list[Refused]]:
    """Where each readable, visible message goes (by target queue name), and the undecodable
    ones to set aside; the rest are counted as failed in ``result``."""
    by_target: dict[str, list[tuple[int, str | None]]] = {}
    refused: list[Refused] = []
    for row in rows:
        seq, token, expired, hidden = row[0], row[7], row[15], row[16]
        if expired:
            continue
        full = join_body(row[:15], by_seq)
        problem = "missing-body" if full is None else row_problem(full, dlq.fifo)
        if problem is not None:
            if not hidden:  # one received meanwhile is left to its receiver (and its receive)
                refused.append(Refused(seq, token, readable_id(seq, row[1]), problem))
            result.failed += 1
            continue
        target = destination if destination is not None else _source_queue(row[11])
        if hidden or target is None:  # received meanwhile, or nowhere to go
            result.failed += 1
            continue
        by_target.setdefault(target, []).append((seq, row[8]))
    return by_target, refused


def _source_queue(source_arn: str | None) -> str | None:
    """The queue named by a ``DeadLetterQueueSourceArn``, or None."""
    if source_arn is None:
        return None
    try:
        return arn.queue_name_from_arn(source_arn)
    except ValueError:
        return None


def _move(
    store: Store,
    conn: sqlite3.Connection,
    dlq: QueueRow,
    by_target: dict[str, list[tuple[int, str | None]]],
    now: int,
    result: ChunkResult,
) -> None:
    """Copy each target's messages to it and delete them from the dead-letter queue; a target
    that is gone, of the other type or the DLQ itself fails its messages."""
    moved: list[int] = []
    dlq_groups: set[str] = set()
    for name, messages in by_target.items():
        target_queue = store.find_queue(name)
        if target_queue is None or target_queue.fifo != dlq.fifo or target_queue.id == dlq.id:
            result.failed += len(messages)
            continue
        _copy(store, target_queue, messages, now)
        moved.extend(seq for seq, _ in messages)
        dlq_groups.update(group for _, group in messages if group is not None)
        result.fed.add(name)
    if moved:
        conn.execute(
            "DELETE FROM messages WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(moved),)
        )
        if dlq.fifo:
            store.refresh_groups(dlq.id, dlq_groups)
    result.moved = len(moved)


def _copy(store: Store, target: QueueRow, messages: list[tuple[int, str | None]], now: int) -> None:
    """New messages in ``target``: new id, sent now, never received; body, attributes, group and
    trace header kept; FIFO messages get the target's next sequence numbers."""
    spec = target.spec
    visible_at = now + spec.delay_seconds * 1000
    expires_at = target.expires_at(now)
    sequence = store.next_sequence_numbers(target.id, len(messages)) if target.fifo else None
    first = store.first_free_seq()
    params = []
    heads: dict[str, int] = {}
    for index, (seq, group) in enumerate(messages):
        number = sequence + index if sequence is not None else None
        params.append((target.id, visible_at, expires_at, now, number, str(uuid.uuid4()), seq, first + index))
        if target.fifo and group is not None:
            heads.setdefault(group, visible_at)
    store.conn.executemany(_COPY, params)
    store.copy_bodies([(first + index, seq) for index, (seq, _) in enumerate(messages)])
    if heads:
        store.add_groups(target.id, heads)

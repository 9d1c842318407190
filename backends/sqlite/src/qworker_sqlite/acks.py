"""Calls that act on received messages by receipt handle, and ``peek``.

Receipt handles are fencing tokens (SPEC SQS-RH-1, ESM-F-6): a handle acts on its message only
while its token is the message's latest. Handles are decoded before the lock is taken; each
call is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from qworker import arn
from qworker.backend import BatchEntryError, FailureNote, PeekedMessage, VisibilityChange
from qworker.limits import MAX_VISIBILITY_TIMEOUT, check_max_messages, check_visibility_timeout
from qworker_sqlite.codec import decode_handle
from qworker_sqlite.receive import stored_system_attributes, visibility_ms
from qworker_sqlite.rows import decode_attributes, lenient_text, readable_id, row_problem
from qworker_sqlite.store import QueueRow, Store

#: the longest a failure note is kept (the runtime sends short texts; this only bounds the row)
MAX_FAILURE_NOTE = 32_768
_SEQS = "SELECT value FROM json_each(?)"


def _invalid(handle: object) -> BatchEntryError:
    return BatchEntryError(
        str(handle),
        "ReceiptHandleIsInvalid",
        f'The input receipt handle "{handle}" is not a valid receipt handle.',
    )


def _decode(
    queue: QueueRow, handles: Sequence[str]
) -> tuple[list[tuple[int, str, int, int]], list[BatchEntryError]]:
    """``(position, handle, seq, token)`` of this queue's handles, and errors for the others."""
    decoded = []
    failed = []
    for position, handle in enumerate(handles):
        parts = decode_handle(handle)
        if parts is None or parts[0] != queue.id:
            failed.append(_invalid(handle))
        else:
            decoded.append((position, handle, parts[1], parts[2]))
    return decoded, failed


def delete(store: Store, queue_name: str, handles: Sequence[str]) -> tuple[list[BatchEntryError], bool]:
    """Delete by receipt handle; returns the failed entries and whether a FIFO group may have
    been unlocked (its waiters should look again)."""
    queue = store.queue(queue_name)
    decoded, failed = _decode(queue, handles)
    if not decoded:
        return failed, False
    # A queue deleted meanwhile took its messages along: its handles then find nothing (success).
    with store.write() as conn:
        seqs = json.dumps([seq for _, _, seq, _ in decoded])
        if not queue.fifo:
            deleted = conn.executemany(
                "DELETE FROM messages WHERE seq = ? AND token = ? AND +queue_id = ?",
                [(seq, token, queue.id) for _, _, seq, token in decoded],
            ).rowcount
            if deleted < len(decoded):  # some handle was stale, or its message already gone
                present = {
                    row[0]
                    for row in conn.execute(
                        f"SELECT seq FROM messages WHERE seq IN ({_SEQS}) AND +queue_id = ?", (seqs, queue.id)
                    )
                }
                failed.extend(_stale(handle) for _, handle, seq, _ in decoded if seq in present)
            return failed, False
        current = {
            seq: (token, group)
            for seq, token, group in conn.execute(
                f"SELECT seq, token, group_id FROM messages WHERE seq IN ({_SEQS}) AND +queue_id = ?",
                (seqs, queue.id),
            )
        }
        doomed = []
        groups = set()
        for _, handle, seq, token in decoded:
            row = current.get(seq)
            if row is None:
                continue  # already gone: the caller's wish is granted
            if row[0] != token:
                failed.append(_stale(handle))
            else:
                doomed.append(seq)
                groups.add(row[1])
        if doomed:
            conn.execute(f"DELETE FROM messages WHERE seq IN ({_SEQS})", (json.dumps(doomed),))
            store.refresh_groups(queue.id, groups)
    return failed, bool(doomed)


def delete_by_id(store: Store, queue_name: str, message_ids: Sequence[str]) -> tuple[list[str], bool]:
    """Delete by message id, whatever the state (an operator's delete of a peeked message);
    returns the ids deleted and whether a FIFO group may have been unlocked. Finding an id scans
    the queue's rows (there is no index on message ids: the hot paths never need one), which is
    fine for a person clicking **Delete**."""
    queue = store.queue(queue_name)
    if not message_ids:
        return [], False
    with store.write() as conn:
        rows = conn.execute(
            f"DELETE FROM messages WHERE queue_id = ? AND message_id IN ({_SEQS}) "
            "RETURNING message_id, group_id",
            (queue.id, json.dumps(list(message_ids))),
        ).fetchall()
        groups = {group for _, group in rows if group is not None}
        if queue.fifo and groups:
            store.refresh_groups(queue.id, groups)
    return [row[0] for row in rows], bool(groups)


def _stale(handle: str) -> BatchEntryError:
    return BatchEntryError(
        handle,
        "ReceiptHandleIsStale",
        "The message was received again after this receipt handle was issued (its visibility timeout "
        "ran out), so this handle no longer deletes it.",
    )


def change_visibility(
    store: Store, queue_name: str, changes: Sequence[VisibilityChange]
) -> tuple[list[BatchEntryError], bool]:
    """Change visibility by receipt handle; returns the failed entries and whether a message may
    have become receivable (its queue's waiters should look again)."""
    queue = store.queue(queue_name)
    decoded, failed = _decode(queue, [change.receipt_handle for change in changes])
    wanted = []
    for position, handle, seq, token in decoded:
        timeout = changes[position].visibility_timeout
        error = check_visibility_timeout(timeout)
        if error is not None:
            failed.append(BatchEntryError(handle, "InvalidParameterValue", error))
        else:
            wanted.append((handle, seq, token, visibility_ms(timeout)))
    if not wanted:
        return failed, False
    with store.write() as conn:
        now = store.now_ms()
        # the retention shift as it is now (SetQueueAttributes); a queue deleted meanwhile took
        # its messages along, and its handles find nothing
        cutoff = (store.find_queue(queue_name) or queue).expiry_cutoff(now)
        rows = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT seq, token, visible_at, received_ms, expires_at, group_id FROM messages "
                f"WHERE seq IN ({_SEQS}) AND +queue_id = ?",
                (json.dumps([seq for _, seq, _, _ in wanted]), queue.id),
            )
        }
        updates = []
        groups = set()
        for handle, seq, token, timeout_ms in wanted:
            refusal = _visibility_refusal(rows.get(seq), token, now, cutoff, timeout_ms)
            if refusal is not None:
                failed.append(BatchEntryError(handle, *refusal))
                continue
            updates.append((now + timeout_ms, seq))
            groups.add(rows[seq][4])
        if updates:
            conn.executemany("UPDATE messages SET visible_at = ? WHERE seq = ?", updates)
            if queue.fifo:
                store.refresh_groups(queue.id, groups)
    woke = any(visible_at <= now for visible_at, _ in updates) or (queue.fifo and bool(updates))
    return failed, woke


def _visibility_refusal(
    row: tuple[Any, ...] | None, token: Any, now: int, cutoff: int, timeout_ms: int
) -> tuple[str, str] | None:
    """Why a visibility change of this message (row: token, visible_at, received_ms, expires_at,
    group_id) is refused, as (code, message), or None: it must still be in flight under this
    receipt, and the total timeout stays within 12 hours of its receive (SQS-V-2)."""
    if row is None or row[0] != token or row[1] <= now or row[3] <= cutoff:
        return (
            "MessageNotInflight",
            "The message referred to is not in flight: it is visible again, was received "
            "again, or no longer exists.",
        )
    if now + timeout_ms > row[2] + MAX_VISIBILITY_TIMEOUT * 1000:
        return (
            "InvalidParameterValue",
            f"Value {timeout_ms / 1000:g} for parameter VisibilityTimeout is invalid. Reason: "
            f"Total VisibilityTimeout for the message is beyond the limit "
            f"[{MAX_VISIBILITY_TIMEOUT} seconds] counted from its receive.",
        )
    return None


def record_failures(store: Store, queue_name: str, notes: Sequence[FailureNote]) -> None:
    """Store each note's error with its message while its handle is current (else ignore it)."""
    queue = store.find_queue(queue_name)
    if queue is None:
        return
    params = []
    for note in notes:
        parts = decode_handle(note.receipt_handle)
        if parts is not None and parts[0] == queue.id:
            params.append((str(note.error)[:MAX_FAILURE_NOTE], parts[1], parts[2], queue.id))
    if params:
        with store.write() as conn:
            conn.executemany(
                "UPDATE messages SET last_error = ? WHERE seq = ? AND token = ? AND +queue_id = ?", params
            )


def peek(store: Store, queue_name: str, max_messages: int) -> list[PeekedMessage]:
    """Up to ``max_messages`` messages in send order with their state; changes nothing.

    A row that does not decode (T16) is shown with an empty body and what it is in
    ``last_error``; the receive that meets it sets it aside.
    """
    check_max_messages(max_messages)
    queue = store.queue(queue_name)
    now = store.now_ms()
    sender = arn.account_id()
    with lenient_text(store.conn):
        rows = store.conn.execute(
            "SELECT m.seq, m.message_id, m.md5_body, m.md5_attrs, m.sent_ms, m.receive_count, "
            "m.first_receive_ms, m.token, m.group_id, m.dedup_id, m.sequence_number, m.dlq_source, "
            "m.trace_header, iif(m.body IS NULL, b.attrs, m.attrs), iif(m.body IS NULL, b.body, m.body), "
            "CASE WHEN m.visible_at <= ?2 THEN 'visible' WHEN m.token IS NOT NULL THEN 'in_flight' "
            "ELSE 'delayed' END, m.visible_at, m.last_error "
            "FROM (SELECT * FROM messages WHERE queue_id = ?1 AND expires_at > ?4 ORDER BY seq LIMIT ?3) "
            "AS m "
            "LEFT JOIN bodies AS b ON m.body IS NULL AND b.seq = m.seq ORDER BY m.seq",
            (queue.id, now, max_messages, queue.expiry_cutoff(now)),
        ).fetchall()
    peeked = []
    for row in rows:
        (seq, message_id, _md5, _md5_attrs, sent_ms, count, first_receive, _token, group, dedup_id,
         sequence_number, dlq_source, trace, attrs, body) = row[:15]  # fmt: skip
        state, visible_at, last_error = row[15:]
        problem = "missing-body" if body is None else row_problem(row[:15], queue.fifo)
        if problem is None:
            system = stored_system_attributes(
                sender, sent_ms, count, first_receive, group, dedup_id, sequence_number, dlq_source, trace
            )
            message_attributes = decode_attributes(attrs)
            assert type(message_attributes) is dict  # row_problem decoded them
        else:
            body, message_attributes = "", {}
            system = {"SentTimestamp": str(sent_ms)} if type(sent_ms) is int else {}
            last_error = f"corrupt message ({problem}); it will be quarantined when received"
        peeked.append(
            PeekedMessage(
                message_id=readable_id(seq, message_id),
                body=body,
                attributes=system,
                message_attributes=message_attributes,
                state=state,
                visible_at=visible_at if type(visible_at) is int else 0,
                last_error=last_error if last_error is None or type(last_error) is str else repr(last_error),
            )
        )
    return peeked

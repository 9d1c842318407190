"""The synchronous core of the SQLite backend: one connection, used only by one worker thread.

Every protocol call is one :class:`Store` method call on the worker thread, and every call that
writes is one ``BEGIN IMMEDIATE`` transaction, so a crash at any point leaves the database as it
was before or after the whole call. Times are integer epoch milliseconds from the injected clock.

This module holds the transaction helper, the queue catalogue (create, get, list, purge, delete)
and the upkeep shared by the message operations in the sibling modules: dropping expired messages
(SQS-L-3) and keeping ``fifo_groups.available_at`` exact.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from qworker import arn
from qworker.backend import QueueCounts, QueueInfo, QueueSpec
from qworker.errors import InvalidParameterValue, PurgeQueueInProgress, QueueDoesNotExist, QueueNameExists
from qworker.limits import (
    PURGE_INTERVAL_SECONDS,
    check_spec_change,
    check_tag_keys,
    check_tags,
    validate_queue_spec,
)
from qworker_sqlite.codec import spec_from_json, spec_to_json


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue as stored: its id (part of every receipt handle) and its spec."""

    id: int
    spec: QueueSpec
    created_ms: int
    modified_ms: int
    #: added to every stored ``expires_at`` of the queue (see the schema module)
    expiry_shift_ms: int = 0

    @property
    def fifo(self) -> bool:
        return self.spec.fifo

    def expires_at(self, now: int) -> int:
        """The ``expires_at`` to store for a message enqueued ``now`` with this queue's retention."""
        return now + self.spec.message_retention_period * 1000 - self.expiry_shift_ms

    def expiry_cutoff(self, now: int) -> int:
        """Messages whose stored ``expires_at`` is at or below this have expired at ``now``."""
        return now - self.expiry_shift_ms


#: messages one write transaction deletes for retention at most (see :meth:`Store.expire`)
EXPIRE_BATCH = 1000

_REFRESH_GROUP = """
UPDATE fifo_groups SET head_seq = (SELECT seq FROM messages
      WHERE queue_id = ?1 AND group_id = ?2 AND sequence_number IS NOT NULL ORDER BY seq LIMIT 1),
    available_at = max(
    (SELECT visible_at FROM messages
      WHERE queue_id = ?1 AND group_id = ?2 AND sequence_number IS NOT NULL ORDER BY seq LIMIT 1),
    coalesce((SELECT max(visible_at) FROM messages
      WHERE queue_id = ?1 AND group_id = ?2 AND sequence_number IS NOT NULL AND token IS NOT NULL), 0))
WHERE queue_id = ?1 AND group_id = ?2
"""


class Store:
    """One SQLite connection and the operations on it; not thread-safe (one thread uses it)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self._clock = clock
        self._stamps = itertools.count(1)
        self.closed = False
        #: retention deletes per write transaction at most (:meth:`expire`)
        self.expire_batch = EXPIRE_BATCH
        #: the queue rows as last read (:meth:`last_seen_queue`)
        self._queues: dict[str, QueueRow] = {}

    def close(self) -> None:
        self.closed = True
        self.conn.close()

    def now_ms(self) -> int:
        """The clock in epoch milliseconds."""
        return int(self._clock() * 1000)

    def data_version(self) -> tuple[int, int]:
        """``(version, stamp)``: ``version`` changes when another connection (any process)
        commits (``PRAGMA data_version``); ``stamp`` numbers the readings of this store in order,
        so two readings can be told apart in time (see :mod:`qworker_sqlite.wakeups`)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0], next(self._stamps)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the
        busy timeout), so the transaction never fails half-way on a lock upgrade."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several SELECTs, no lock on writers."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    # -- queues ---------------------------------------------------------------------------------

    def find_queue(self, name: str) -> QueueRow | None:
        """The queue's row as it is now. Read it in the transaction that uses it: attributes change
        (SetQueueAttributes), so a row read before may be stale."""
        row = self.conn.execute(
            "SELECT id, spec, created_ms, modified_ms, expiry_shift_ms FROM queues WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            self._queues.pop(name, None)
            return None
        found = self._queues[name] = QueueRow(row[0], spec_from_json(name, row[1]), row[2], row[3], row[4])
        return found

    def last_seen_queue(self, name: str) -> QueueRow:
        """The queue's row as this store last read it (else as it is now), for work that needs
        no lock and is checked again in the transaction (a send's validation)."""
        return self._queues.get(name) or self.queue(name)

    def queue(self, name: str) -> QueueRow:
        """The queue, or :class:`~qworker.errors.QueueDoesNotExist`."""
        found = self.find_queue(name)
        if found is None:
            raise QueueDoesNotExist(name)
        return found

    def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        validate_queue_spec(spec)
        initial = check_tags(tags or {})
        with self.write() as conn:
            existing = self.find_queue(spec.name)
            if existing is not None:
                if existing.spec == spec:
                    return
                old, new = existing.spec.attributes(), spec.attributes()
                differ = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
                raise QueueNameExists(
                    f"A queue named {spec.name!r} already exists with a different value for "
                    f"attribute(s) {', '.join(differ)}."
                )
            self._check_dead_letter_queue(spec)
            now = self.now_ms()
            conn.execute(
                "INSERT INTO queues (name, spec, created_ms, modified_ms, tags) VALUES (?, ?, ?, ?, ?)",
                (spec.name, spec_to_json(spec), now, now, json.dumps(initial) if initial else None),
            )

    def _check_dead_letter_queue(self, spec: QueueSpec) -> None:
        """ESM-DLQ-3: the spec's dead-letter queue exists and has the same type."""
        policy = spec.redrive_policy
        if policy is None:
            return
        target = self.find_queue(policy.dead_letter_queue)
        if target is None:
            raise InvalidParameterValue(
                f"Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does "
                f"not exist: {policy.dead_letter_queue!r} (create the dead-letter queue first)."
            )
        if target.fifo != spec.fifo:  # pragma: no cover - the names already say the type
            raise InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter target owner "
                "and source queue must be the same type."
            )

    def set_queue_attributes(self, name: str, spec: QueueSpec) -> None:
        """SQS SetQueueAttributes: replace the spec in one transaction. Every later call of every
        process reads the new row; a retention change shifts the expiry of queued messages."""
        check_spec_change(name, spec)
        with self.write() as conn:
            queue = self.queue(name)
            self._check_dead_letter_queue(spec)
            delta = (spec.message_retention_period - queue.spec.message_retention_period) * 1000
            conn.execute(
                "UPDATE queues SET spec = ?, modified_ms = ?, expiry_shift_ms = expiry_shift_ms + ? "
                "WHERE id = ?",
                (spec_to_json(spec), self.now_ms(), delta, queue.id),
            )

    # -- tags -----------------------------------------------------------------------------------

    def _tags(self, queue_id: int) -> dict[str, str]:
        text = self.conn.execute("SELECT tags FROM queues WHERE id = ?", (queue_id,)).fetchone()[0]
        return json.loads(text) if text else {}

    def _set_tags(self, queue_id: int, tags: dict[str, str]) -> None:
        self.conn.execute(
            "UPDATE queues SET tags = ? WHERE id = ?", (json.dumps(tags) if tags else None, queue_id)
        )

    def tag_queue(self, name: str, tags: Mapping[str, str]) -> None:
        check_tags(tags)
        with self.write():
            queue = self.queue(name)
            self._set_tags(queue.id, check_tags(tags, self._tags(queue.id)))

    def untag_queue(self, name: str, keys: Sequence[str]) -> None:
        doomed = check_tag_keys(keys)
        with self.write():
            queue = self.queue(name)
            tags = self._tags(queue.id)
            for key in doomed:
                tags.pop(key, None)
            self._set_tags(queue.id, tags)

    def queue_tags(self, name: str) -> dict[str, str]:
        with self.read():
            return self._tags(self.queue(name).id)

    def get_queue(self, name: str) -> QueueInfo:
        queue = self.queue(name)
        now = self.now_ms()
        if self.conn.execute(
            "SELECT 1 FROM messages WHERE queue_id = ? AND expires_at <= ? LIMIT 1",
            (queue.id, queue.expiry_cutoff(now)),
        ).fetchone():
            self.expire_all(name)
            now = self.now_ms()
        with self.read() as conn:
            queue = self.queue(name)
            visible = conn.execute(
                "SELECT count(*) FROM messages WHERE queue_id = ? AND visible_at <= ?", (queue.id, now)
            ).fetchone()[0]
            hidden, in_flight = conn.execute(
                "SELECT count(*), count(token) FROM messages WHERE queue_id = ? AND visible_at > ?",
                (queue.id, now),
            ).fetchone()
            quarantined = conn.execute(
                "SELECT count(*) FROM quarantine WHERE queue_id = ?", (queue.id,)
            ).fetchone()[0]
        return QueueInfo(
            spec=queue.spec,
            counts=QueueCounts(
                visible=visible, in_flight=in_flight, delayed=hidden - in_flight, quarantined=quarantined
            ),
            arn=arn.queue_arn(name),
            created_timestamp=queue.created_ms // 1000,
            last_modified_timestamp=queue.modified_ms // 1000,
        )

    def list_queues(self, prefix: str) -> list[str]:
        names = [row[0] for row in self.conn.execute("SELECT name FROM queues ORDER BY name")]
        return [name for name in names if name.startswith(prefix)]

    def purge_queue(self, name: str) -> None:
        """SQS PurgeQueue, at most once per queue every 60 s (``PurgeQueueInProgress``); quarantined
        messages go too."""
        with self.write() as conn:
            queue = self.queue(name)
            now = self.now_ms()
            last = conn.execute("SELECT purged_ms FROM queues WHERE id = ?", (queue.id,)).fetchone()[0]
            interval = PURGE_INTERVAL_SECONDS * 1000
            if last is not None and now - last < interval:
                raise PurgeQueueInProgress(name, (last + interval - now) / 1000)
            conn.execute("UPDATE queues SET purged_ms = ? WHERE id = ?", (now, queue.id))
            conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM fifo_groups WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM quarantine WHERE queue_id = ?", (queue.id,))

    def delete_queue(self, name: str) -> None:
        with self.write() as conn:
            queue = self.queue(name)
            conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM quarantine WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM fifo_groups WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM fifo_dedup WHERE queue_id = ?", (queue.id,))
            conn.execute("DELETE FROM queues WHERE id = ?", (queue.id,))

    # -- upkeep shared by the message operations (call inside a write transaction) -------------

    def expire(self, queue: QueueRow, now: int) -> int:
        """Delete up to ``limit`` of the queue's messages whose retention period has ended, in
        flight or not (SQS-L-3); returns how many. Bounded, because it runs inside a write
        transaction: a million messages expiring at once must not hold the write lock (and every
        other process's sends) for the whole sweep. A caller that gets :attr:`expire_batch` back
        commits and calls again (:meth:`expire_all`)."""
        limit = self.expire_batch
        cutoff = queue.expiry_cutoff(now)
        doomed = "SELECT seq FROM messages WHERE queue_id = ?1 AND expires_at <= ?2 LIMIT ?3"
        if queue.fifo:
            rows = self.conn.execute(
                f"DELETE FROM messages WHERE seq IN ({doomed}) RETURNING group_id", (queue.id, cutoff, limit)
            ).fetchall()
            groups = {row[0] for row in rows}
            if groups:
                self.refresh_groups(queue.id, groups)
            return len(rows)
        return self.conn.execute(
            f"DELETE FROM messages WHERE seq IN ({doomed})", (queue.id, cutoff, limit)
        ).rowcount

    def expire_all(self, name: str) -> None:
        """Delete every expired message of queue ``name``, one bounded transaction at a time."""
        while True:
            with self.write():
                if self.expire(self.queue(name), self.now_ms()) < self.expire_batch:
                    return

    def refresh_groups(self, queue_id: int, groups: Iterable[str]) -> None:
        """Recompute ``available_at`` of FIFO groups whose messages changed; drop empty groups."""
        conn = self.conn
        conn.executemany(_REFRESH_GROUP, [(queue_id, group) for group in groups])
        conn.execute("DELETE FROM fifo_groups WHERE queue_id = ? AND available_at IS NULL", (queue_id,))

    def add_groups(self, queue_id: int, heads: dict[str, int]) -> None:
        """Register FIFO groups that just got messages: a group that had none gets the new head's
        ``visible_at``; a group that had some is unchanged (the new messages are behind its head)."""
        self.conn.executemany(
            "INSERT INTO fifo_groups (queue_id, group_id, available_at, head_seq) SELECT ?1, ?2, ?3, "
            "(SELECT seq FROM messages WHERE queue_id = ?1 AND group_id = ?2 AND sequence_number IS NOT NULL "
            "ORDER BY seq LIMIT 1) WHERE true ON CONFLICT DO NOTHING",
            [(queue_id, group, visible_at) for group, visible_at in heads.items()],
        )

    def first_free_seq(self) -> int:
        """The first message ``seq`` never used; insert with explicit seqs counting up from it
        (AUTOINCREMENT then records them) so the bodies can be written with the same keys."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
        return (row[0] if row is not None else 0) + 1

    def copy_bodies(self, pairs: list[tuple[int, int]]) -> None:
        """Copy large bodies to new messages: ``(new_seq, old_seq)`` pairs, before the old ones are
        deleted (a no-op for messages whose body is inline)."""
        self.conn.executemany(
            "INSERT INTO bodies (seq, attrs, body) SELECT ?, attrs, body FROM bodies WHERE seq = ?", pairs
        )

    def next_sequence_numbers(self, queue_id: int, count: int) -> int:
        """Reserve ``count`` FIFO sequence numbers for the queue; returns the first."""
        last = self.conn.execute(
            "UPDATE queues SET next_sequence = next_sequence + ? WHERE id = ? RETURNING next_sequence",
            (count, queue_id),
        ).fetchone()[0]
        return last - count + 1


# -- the shared record store (Backend.put_record and its siblings) ----------------------------------


def put_record(store: Store, kind: str, key: str, text: str, ttl_ms: int | None) -> None:
    with store.write() as conn:
        now = store.now_ms()
        conn.execute("DELETE FROM records WHERE kind = ? AND expires_at <= ?", (kind, now))
        conn.execute(
            "INSERT OR REPLACE INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)",
            (kind, key, text, None if ttl_ms is None else now + ttl_ms),
        )


def get_record(store: Store, kind: str, key: str) -> str | None:
    row = store.conn.execute(
        "SELECT value FROM records WHERE kind = ? AND key = ? AND coalesce(expires_at > ?, true)",
        (kind, key, store.now_ms()),
    ).fetchone()
    return None if row is None else row[0]


def list_records(store: Store, kind: str) -> list[tuple[str, str]]:
    return store.conn.execute(
        "SELECT key, value FROM records WHERE kind = ? AND coalesce(expires_at > ?, true) ORDER BY key",
        (kind, store.now_ms()),
    ).fetchall()


def delete_record(store: Store, kind: str, key: str) -> bool:
    """True when an unexpired record was deleted (an expired one is deleted too, quietly)."""
    with store.write() as conn:
        now = store.now_ms()
        rows = conn.execute(
            "DELETE FROM records WHERE kind = ? AND key = ? RETURNING expires_at", (kind, key)
        ).fetchall()
    return any(expires is None or expires > now for (expires,) in rows)

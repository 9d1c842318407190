"""The async face of the SQLite backend: a worker thread per backend, long polling, notifications."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import structlog

from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    BaseBackend,
    BatchEntryError,
    Capabilities,
    FailureNote,
    PeekedMessage,
    QuarantinedMessage,
    QuarantineTally,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    VisibilityChange,
)
from qworker.errors import BackendError, BackendUnavailable, InvalidParameterValue, QWorkerError
from qworker.limits import check_max_messages, check_record
from qworker.redaction import redact_url
from qworker.safe_receive import GiveBacks, still_held
from qworker_sqlite import acks, hostclock, quarantine, redrive, send
from qworker_sqlite import receive as receiving
from qworker_sqlite import store as store_module
from qworker_sqlite.schema import open_connection
from qworker_sqlite.store import Store
from qworker_sqlite.url import SQLiteOptions, parse_url, url_of
from qworker_sqlite.wakeups import Prefetched, Wakeups
from qworker_sqlite.watch import DEFAULT_POLL_INTERVAL, CommitWatch
from qworker_sqlite.worker import WorkerThread

if TYPE_CHECKING:
    from typing import Self

T = TypeVar("T")
log = structlog.get_logger("qworker.sqlite")

#: messages moved per transaction by :meth:`SQLiteBackend.redrive` without a rate limit
REDRIVE_CHUNK = 1_000


class SQLiteBackend(BaseBackend):
    """Queues in one SQLite file (or in memory): the default backend, stdlib ``sqlite3`` only.

    Full SQS semantics, standard and FIFO, for any number of processes on one host sharing the
    file (WAL mode; every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any
    point leaves a consistent database and loses no acknowledged send). Each backend object owns
    one connection, used by one dedicated thread: the event loop never waits on SQLite, and each
    protocol call costs one hop to that thread.

    Durability: with ``synchronous=normal`` (the default) a commit survives the process being
    killed, but the last commits can be lost if the machine loses power or the OS crashes; with
    ``synchronous=full`` every commit is fsynced (slower).

    Long polls wake at once for sends made through this object, and for commits by other
    processes either within microseconds (``wakeup=inotify``, the default on Linux) or within
    ``poll_interval`` (10 ms, ``wakeup=poll``, the portable fallback): see
    :mod:`~qworker_sqlite.watch`. An idle long poll costs well under 1 % of a CPU.

    ``clock`` (epoch seconds) is the database's host clock by default
    (:mod:`~qworker_sqlite.hostclock`: a step of the wall clock moves no deadline, T14);
    it is injectable so tests can jump time (retention, the 5-minute
    deduplication window, visibility).

    A message row that cannot be decoded (a damaged file) is set aside in the queue's quarantine
    instead of failing the receive (RELIABILITY T16, :mod:`~qworker_sqlite.quarantine`);
    ``quarantine_tally`` counts what this object set aside, for the worker's metrics.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(delete_by_id=True, quarantine=True)

    def __init__(
        self,
        options: SQLiteOptions | None = None,
        *,
        clock: Callable[[], float] | None = None,
        url: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.options = options if options is not None else SQLiteOptions(path=None)
        self._url = url if url is not None else url_of(self.options)
        self.give_backs = GiveBacks()  #: receives cut short by a cancellation, giving back
        self._clock = clock
        self._now: Callable[[], float] = clock or time.time  #: the clock in use once connected
        self._worker: WorkerThread | None = None
        self._store: Store | None = None
        self._poll_interval = poll_interval
        self._watch: CommitWatch | None = None
        self._wakeups = Wakeups(self._start_watch, self._stop_watch, self._orphaned)
        self.quarantine_tally = QuarantineTally()

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] | None = None) -> Self:
        """A backend for ``sqlite:///relative.db``, ``sqlite:////abs.db`` or ``sqlite://`` (memory).

        Query options: ``synchronous=normal|full``, ``busy_timeout_ms=N`` (default 5000),
        ``wakeup=auto|inotify|poll`` (:mod:`~qworker_sqlite.watch`).
        """
        return cls(parse_url(url), clock=clock, url=url)

    @property
    def display_url(self) -> str:
        return redact_url(self._url)

    def reopened(self) -> SQLiteBackend | None:
        """Another connection to the same file; None for an in-memory database (nothing to share)."""
        if self.options.path is None:
            return None
        return type(self)(self.options, clock=self._clock, url=self._url, poll_interval=self._poll_interval)

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.display_url!r})"

    # -- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the worker thread and open the database (creating it and its schema if new).

        Raises :class:`~qworker.errors.BackendUnavailable` when the file cannot be opened and
        :class:`~qworker.errors.BackendError` when it is not a qworker database.
        """
        if self._store is not None:
            return
        watch = CommitWatch(self.options, self._poll_interval)  # ConfigError before any work
        worker = WorkerThread(name=f"qworker-sqlite {self._url}")
        try:
            conn = await worker.submit(open_connection, self.options)
            clock = self._clock or await worker.submit(hostclock.clock_of, conn)
        except BaseException:
            worker.stop()
            raise
        self._now = clock
        self._store = Store(conn, clock)
        self._worker = worker
        self._watch = watch
        self._wakeups = Wakeups(self._start_watch, self._stop_watch, self._orphaned)

    async def close(self) -> None:
        """Close the connection and stop the thread; pending long polls end with
        :class:`~qworker.errors.BackendUnavailable`. Idempotent. An in-memory database is gone."""
        store, worker = self._store, self._worker
        if store is None or worker is None:
            return
        watch = self._watch
        if watch is not None:
            watch.stop(worker)
            await worker.submit(_flush)  # an attempt the probe is making now reaches the loop first
        # receives cut short by a stop, and attempts whose waiter left, give their messages back
        await self.give_backs.wait()
        if watch is not None:
            watch.stop(worker)  # a long poll may have started meanwhile
        self._store = None
        self._worker = None
        self._wakeups.close()
        try:
            await worker.submit(_close, store, watch)
        finally:
            worker.stop()

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(store, *args)`` on the worker thread, mapping SQLite errors."""
        return await self._submit(function, *args)

    def _submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """:meth:`_call` without the coroutine: the worker thread starts at once, and a caller
        that wraps the call (a long poll's receive) needs no task of its own."""
        store, worker = self._store, self._worker
        if store is None or worker is None:
            raise BackendUnavailable(
                f"The SQLite backend {self._url} is not connected: use 'async with backend:' or "
                "'await backend.connect()' first."
            )
        return worker.submit(_guarded, function, store, args)

    @property
    def wakeup_mode(self) -> str | None:
        """How long polls notice other processes' commits: ``"inotify"`` or ``"poll"`` (None
        until connected); see :mod:`~qworker_sqlite.watch`."""
        return None if self._watch is None else self._watch.mode

    def _start_watch(self) -> None:
        """Have the worker thread look for other processes' commits while anyone long-polls."""
        store, worker, watch = self._store, self._worker, self._watch
        if store is not None and worker is not None and watch is not None:
            watch.start(worker, store, self._wakeups)

    def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.stop(self._worker)

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        await self._call(Store.create_queue, spec, tags)

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        await self._call(Store.set_queue_attributes, queue, spec)
        self._wakeups.notify(queue)  # long polls look again: a shorter delay or retention

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        await self._call(Store.tag_queue, queue, tags)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        await self._call(Store.untag_queue, queue, keys)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        return await self._call(Store.queue_tags, queue)

    async def get_queue(self, queue: str) -> QueueInfo:
        return await self._call(Store.get_queue, queue)

    async def list_queues(self, prefix: str = "") -> list[str]:
        return await self._call(Store.list_queues, prefix)

    async def purge_queue(self, queue: str) -> None:
        await self._call(Store.purge_queue, queue)
        self._wakeups.notify(queue)

    async def delete_queue(self, queue: str) -> None:
        """Delete the queue and its messages.

        As on SQS, a queue may be deleted while it is another queue's dead-letter queue. Until a
        queue of that name exists again, messages of the source queue that reach
        ``maxReceiveCount`` are not moved anywhere: they keep being delivered (nothing is lost).
        """
        await self._call(Store.delete_queue, queue)
        self._wakeups.notify(queue)

    # -- messages -------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        result = await self._call(send.send, queue, entries)
        if result.successful:
            self._wakeups.notify(queue)
        return result

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        receiving.check_arguments(max_messages, wait_seconds, visibility_timeout)
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempt = functools.partial(self._attempt, queue, max_messages, visibility_timeout)
        prefetched: Prefetched | None = None
        while True:
            if prefetched is None:
                version = self._wakeups.version(queue)  # else: the one read before the wait
                sent = time.monotonic()
                outcome = await self.give_backs.take(
                    self._submit(
                        receiving.receive, queue, max_messages, visibility_timeout, wait_seconds != 0
                    ),
                    lambda taken: [m.receipt_handle for m in taken.messages],
                    lambda handles: self._give_back(queue, handles),
                )
            else:  # the worker thread made the attempt when a commit showed (wakeups module doc)
                sent, outcome, error, prefetched = (
                    prefetched.started,
                    prefetched.outcome,
                    prefetched.error,
                    None,
                )
                if error is not None:
                    raise error
            messages = await self._received(queue, outcome, sent)
            if messages:
                return messages
            if messages is not None:
                continue  # all set aside, or the reply came too late to keep any: look again
            if deadline is None:
                wait = outcome.wait_seconds if wait_seconds is None else wait_seconds
                deadline = loop.time() + wait
            timeout = deadline - loop.time()
            if timeout <= 0:
                return []
            if outcome.next_visible_ms is not None:
                until_visible = (outcome.next_visible_ms - self._now() * 1000) / 1000 + 0.001
                timeout = min(timeout, max(until_visible, 0.002))
            prefetched = await self._wakeups.wait(
                queue, version, outcome.data_version, within=timeout, attempt=attempt
            )

    async def _received(
        self, queue: str, outcome: receiving.ReceiveOutcome, sent: float
    ) -> list[ReceivedMessage] | None:
        """The messages of a receive attempt to hand over; ``[]``: it took some but may hand over
        none (set aside, or held by another receiver by now): try again; None: it found none."""
        for fed in outcome.fed:
            self._wakeups.notify(fed)
        if outcome.quarantined:
            self._note_quarantined(queue, outcome.quarantined)
            if not outcome.messages:
                return []  # everything taken was set aside: look again at once
        if not outcome.messages:
            return None
        return await still_held(
            outcome.messages,
            time.monotonic() - sent,
            outcome.visibility_seconds,
            lambda changes: self.change_visibility(queue, changes),
        )

    def _attempt(
        self, queue: str, max_messages: int, visibility_timeout: float | None, reading: tuple[int, int]
    ) -> receiving.ReceiveOutcome:
        """A long poll's receive attempt, made on the worker thread by the probe (wakeups) right
        after its ``data_version`` ``reading``."""
        store = self._store
        if store is None:
            raise BackendUnavailable("The SQLite backend was closed.")
        return _guarded(receiving.receive, store, (queue, max_messages, visibility_timeout, True, reading))

    def _orphaned(self, queue: str, prefetched: Prefetched) -> None:
        """An attempt made for a waiter that had gone: its side effects stand, its messages go back."""
        outcome = prefetched.outcome
        if outcome is None:
            return  # it failed: it took nothing
        for fed in outcome.fed:
            self._wakeups.notify(fed)
        if outcome.quarantined:
            self._note_quarantined(queue, outcome.quarantined)
        if outcome.messages:
            self.give_backs.give_back(
                [m.receipt_handle for m in outcome.messages], functools.partial(self._give_back, queue)
            )

    async def _give_back(self, queue: str, handles: Sequence[str]) -> object:
        return await self.change_visibility(queue, [VisibilityChange(h, 0) for h in handles])

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        failed, unlocked = await self._call(acks.delete, queue, receipt_handles)
        if unlocked:
            self._wakeups.notify(queue)
        return failed

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        failed, woke = await self._call(acks.change_visibility, queue, changes)
        if woke:
            self._wakeups.notify(queue)
        return failed

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        """Move the dead-letter queue's visible messages back (ESM-DLQ-6); see the protocol.

        Messages go in chunks of ``max_per_second`` per second (or :data:`REDRIVE_CHUNK` per
        transaction, unthrottled). A moved message is sent anew: the destination's
        ``DelaySeconds`` applies; on FIFO it joins the end of its group with a new sequence
        number. A message that is in flight when its chunk comes, has no
        ``DeadLetterQueueSourceArn`` (and no ``destination`` was given), or whose source queue no
        longer exists stays in the dead-letter queue and counts as failed.
        """
        if max_per_second is not None and (
            isinstance(max_per_second, bool) or not isinstance(max_per_second, int) or max_per_second < 1
        ):
            raise InvalidParameterValue(
                f"Value {max_per_second!r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: "
                "it must be a whole number of at least 1."
            )
        loop = asyncio.get_running_loop()
        seqs = await self._call(redrive.plan, dead_letter_queue, destination)
        chunk = max_per_second or REDRIVE_CHUNK
        moved = failed = 0
        for start in range(0, len(seqs), chunk):
            began = loop.time()
            part = seqs[start : start + chunk]
            result = await self._call(redrive.move_chunk, dead_letter_queue, destination, part)
            moved += result.moved
            failed += result.failed
            if result.quarantined:
                self._note_quarantined(dead_letter_queue, result.quarantined)
            for name in result.fed:
                self._wakeups.notify(name)
            if max_per_second is not None and start + chunk < len(seqs):
                await asyncio.sleep(max(0.0, 1.0 - (loop.time() - began)))
        return RedriveResult(moved=moved, failed=failed)

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        return await self._call(acks.peek, queue, max_messages)

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        if notes:
            await self._call(acks.record_failures, queue, notes)

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        deleted, unlocked = await self._call(acks.delete_by_id, queue, message_ids)
        if unlocked:
            self._wakeups.notify(queue)
        return deleted

    # -- quarantine (RELIABILITY T16) -----------------------------------------------------------

    def _note_quarantined(self, queue: str, moved: list[tuple[str, str]]) -> None:
        self.quarantine_tally.add(queue, len(moved))
        for message_id, reason in moved:
            log.warning("sqlite.message_quarantined", queue=queue, message_id=message_id, reason=reason)

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        """The queue's quarantined messages, oldest first (see the protocol); a message whose
        stored id is not readable is named ``#SEQ``."""
        check_max_messages(max_messages)
        return await self._call(quarantine.listing, queue, max_messages)

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        """Put quarantined messages back, all in one transaction (see the protocol)."""
        failed, fed = await self._call(quarantine.restore, queue, list(message_ids), destination, body_only)
        for name in fed:
            self._wakeups.notify(name)
        return failed

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        keys = None if message_ids is None else list(message_ids)
        return await self._call(quarantine.drop, queue, keys)

    # -- the shared record store ----------------------------------------------------------------

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        text = check_record(kind, key, value, ttl_seconds)
        ttl_ms = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        await self._call(store_module.put_record, kind, key, text, ttl_ms)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        check_record(kind, key)
        text = await self._call(store_module.get_record, kind, key)
        return None if text is None else json.loads(text)

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        check_record(kind, "-")
        return {key: json.loads(text) for key, text in await self._call(store_module.list_records, kind)}

    async def delete_record(self, kind: str, key: str) -> bool:
        check_record(kind, key)
        return await self._call(store_module.delete_record, kind, key)


def _guarded(function: Callable[..., T], store: Store, args: tuple[Any, ...]) -> T:
    """Call on the worker thread; SQLite errors become qworker errors that say what failed."""
    if store.closed:  # queued behind close()
        raise BackendUnavailable("The SQLite backend was closed.")
    try:
        return function(store, *args)
    except QWorkerError:
        raise
    except sqlite3.OperationalError as exc:
        raise BackendUnavailable(f"SQLite error: {exc}") from exc
    except sqlite3.Error as exc:
        raise BackendError(f"SQLite error: {exc}") from exc


def _flush() -> None:
    """Nothing: a call that returns once the worker thread finished what it was doing."""


def _close(store: Store, watch: CommitWatch | None) -> None:
    """On the worker thread, which no longer waits on the watch: close both."""
    try:
        store.close()
    finally:
        if watch is not None:
            watch.release()

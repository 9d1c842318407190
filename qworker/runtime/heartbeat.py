"""``--visibility-heartbeat``: keep running batches hidden from a thread of its own.

Lambda never extends a message's visibility while the function runs (ESM-F-5): a handler that runs
longer than the visibility timeout sees its messages delivered again, in parallel. qworker's
heartbeat extends them every ``interval`` seconds instead.

The heartbeat runs in its own thread, with its own event loop and its own connection to the
backend, because the worker's event loop is not always free: an ``async def`` handler that calls
blocking code (``time.sleep``, a CPU loop, a sync client) stops the loop for as long as it runs,
and a heartbeat on that loop would stop with it (RELIABILITY.md T12, BullMQ's "stalled" lesson).
Where no second connection can be opened (``Backend.reopened()`` is None: ``memory://``, an
in-memory SQLite database), :class:`LoopHeartbeat` runs on the worker's loop instead, which is
right for every handler that does not block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from qworker.backend import Backend, VisibilityChange
from qworker.errors import BackendError

log = structlog.get_logger("qworker")


class _Leases:
    """The receipt handles of running batches, shared between the loop and the heartbeat thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[int, list[str]] = {}
        self._deadlines: dict[int, float] = {}
        self._tokens = itertools.count()

    def add(self, handles: Sequence[str], deadline: float) -> int:
        """Keep ``handles`` hidden until removed, but never past ``deadline`` (time.monotonic):
        the function timeout, after which the invocation has failed anyway."""
        with self._lock:
            token = next(self._tokens)
            self._by_token[token] = list(handles)
            self._deadlines[token] = deadline
            return token

    def remove(self, token: int) -> None:
        with self._lock:
            self._by_token.pop(token, None)
            self._deadlines.pop(token, None)

    def snapshot(self) -> list[tuple[int, list[str], float]]:
        """The leases to extend now, with the seconds left to their deadline; those past it are
        dropped."""
        now = time.monotonic()
        with self._lock:
            for token in [t for t, deadline in self._deadlines.items() if deadline <= now]:
                self._by_token.pop(token, None)
                self._deadlines.pop(token, None)
            return [(t, list(handles), self._deadlines[t] - now) for t, handles in self._by_token.items()]

    def forget(self, token: int, lost: set[str]) -> None:
        with self._lock:
            handles = self._by_token.get(token)
            if handles is not None:
                self._by_token[token] = [h for h in handles if h not in lost]


async def _extend(
    backend: Backend, queue: str, extend_to: float, leases: _Leases, log_fields: dict[str, str]
) -> None:
    """One beat: extend every running batch's messages, but not past the batch's function
    timeout (a handler stuck for good must not hold its messages for good); forget the ones the
    backend lost."""
    for token, handles, left in leases.snapshot():
        if not handles:
            continue
        hidden_for = min(extend_to, left)
        try:
            failed = await backend.change_visibility(
                queue, [VisibilityChange(h, hidden_for) for h in handles]
            )
        except BackendError as exc:
            log.warning("heartbeat failed; will retry at the next beat", error=str(exc), **log_fields)
            continue
        lost = {f.id for f in failed if f.sender_fault}
        if lost:
            log.warning(
                "heartbeat lost messages: their visibility had ended or they were received again",
                lost=len(lost),
                **log_fields,
            )
            leases.forget(token, lost)


#: unexpected errors in a row after which the thread heartbeat opens a fresh connection
REOPEN_AFTER = 3


async def _beat_forever(
    holder: list[Backend],
    queue: str,
    interval: float,
    extend_to: float,
    leases: _Leases,
    reopen: Callable[[Backend], Awaitable[Backend]] | None,
) -> None:
    """Beat every ``interval`` seconds until cancelled. An unexpected error (a bug, a driver's
    surprise) is logged with its traceback and the beat goes on; after :data:`REOPEN_AFTER` in a
    row the connection is opened anew where that is possible. A heartbeat that died silently
    would let every long handler's messages reappear while it still runs."""
    fields = {"queue": queue}
    failures = 0
    while True:
        await asyncio.sleep(interval)
        try:
            await _extend(holder[0], queue, extend_to, leases, fields)
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            log.exception("heartbeat failed on an unexpected error; retrying at the next beat", **fields)
            if reopen is not None and failures >= REOPEN_AFTER:
                try:
                    holder[0] = await reopen(holder[0])
                    failures = 0
                    log.warning("heartbeat reopened its backend connection", **fields)
                except Exception:
                    log.exception("heartbeat could not reopen its backend connection; retrying", **fields)


class _Heartbeat:
    """What both heartbeats share: the queue, the beat, and the leases of running batches."""

    def __init__(self, backend: Backend, queue: str, interval: float, extend_to: float) -> None:
        #: the worker's backend (a thread's connections are ``backend.reopened()``)
        self.backend = backend
        self.queue = queue
        self.interval = interval
        self.extend_to = extend_to
        self.leases = _Leases()

    def add(self, handles: Sequence[str], deadline: float) -> int:
        """Keep these handles' messages hidden until ``deadline``; a token for :meth:`remove`."""
        return self.leases.add(handles, deadline)

    def remove(self, token: int) -> None:
        self.leases.remove(token)


class ThreadHeartbeat(_Heartbeat):
    """Extends running batches' visibility every ``interval`` s from its own thread and connection."""

    def __init__(self, backend: Backend, queue: str, interval: float, extend_to: float) -> None:
        super().__init__(backend, queue, interval, extend_to)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"qworker-heartbeat-{queue}", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the thread and wait (off the loop) until its connection is open."""
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._started.wait, 30)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)

    def _open(self) -> Backend:
        fresh = self.backend.reopened()
        if fresh is None:
            raise ValueError(f"{self.backend.display_url} cannot open a second connection")
        return fresh

    def _main(self) -> None:
        try:
            asyncio.run(self._beat())
        except BaseException:  # never silently: a dead heartbeat lets running messages reappear
            log.exception("the visibility heartbeat thread stopped on an unexpected error", queue=self.queue)
            raise

    async def _beat(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            backend = self._open()
            await backend.connect()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()

        async def reopen(old: Backend) -> Backend:
            with contextlib.suppress(Exception):
                await old.close()
            fresh = self._open()
            await fresh.connect()
            return fresh

        holder = [backend]
        try:
            await _beat_forever(holder, self.queue, self.interval, self.extend_to, self.leases, reopen)
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await holder[0].close()


class LoopHeartbeat(_Heartbeat):
    """The same beat on the worker's own event loop (when no second connection can be opened)."""

    def __init__(self, backend: Backend, queue: str, interval: float, extend_to: float) -> None:
        super().__init__(backend, queue, interval, extend_to)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _beat(self) -> None:
        await _beat_forever([self.backend], self.queue, self.interval, self.extend_to, self.leases, None)


def make_heartbeat(
    backend: Backend, queue: str, interval: float, extend_to: float
) -> ThreadHeartbeat | LoopHeartbeat:
    """A thread heartbeat when the backend can open a second connection, else one on the loop."""
    if backend.reopened() is None:
        return LoopHeartbeat(backend, queue, interval, extend_to)
    return ThreadHeartbeat(backend, queue, interval, extend_to)

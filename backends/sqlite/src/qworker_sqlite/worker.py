"""The backend's one database thread: runs calls in order, hands results back to the event loop.

A leaner stand-in for ``ThreadPoolExecutor(max_workers=1)`` + ``run_in_executor``, with one
addition: an *idle task* that the thread runs between calls while one is set (the long-poll
watcher's probe, :mod:`qworker_sqlite.watch`). The task says when it wants to run next; with a
*wake source* (a descriptor that becomes readable when another process writes the database:
:mod:`qworker_sqlite.inotify`) the idle thread waits on that descriptor too and runs the task
the moment it fires. Running that check on this thread, rather than on the event loop or a
thread of its own, costs an idle long poll almost no CPU, never wakes the event loop unless
something changed, and puts no hand-over between threads on the path of a wake-up.

While the thread waits on a wake source it cannot wait on its job queue as well, so a call
submitted meanwhile also writes a byte to a pipe the thread watches (only then: a busy thread
costs a call nothing more).

A call whose awaiting task is cancelled still runs to the end, so its transaction commits or
rolls back whole; only its result is dropped.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_POKE = object()  # wakes the thread so it sees a changed idle task
_NUDGE = object()  # run the idle task now
_STOP = object()


class WakeSource(Protocol):
    """A descriptor that becomes readable when the idle task should run at once."""

    def fileno(self) -> int: ...

    def woken(self) -> None:
        """The descriptor is readable (called on the thread): consume what made it so."""


class WorkerThread:
    """A daemon thread that runs submitted functions one at a time, in submission order.

    Daemon, so a backend that is never closed cannot keep the interpreter alive; SQLite rolls
    back a transaction cut short by exit, as after a crash.
    """

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._idle_task: Callable[[], float] | None = None
        self._idle_first = 0.0
        self._wake: WakeSource | None = None
        self._pipe: tuple[int, int] | None = None  # (read, write): wakes a thread parked on _wake
        self._parked = False  # True while the thread may be blocked in select() on _wake
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``function(*args)``; the returned future (of the running loop) gets its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((loop, future, function, args))
        return future

    def set_idle_task(
        self, task: Callable[[], float] | None, first_delay: float = 0.0, wake: WakeSource | None = None
    ) -> None:
        """Run ``task`` on the thread ``first_delay`` s from now, then again as many seconds after
        each run as that run returns, and at once whenever ``wake`` fires, between calls, until
        set to ``None``. ``task`` must be quick and must not raise.
        """
        if wake is not None and self._pipe is None:
            self._pipe = os.pipe()
            os.set_blocking(self._pipe[1], False)
        self._idle_first = first_delay
        self._idle_task = task
        self._wake = wake if task is not None else None
        self._put(_POKE)

    def nudge(self) -> None:
        """Run the idle task as soon as the calls already queued have run (any thread may call)."""
        self._put(_NUDGE)

    def stop(self) -> None:
        """Let the thread exit once the calls already queued have run."""
        self._idle_task = None
        self._wake = None
        self._put(_STOP)

    def _put(self, item: Any) -> None:
        self._jobs.put(item)
        # Read after the put: a thread that parks later sees the item in its own check first.
        if self._parked and self._pipe is not None:
            try:
                os.write(self._pipe[1], b"\0")
            except OSError:  # full (the thread has bytes to read already) or closed
                pass

    def _run(self) -> None:
        jobs = self._jobs
        due: float | None = None  # when the idle task runs next (None: not scheduled yet)
        while True:
            task = self._idle_task
            if task is None:
                job = jobs.get()
            else:
                now = time.monotonic()
                if due is None:
                    due = now + self._idle_first
                if now >= due:
                    due = time.monotonic() + task()
                    continue
                job = self._wait(due - now)
                if job is None:
                    continue
            if job is _STOP:
                break
            if job is _POKE:
                due = None  # the idle task changed: first run ``first_delay`` from now
            elif job is _NUDGE:
                due = 0.0 if self._idle_task is not None else due
            else:
                _execute(job)
            del job
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)

    def _wait(self, timeout: float) -> Any:
        """The next job within ``timeout`` s: None if none came, :data:`_NUDGE` if the wake
        source fired first."""
        wake = self._wake
        if wake is None or self._pipe is None:
            try:
                return self._jobs.get(timeout=timeout)
            except Empty:
                return None
        readable: list[Any] = []
        self._parked = True
        try:
            try:
                return self._jobs.get_nowait()  # after _parked is set: see _put
            except Empty:
                pass
            readable, _, _ = select.select([wake, self._pipe[0]], [], [], timeout)
        except (OSError, ValueError):  # the wake source is closed: wait as without one
            self._wake = None
        finally:
            self._parked = False
        if self._pipe[0] in readable:
            os.read(self._pipe[0], 4096)
        if wake in readable:
            try:
                wake.woken()
            except Exception:  # a broken wake source must not end the thread: drop it
                self._wake = None
            return _NUDGE
        try:
            return self._jobs.get_nowait()
        except Empty:
            return None


def _execute(job: _Job) -> None:
    loop, future, function, args = job
    try:
        outcome: Any = function(*args)
        failed = False
    except BaseException as exc:  # handed to the awaiting task, re-raised there
        outcome, failed = exc, True
    try:
        loop.call_soon_threadsafe(_resolve, future, outcome, failed)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


def _resolve(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled by the caller
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

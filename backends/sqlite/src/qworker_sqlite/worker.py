"""The backend's one database thread: runs calls in order, hands results back to the event loop.

A leaner stand-in for ``ThreadPoolExecutor(max_workers=1)`` + ``run_in_executor``, with one
addition: an *idle task* that the thread runs between calls while one is set (the long-poll
watcher's probe, :mod:`qworker_sqlite.watch`). The task says when it wants to run next, and
:meth:`WorkerThread.nudge` runs it at once (another thread saw a write to the database). Running
that check on this thread, rather than as an event-loop timer plus a hop per check, costs an
idle long poll almost no CPU and never wakes the event loop unless something changed.

A call whose awaiting task is cancelled still runs to the end, so its transaction commits or
rolls back whole; only its result is dropped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_POKE = object()  # wakes the thread so it sees a changed idle task
_NUDGE = object()  # run the idle task now
_STOP = object()


class WorkerThread:
    """A daemon thread that runs submitted functions one at a time, in submission order.

    Daemon, so a backend that is never closed cannot keep the interpreter alive; SQLite rolls
    back a transaction cut short by exit, as after a crash.
    """

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._idle_task: Callable[[], float] | None = None
        self._idle_first = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``function(*args)``; the returned future (of the running loop) gets its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return future

    def set_idle_task(self, task: Callable[[], float] | None, first_delay: float = 0.0) -> None:
        """Run ``task`` on the thread ``first_delay`` s from now, then again as many seconds after
        each run as that run returns, between calls, until set to ``None``.

        ``task`` must be quick and must not raise.
        """
        self._idle_first = first_delay
        self._idle_task = task
        self._jobs.put(_POKE)

    def nudge(self) -> None:
        """Run the idle task as soon as the calls already queued have run (any thread may call)."""
        self._jobs.put(_NUDGE)

    def stop(self) -> None:
        """Let the thread exit once the calls already queued have run."""
        self._idle_task = None
        self._jobs.put(_STOP)

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
                try:
                    job = jobs.get(timeout=due - now)
                except Empty:
                    continue
            if job is _STOP:
                return
            if job is _POKE:
                due = None  # the idle task changed: first run ``first_delay`` from now
                continue
            if job is _NUDGE:
                due = 0.0 if self._idle_task is not None else due
                continue
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
            del job, future, outcome


def _resolve(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled by the caller
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

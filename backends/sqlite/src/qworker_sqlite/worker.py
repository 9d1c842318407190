"""The backend's one database thread: runs calls in order, hands results back to the event loop.

A leaner stand-in for ``ThreadPoolExecutor(max_workers=1)`` + ``run_in_executor``, with one
addition: an *idle task* that the thread runs every ``interval`` seconds while one is set (the
long-poll watcher, :mod:`qworker_sqlite.wakeups`). Running that check on this thread,
rather than as an event-loop timer plus a hop per check, costs an idle long poll almost no CPU.

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
_STOP = object()


class WorkerThread:
    """A daemon thread that runs submitted functions one at a time, in submission order.

    Daemon, so a backend that is never closed cannot keep the interpreter alive; SQLite rolls
    back a transaction cut short by exit, as after a crash.
    """

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._idle_task: Callable[[], None] | None = None
        self._idle_interval = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``function(*args)``; the returned future (of the running loop) gets its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return future

    def set_idle_task(self, task: Callable[[], None] | None, interval: float = 0.0) -> None:
        """Run ``task`` on the thread every ``interval`` s (between jobs) until set to ``None``.

        ``task`` must be quick and must not raise.
        """
        self._idle_interval = interval
        self._idle_task = task
        self._jobs.put(_POKE)

    def stop(self) -> None:
        """Let the thread exit once the calls already queued have run."""
        self._idle_task = None
        self._jobs.put(_STOP)

    def _run(self) -> None:
        jobs = self._jobs
        due = 0.0
        while True:
            task = self._idle_task
            if task is None:
                job = jobs.get()
            else:
                now = time.monotonic()
                if due <= 0.0:
                    due = now + self._idle_interval
                if now >= due:
                    task()
                    due = time.monotonic() + self._idle_interval
                    continue
                try:
                    job = jobs.get(timeout=due - now)
                except Empty:
                    continue
            if job is _STOP:
                return
            if job is _POKE:
                due = 0.0  # the idle task changed: first run one interval from now
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

"""Threads for sync handlers that never queue a call, and that account for the ones stuck.

A thread cannot be stopped: a sync handler that runs past its timeout keeps its thread until it
returns by itself. :class:`concurrent.futures.ThreadPoolExecutor` sized to the concurrency then
has fewer threads than invocations it is asked to start, so the next call waits in its queue
while its messages' visibility and the function timeout run out, and those messages reach the
dead-letter queue without their handler ever starting (issue 13, defect 1).

Here every call starts on a thread at once: an idle thread if there is one, else a new one. The
call's ``started`` future completes when the handler begins, so the function timeout is counted
from there. How many threads may exist is bounded by the caller: the runtime starts at most
``max-concurrency`` invocations at once, and :class:`~qworker.runtime.invoker.ThreadInvoker`
decides how many stuck threads it replaces (the rest hold their concurrency slot until they
return), so at most ``2 x max-concurrency`` handler threads ever exist.

A handler that raises a ``BaseException`` (``KeyboardInterrupt``, ``SystemExit``, a custom
subclass) does not take the thread or the worker down: the exception is handed back as the call's
outcome, like any other error.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_STOP = None  #: put on an idle thread's inbox to end it


@dataclass(slots=True)
class ThreadCall:
    """One call running on a handler thread, seen from the event loop."""

    #: the ``time.monotonic()`` at which the function began, set from the thread
    started: asyncio.Future[float]
    #: ``(True, value)`` or ``(False, exception)`` once the function returned or raised
    done: asyncio.Future[tuple[bool, Any]]


@dataclass(slots=True)
class _Job:
    loop: asyncio.AbstractEventLoop
    call: ThreadCall
    function: Callable[[], Any]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class HandlerThreads:
    """Daemon threads that run one call each at a time, created on demand and reused when idle.

    Daemon threads: a worker that exits while a handler thread is stuck is not held open by it
    (the messages of a stuck invocation were already returned to their queue as a timeout).
    """

    def __init__(self, name: str = "qworker-handler") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._threads = 0  #: threads alive (running a call or idle)
        self._closed = False

    @property
    def threads(self) -> int:
        """Handler threads alive now, running or idle."""
        return self._threads

    def submit(self, function: Callable[[], Any]) -> ThreadCall:
        """Start ``function`` on a thread now; it runs in a copy of the caller's context."""
        loop = asyncio.get_running_loop()
        call = ThreadCall(loop.create_future(), loop.create_future())
        job = _Job(loop, call, function)
        with self._lock:
            if self._closed:
                raise RuntimeError("the handler threads are closed")
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self._threads += 1
        if inbox is None:
            inbox = queue.SimpleQueue()
            inbox.put(job)
            number = self._threads
            threading.Thread(
                target=self._main, args=(inbox,), name=f"{self.name}-{number}", daemon=True
            ).start()
        else:
            inbox.put(job)
        return call

    def close(self) -> None:
        """End the idle threads; threads still running end when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(_STOP)

    def _main(self, inbox: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = inbox.get()
            if job is _STOP:
                break
            self._run(job)
            with self._lock:
                if self._closed:
                    break
                self._idle.append(inbox)
        with self._lock:
            self._threads -= 1

    @staticmethod
    def _run(job: _Job) -> None:
        loop, call = job.loop, job.call
        try:
            loop.call_soon_threadsafe(_settle, call.started, time.monotonic())
        except RuntimeError:  # the loop is closed: nobody waits for this call any more
            return
        try:
            outcome: tuple[bool, Any] = (True, job.context.run(job.function))
        except BaseException as exc:  # handed back as the outcome, never lost
            outcome = (False, exc)
        try:
            loop.call_soon_threadsafe(_settle, call.done, outcome)
        except RuntimeError:  # the loop closed while the handler ran (the worker is exiting)
            pass

"""``Client``: the blocking client, safe to share between threads.

Backends are asyncio code, and their connections belong to one event loop. The sync client
therefore owns one background thread running one event loop, and one
:class:`~qworker.client.aio.AsyncClient` on it; each call from any thread is handed to that loop
(``run_coroutine_threadsafe``) and waits for its result. Many threads calling at once is the
normal case: their single sends meet on the loop and are coalesced into batch calls, so a
thread pool of producers costs few backend round trips.

The thread starts on the first call (or ``with``) and stops on :meth:`Client.close`; it is a
daemon thread, so a client never closed does not keep the program alive. A client cannot cross a
``fork``: the child has no copy of the thread, and the call says so instead of hanging. Calling
the sync client from inside its own loop (a callback of the client itself) would deadlock and
raises instead; from async code use :class:`~qworker.client.aio.AsyncClient`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from qworker.backend import Backend, QueueSpec
from qworker.client.aio import AsyncClient
from qworker.client.messages import Dumps, Message
from qworker.client.results import BatchResult

if TYPE_CHECKING:
    from typing import Self

T = TypeVar("T")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Unix
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _LoopThread:
    """One event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = _new_loop()
        self.pid = os.getpid()
        started = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(started,), name="qworker-client", daemon=True)
        self.thread.start()
        started.wait()

    def _main(self, started: threading.Event) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        try:
            loop.run_forever()
            # calls abandoned by their thread (timed out) are cancelled and finish here, so the
            # loop closes without "task was destroyed but it is pending"
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


class Client:
    """Send messages to qworker queues from ordinary (threaded) code.

    ``with Client.from_url("sqlite:///queues.db") as client: client.send("jobs", {"id": 1})``.
    Every method is thread-safe; see the module docstring. ``timeout`` bounds each call in
    seconds (``None``: wait as long as the backend takes); a call that times out is cancelled
    and raises :class:`TimeoutError`, and a message it was sending may or may not have been sent.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        coalesce: bool = True,
        dumps: Dumps | None = None,
        timeout: float | None = None,
    ) -> None:
        self._client = AsyncClient(backend, coalesce=coalesce, dumps=dumps)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._runner: _LoopThread | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        coalesce: bool = True,
        dumps: Dumps | None = None,
        timeout: float | None = None,
    ) -> Self:
        """A client for the backend at ``url`` (default ``$QWORKER_BACKEND``, else
        ``sqlite:///qworker.db``): ``sqlite://``, ``redis://``, ``sqs://``, any installed scheme."""
        from qworker.registry import open_backend

        return cls(open_backend(url), coalesce=coalesce, dumps=dumps, timeout=timeout)

    @property
    def backend(self) -> Backend:
        """The backend (an asyncio object living on the client's thread)."""
        return self._client.backend

    # -- life cycle ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Start the client's thread and connect now (otherwise the first call does)."""
        self._call(self._client.connect())

    def close(self) -> None:
        """Wait for calls in progress, close the backend and stop the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            if runner.pid == os.getpid():
                asyncio.run_coroutine_threadsafe(self._client.close(), runner.loop).result()
        finally:
            if runner.pid == os.getpid():
                runner.stop()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _loop_thread(self) -> _LoopThread:
        runner = self._runner
        if runner is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("This qworker client is closed.")
                if self._runner is None:
                    self._runner = _LoopThread()
                runner = self._runner
        if runner.pid != os.getpid():
            raise RuntimeError(
                "This qworker Client was started in the parent process before a fork; its thread does "
                "not exist here. Make a new Client in this process."
            )
        if threading.current_thread() is runner.thread:
            raise RuntimeError(
                "The sync qworker Client was called from its own event loop, which would deadlock; "
                "use qworker.AsyncClient in async code."
            )
        return runner

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the client's loop, in a copy of the caller's context (so the
        caller's trace, its OpenTelemetry span or invocation, goes with what it sends), and wait."""
        try:
            runner = self._loop_thread()
        except BaseException:
            coroutine.close()
            raise
        context = contextvars.copy_context()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = runner.loop.create_task(coroutine, context=context)
            tasks.append(task)
            task.add_done_callback(lambda _: _settle(task, done))

        runner.loop.call_soon_threadsafe(start)
        try:
            return done.result(self._timeout)
        except concurrent.futures.TimeoutError:
            runner.loop.call_soon_threadsafe(lambda: [task.cancel() for task in tasks])
            raise TimeoutError(f"The qworker call did not finish within {self._timeout} s.") from None

    # -- the calls: AsyncClient's, run on the client's loop ---------------------------------

    def send(
        self,
        queue: str,
        body: Any,
        *,
        attributes: Mapping[str, Any] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        delay: int | None = None,
        trace_header: str | None = None,
    ) -> str:
        """Send one message; returns its message id. See :meth:`AsyncClient.send`."""
        return self._call(
            self._client.send(
                queue,
                body,
                attributes=attributes,
                group_id=group_id,
                dedup_id=dedup_id,
                delay=delay,
                trace_header=trace_header,
            )
        )

    def send_batch(self, queue: str, entries: Iterable[Message | Mapping[str, Any]]) -> BatchResult:
        """Send several messages; one result per message, in order. See
        :meth:`AsyncClient.send_batch`."""
        return self._call(self._client.send_batch(queue, entries))

    def create_queue(
        self, name: str | QueueSpec, *, tags: Mapping[str, str] | None = None, **attributes: Any
    ) -> None:
        """Create a queue. See :meth:`AsyncClient.create_queue`."""
        self._call(self._client.create_queue(name, tags=tags, **attributes))

    def stats(self, queue: str) -> dict[str, str]:
        """The queue's attributes (SQS ``GetQueueAttributes(All)``). See :meth:`AsyncClient.stats`."""
        return self._call(self._client.stats(queue))


def _settle(task: asyncio.Task[T], done: concurrent.futures.Future[T]) -> None:
    """Hand a finished task's outcome to the waiting thread."""
    if task.cancelled():
        done.set_exception(TimeoutError("The qworker call was cancelled."))
    elif task.exception() is not None:
        done.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        done.set_result(task.result())

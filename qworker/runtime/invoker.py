"""Call the user's handler the way Lambda's Python runtime does, with the function timeout.

Three ways to run a handler, chosen once at start:

* ``async def handler`` runs on the event loop; the timeout cancels it.
* ``def handler`` runs in a thread pool sized to the concurrency. A thread cannot be killed: on
  timeout the invocation fails (as in Lambda) but the thread runs on; such stragglers are counted
  and logged, and ``--isolation process`` is the answer for handlers that must be stopped.
* ``--isolation process`` runs sync handlers in a pool of worker processes
  (:mod:`qworker.runtime.process_pool`); a timeout kills the process.

What the handler returns is judged by :mod:`qworker.responses` as Lambda's runtime would
serialize it: a value that cannot be serialized is a function error (``Runtime.MarshalError``),
whether or not partial batch responses are on.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from qworker.context import LambdaContext

log = structlog.get_logger("qworker")

Outcome = Literal["success", "error", "timeout"]
_ERROR_TEXT_LIMIT = 4096


@dataclass(slots=True)
class InvocationResult:
    """What one invocation gave: its outcome, the handler's return value, the error if any."""

    outcome: Outcome
    value: Any = None  #: what the handler returned (read by :mod:`qworker.responses`)
    error_type: str | None = None  #: e.g. "ValueError", "Runtime.MarshalError", "Sandbox.Timedout"
    error_message: str | None = None
    error_detail: str | None = None  #: a truncated traceback, for logs and failure notes
    duration: float = 0.0

    @property
    def error_text(self) -> str:
        """One text for logs and failure notes: type, message and traceback, bounded in size."""
        text = f"{self.error_type}: {self.error_message}"
        if self.error_detail:
            text = f"{text}\n{self.error_detail}"
        return text[:_ERROR_TEXT_LIMIT]


class Invoker(Protocol):
    """Runs one invocation of the handler."""

    async def invoke(
        self, event: dict[str, Any], context: LambdaContext, timeout: float
    ) -> InvocationResult: ...

    async def close(self) -> None: ...


def _returned(value: Any, started: float) -> InvocationResult:
    return InvocationResult("success", value=value, duration=time.monotonic() - started)


def _failure(exc: BaseException, started: float) -> InvocationResult:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=20))
    return InvocationResult(
        "error",
        error_type=type(exc).__name__,
        error_message=str(exc),
        error_detail=detail[-_ERROR_TEXT_LIMIT:],
        duration=time.monotonic() - started,
    )


def _exited(exc: SystemExit, started: float) -> InvocationResult:
    return InvocationResult(
        "error",
        error_type="Runtime.ExitError",
        error_message=f"The handler called sys.exit({exc.code!r}); the worker keeps running.",
        duration=time.monotonic() - started,
    )


def _timed_out(timeout: float, started: float) -> InvocationResult:
    return InvocationResult(
        "timeout",
        error_type="Sandbox.Timedout",
        error_message=f"Task timed out after {timeout:.2f} seconds",
        duration=time.monotonic() - started,
    )


def is_async_handler(handler: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is ``async def``."""
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - we want the method itself
    return inspect.iscoroutinefunction(call)


class AsyncInvoker:
    """Awaits an ``async def`` handler on the event loop, cancelled at the timeout."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler

    async def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> InvocationResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                value = await self.handler(event, context)
        except TimeoutError:
            return _timed_out(timeout, started)
        except asyncio.CancelledError:
            raise
        except SystemExit as exc:  # sys.exit() in a handler: Lambda reports Runtime.ExitError
            return _exited(exc, started)
        except Exception as exc:
            return _failure(exc, started)
        if time.monotonic() - started > timeout:
            # it blocked the event loop past its timeout (a sync call inside an async handler),
            # so the cancellation could not fire: still a timeout, as Lambda would end it
            return _timed_out(timeout, started)
        return _returned(value, started)

    async def close(self) -> None:
        return None


class ThreadInvoker:
    """Runs a sync handler in a thread pool sized to the concurrency.

    A timed-out thread cannot be stopped; ``stragglers`` counts those still running.
    """

    def __init__(self, handler: Callable[..., Any], max_workers: int) -> None:
        self.handler = handler
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="qworker-handler")
        self._stragglers = 0
        self._lock = threading.Lock()

    @property
    def stragglers(self) -> int:
        """Handler threads still running after their invocation timed out."""
        return self._stragglers

    def _run(self, event: dict[str, Any], context: LambdaContext) -> Any:
        value = self.handler(event, context)
        if inspect.isawaitable(value):  # a sync function that returned a coroutine
            value = asyncio.run(_await(value))
        return value

    async def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> InvocationResult:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self._run, event, context)
        future = loop.run_in_executor(self.executor, call)
        try:
            async with asyncio.timeout(timeout):
                value = await asyncio.shield(future)
        except TimeoutError:
            self._track_straggler(future)
            return _timed_out(timeout, started)
        except asyncio.CancelledError:
            self._track_straggler(future)
            raise
        except SystemExit as exc:  # sys.exit() in a handler: Lambda reports Runtime.ExitError
            return _exited(exc, started)
        except Exception as exc:
            return _failure(exc, started)
        return _returned(value, started)

    def _track_straggler(self, future: asyncio.Future[Any]) -> None:
        if future.done():
            return
        with self._lock:
            self._stragglers += 1
            running = self._stragglers
        log.warning(
            "a sync handler thread is still running after its invocation timed out: threads cannot be "
            "stopped (use --isolation process to kill runaway handlers)",
            threads_still_running=running,
        )

        def finished(_: asyncio.Future[Any]) -> None:
            with self._lock:
                self._stragglers -= 1
            if not _.cancelled():
                _.exception()  # retrieve it so asyncio does not warn

        future.add_done_callback(finished)

    async def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _await(value: Any) -> Any:
    return await value

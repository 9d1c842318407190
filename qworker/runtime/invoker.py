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
import functools
import inspect
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

import structlog

from qworker.context import LambdaContext
from qworker.runtime.handler_threads import HandlerThreads
from qworker.runtime.metrics import Count

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
    #: set when the invocation's concurrency slot must stay taken after it returned: the slot is
    #: free once this future completes (a stuck thread, a handler process being replaced)
    capacity_held: asyncio.Future[Any] | None = None

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


#: frames of this directory (the invokers, the handler threads) are not the handler's
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_runtime_frame(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_RUNTIME_DIR)


def _handler_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the handler's first frame on, as Lambda's error report shows it: the
    invoker's own frames are noise in a dead letter's last error."""
    while (
        tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(_RUNTIME_DIR)
    ):
        tb = tb.tb_next
    return tb


def _failure(exc: BaseException, started: float) -> InvocationResult:
    """The result of a handler that raised: its exception's type, message and traceback.

    ``SystemExit`` and other ``BaseException`` subclasses (``KeyboardInterrupt``, custom ones) would
    end Lambda's runtime process: they are ``Runtime.ExitError`` there, a function error that is
    recorded with the messages; the worker keeps serving.
    """
    if isinstance(exc, SystemExit):
        return InvocationResult(
            "error",
            error_type="Runtime.ExitError",
            error_message=f"The handler called sys.exit({exc.code!r}); the worker keeps running.",
            duration=time.monotonic() - started,
        )
    detail = "".join(traceback.format_exception(type(exc), exc, _handler_frames(exc.__traceback__), limit=20))
    if isinstance(exc, Exception):
        error_type, message = type(exc).__name__, str(exc)
    else:
        error_type = "Runtime.ExitError"
        message = (
            f"The handler raised {type(exc).__name__} ({exc}), which would end Lambda's runtime process; "
            "the worker keeps running."
        )
    return InvocationResult(
        "error",
        error_type=error_type,
        error_message=message,
        error_detail=detail[-_ERROR_TEXT_LIMIT:],
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
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: Runtime.ExitError
            return _failure(exc, started)
        if time.monotonic() - started > timeout:
            # it blocked the event loop past its timeout (a sync call inside an async handler),
            # so the cancellation could not fire: still a timeout, as Lambda would end it
            return _timed_out(timeout, started)
        return _returned(value, started)

    async def close(self) -> None:
        return None


class ThreadInvoker:
    """Runs a sync handler on a thread of its own, started at once (never queued).

    The function timeout counts from the moment the handler starts on its thread. A thread
    cannot be stopped: a handler still running at its timeout fails the invocation (as on Lambda)
    and keeps its thread; it is *stuck*. Up to ``replace_stuck`` stuck threads (by default the
    concurrency) are replaced at once, so they cost no capacity; each one beyond that keeps its
    concurrency slot (:attr:`InvocationResult.capacity_held`) until its handler returns, so the
    worker receives less, down to nothing, rather than receive messages it cannot start.
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        max_workers: int,
        *,
        replace_stuck: int | None = None,
        stuck_gauge: Count | None = None,
    ) -> None:
        self.handler = handler
        self.threads = HandlerThreads()
        self.replace_stuck = max_workers if replace_stuck is None else replace_stuck
        self.stuck = 0  #: handler threads still running after their invocation timed out
        self.holding = 0  #: of those, the ones past ``replace_stuck``, each holding a slot
        self._gauge = stuck_gauge

    @property
    def stragglers(self) -> int:
        """Handler threads still running after their invocation timed out (``stuck``)."""
        return self.stuck

    def _run(self, event: dict[str, Any], context: LambdaContext) -> Any:
        value = self.handler(event, context)
        if inspect.isawaitable(value):  # a sync function that returned a coroutine
            value = asyncio.run(_await(value))
        return value

    async def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> InvocationResult:
        call = self.threads.submit(functools.partial(self._run, event, context))
        try:
            started = await call.started
            async with asyncio.timeout(timeout - (time.monotonic() - started)):
                succeeded, value = await asyncio.shield(call.done)
        except TimeoutError:
            result = _timed_out(timeout, started)
            result.capacity_held = self._stuck(call.done, timeout)
            return result
        except asyncio.CancelledError:
            self._stuck(call.done, timeout)
            raise
        return _returned(value, started) if succeeded else _failure(value, started)

    def _stuck(self, done: asyncio.Future[Any], timeout: float) -> asyncio.Future[Any] | None:
        """Count a thread that runs on past its invocation; the future to hold a slot on, if any."""
        if done.done():
            return None
        self.stuck += 1
        if self._gauge is not None:
            self._gauge.set(self.stuck)
        holds = self.stuck > self.replace_stuck
        self.holding += holds
        since = time.monotonic()
        if holds:
            log.error(
                "a sync handler thread is stuck past its timeout and no more stuck threads are replaced: "
                "its concurrency slot stays taken until it returns, so the worker receives less "
                "(use --isolation process to kill runaway handlers)",
                stuck_threads=self.stuck,
                slots_held=self.holding,
                timeout=timeout,
            )
        else:
            log.warning(
                "a sync handler thread is still running after its invocation timed out: threads cannot be "
                "stopped, so a new thread takes its place (use --isolation process to kill runaway handlers)",
                stuck_threads=self.stuck,
                replaced_up_to=self.replace_stuck,
                timeout=timeout,
            )

        def returned(_: asyncio.Future[Any]) -> None:
            self.stuck -= 1
            self.holding -= holds
            if self._gauge is not None:
                self._gauge.set(self.stuck)
            log.info(
                "a stuck sync handler thread returned",
                after_seconds=round(time.monotonic() - since + timeout, 2),
                stuck_threads=self.stuck,
            )

        done.add_done_callback(returned)
        return done if holds else None

    async def close(self) -> None:
        if self.stuck:
            log.warning(
                "sync handler threads still running past their timeout are abandoned at exit",
                stuck_threads=self.stuck,
            )
        self.threads.close()


async def _await(value: Any) -> Any:
    return await value

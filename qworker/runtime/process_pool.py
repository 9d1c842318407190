"""``--isolation process``: run a sync handler in worker processes that a timeout really kills.

Threads cannot be stopped, so a sync handler that loops forever would hold a thread for good and
keep doing whatever it does after its invocation failed. In process isolation each invocation
runs in one of ``size`` worker processes (started with the ``spawn`` method, each importing the
handler once, like a Lambda execution environment); when the function timeout passes, the
process is killed with SIGKILL and replaced. A worker that dies mid-invocation (a crash, an
``os._exit``, the OOM killer) fails the invocation as Lambda's ``Runtime.ExitError``.

Importing the handler is the environment's *Init* phase, as on Lambda: it is not counted against
the function timeout. A process is used only after it reported that the import is done (within
:data:`INIT_TIMEOUT`, Lambda's 10-second Init limit); replacements for killed processes start in
the background, so a timed-out invocation does not wait for its successor's import either.

The parent sends the event and the context's fields; the child builds the context with the same
request id and the remaining time, runs the handler and sends back its return value, so the
result is judged exactly as in thread mode (a value that cannot be sent across is a
``Runtime.MarshalError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from qworker import tracing
from qworker.context import LambdaContext
from qworker.runtime.invoker import InvocationResult, _failure, _timed_out

#: seconds a new handler process may take to import the handler (Lambda's Init limit)
INIT_TIMEOUT = 10.0


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    init_error: str | None = None  #: why the handler could not be imported in this process


class ProcessInvoker:
    """A pool of ``size`` handler processes; each invocation takes one, a timeout kills it."""

    def __init__(self, target: str, app_dir: str | None, size: int, environment: dict[str, str]) -> None:
        self.target = target
        self.app_dir = app_dir
        self.size = size
        self.environment = environment
        self._mp = multiprocessing.get_context("spawn")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.killed = 0  #: workers killed at a timeout

    def _spawn(self) -> _Worker:
        """Start a handler process and wait (blocking; run it off the loop) for its Init."""
        parent, child = self._mp.Pipe(duplex=True)
        process = self._mp.Process(
            target=_child_main,
            args=(child, self.target, self.app_dir, self.environment),
            name="qworker-handler",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        try:
            if not parent.poll(INIT_TIMEOUT):
                worker.init_error = (
                    f"Runtime.InitError: importing the handler took more than {INIT_TIMEOUT:.0f} s"
                )
            else:
                kind, payload = parent.recv()
                if kind != "ready":
                    worker.init_error = f"Runtime.InitError: {payload}"
        except (EOFError, OSError) as exc:
            worker.init_error = f"Runtime.InitError: the handler process exited during its import ({exc!r})"
        return worker

    async def start(self) -> None:
        """Start every worker process now, so the first invocations do not wait for imports."""
        self._idle = asyncio.Queue()
        loop = asyncio.get_running_loop()
        workers = await asyncio.gather(*(loop.run_in_executor(None, self._spawn) for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)

    async def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> InvocationResult:
        if self._idle is None:
            await self.start()
        assert self._idle is not None
        worker = await self._idle.get()
        try:
            result, healthy = await self._invoke_on(worker, event, context, timeout)
        except BaseException:  # cancelled mid-invocation: the process is in an unknown state
            await self._retire(worker)
            raise
        if healthy and not self._closed:
            self._idle.put_nowait(worker)
        else:
            # the slot stays taken until the replacement has imported the handler, so a message
            # is never received for an invocation that would have to wait for a process
            result.capacity_held = await self._retire(worker)
        return result

    async def _invoke_on(
        self, worker: _Worker, event: dict[str, Any], context: LambdaContext, timeout: float
    ) -> tuple[InvocationResult, bool]:
        """Run one invocation on ``worker``; also says whether the process can be used again."""
        started = time.monotonic()
        if worker.init_error is not None or not worker.process.is_alive():
            return InvocationResult(
                "error",
                error_type="Runtime.InitError" if worker.init_error else "Runtime.ExitError",
                error_message=worker.init_error or "the handler process had exited",
                duration=time.monotonic() - started,
            ), False
        request = (event, context.aws_request_id, context.get_remaining_time_in_millis() / 1000.0)
        worker.conn.send((*request, _context_fields(context), tracing.current_trace_header()))
        try:
            async with asyncio.timeout(timeout):
                reply = await self._receive(worker)
        except TimeoutError:
            self.killed += 1
            return _timed_out(timeout, started), False
        if reply is None:
            return InvocationResult(
                "error",
                error_type="Runtime.ExitError",
                error_message=f"The handler process exited (exit code {worker.process.exitcode}) "
                "before the invocation finished.",
                duration=time.monotonic() - started,
            ), False
        kind, payload = reply
        if kind == "ok":
            return InvocationResult("success", value=payload, duration=time.monotonic() - started), True
        error_type, message, detail = payload
        return InvocationResult(
            "error",
            error_type=error_type,
            error_message=message,
            error_detail=detail,
            duration=time.monotonic() - started,
        ), True

    async def _retire(self, worker: _Worker) -> asyncio.Future[None] | None:
        """Kill ``worker`` and start its replacement; the future completes once it is in the pool."""
        await self._kill(worker)
        return None if self._closed else self._replace()

    def _replace(self) -> asyncio.Future[None]:
        """Start a replacement process in the background; it joins the pool once imported."""

        async def replace() -> None:
            fresh = await asyncio.get_running_loop().run_in_executor(None, self._spawn)
            if self._closed or self._idle is None:
                await self._kill(fresh)
            else:
                self._idle.put_nowait(fresh)

        task = asyncio.get_running_loop().create_task(replace())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)
        return task

    async def _receive(self, worker: _Worker) -> Any:
        """The child's reply, or ``None`` when the child died before answering."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        fd = worker.conn.fileno()

        def readable() -> None:
            if future.done():
                return
            try:
                future.set_result(worker.conn.recv())
            except (EOFError, OSError):
                future.set_result(None)

        loop.add_reader(fd, readable)
        try:
            return await future
        finally:
            loop.remove_reader(fd)

    async def _kill(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.process.kill()
        await asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)
        worker.conn.close()

    async def close(self) -> None:
        self._closed = True
        if self._replacing:
            await asyncio.gather(*self._replacing, return_exceptions=True)
        if self._idle is None:
            return
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            with contextlib.suppress(OSError, BrokenPipeError):
                worker.conn.send(None)
            await asyncio.get_running_loop().run_in_executor(None, worker.process.join, 2)
            if worker.process.is_alive():
                await self._kill(worker)
            else:
                worker.conn.close()


def _context_fields(context: LambdaContext) -> dict[str, str]:
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
    }


def _child_main(conn: Connection, target: str, app_dir: str | None, environment: dict[str, str]) -> None:
    """A handler process: import the handler once (Init), say so, then run invocations."""
    # the parent owns shutdown (it drains, then closes the pool): a Ctrl-C sent to the whole
    # process group must not interrupt a handler mid-invocation here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(environment)
    from qworker.importer import import_from_string
    from qworker.runtime.invoker import is_async_handler

    try:
        handler = import_from_string(target, app_dir)
    except Exception as exc:
        conn.send(("init_error", f"{type(exc).__name__}: {exc}"))
        return
    runner = asyncio.Runner() if is_async_handler(handler) else None
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        event, request_id, remaining, fields, trace_header = request
        # one invocation at a time in this process: a plain variable is right, as in Lambda
        _set_trace_header(trace_header)
        context = LambdaContext(timeout=remaining, aws_request_id=request_id, **fields)
        try:
            value = runner.run(handler(event, context)) if runner is not None else handler(event, context)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit too: reported, the process serves on
            failed = _failure(exc, 0.0)
            conn.send(("error", (failed.error_type, failed.error_message, failed.error_detail)))
            continue
        try:
            conn.send(("ok", value))
        except Exception as exc:  # the value cannot cross the process boundary: not serializable
            conn.send(("error", ("Runtime.MarshalError", f"Unable to marshal response: {exc}", None)))


def _set_trace_header(header: str | None) -> None:
    """``_X_AMZN_TRACE_ID`` (and :func:`qworker.tracing.current_trace_header`) for the invocation
    about to run in this handler process."""
    if header is None:
        tracing.clear_trace_header()
    else:
        tracing.set_trace_header(header)
    if header is None:
        os.environ.pop(tracing.TRACE_ENV, None)
    else:
        os.environ[tracing.TRACE_ENV] = header

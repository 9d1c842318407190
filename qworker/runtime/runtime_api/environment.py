"""One execution environment: a runtime process, its Runtime API listener, its Init and invokes.

Life of an environment, as in Lambda:

* **Init**: the process starts with Lambda's environment variables; Init ends when it first asks
  for an invocation (GET /next), within :data:`INIT_TIMEOUT` (Lambda's 10 s). Init does not count
  against the function timeout. An Init that fails (POST /init/error, an exit, the time limit)
  is kept as the environment's :attr:`init_error`: the invocation given to it fails with it.
* **Invoke**: the event goes out as the answer to GET /next, with the request id, the deadline,
  the function ARN and the invocation's trace header (:mod:`qworker.tracing`) in headers; the
  runtime's POST /response is the value, its POST /error a function error. At the function
  timeout the process group is killed (``Sandbox.Timedout``); an exit mid-invocation is
  ``Runtime.ExitError``. Either way the environment is done.
* Kept warm between invocations; closed with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import orjson
import structlog

from qworker import tracing
from qworker.context import FunctionInfo, LambdaContext
from qworker.runtime.invoker import InvocationResult, _timed_out
from qworker.runtime.runtime_api import output, process, protocol
from qworker.runtime.runtime_api.app import RuntimeApiApp
from qworker.runtime.runtime_api.launch import Launch
from qworker.runtime.runtime_api.listener import Listener
from qworker.runtime.runtime_api.state import Invocation, RuntimeApiState, Settlement

log = structlog.get_logger("qworker")

#: seconds a runtime may take to initialize (Lambda's Init limit)
INIT_TIMEOUT = 10.0
#: seconds a closing runtime gets after SIGTERM before SIGKILL
STOP_GRACE = 0.5
#: the event as Lambda sends it: compact UTF-8 JSON (records are plain dicts, never circular);
#: the standard library's encoder for what orjson refuses (non-string keys, integers over 64 bits)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
#: what the timeout timer settles an invocation with
_TIMED_OUT = Settlement("exit")


class ExecutionEnvironment:
    """One runtime process and its API; :meth:`invoke` one invocation at a time."""

    def __init__(self, launch: Launch, function: FunctionInfo) -> None:
        self.launch = launch
        self.function = function
        self.state = RuntimeApiState()
        self.listener = Listener(RuntimeApiApp(self.state))
        self.process: asyncio.subprocess.Process | None = None
        self.init_error: str | None = None  #: "Type: message" when Init failed
        self.init_duration = 0.0
        self._tasks: list[asyncio.Task[Any]] = []
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def alive(self) -> bool:
        return self.process is not None and not self._exited.done()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        """Start the listener and the process, and wait for Init (never raises for Init errors)."""
        started = time.monotonic()
        await self.listener.start()
        env = self.launch.environment(self.function, self.listener.address)
        try:
            self.process = await process.spawn(self.launch.argv, self.launch.code_dir, env)
        except OSError as exc:
            self.init_error = f"{protocol.INIT_ERROR}: could not start {self.launch.argv[0]}: {exc}"
            self._exited.set_result(-1)
            return
        proc = self.process
        assert proc.stdout is not None and proc.stderr is not None
        name = self.function.name
        for reader, stream in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            self._tasks.append(asyncio.create_task(output.pump(reader, stream, name, self._rid, proc.pid)))
        self._tasks.append(asyncio.create_task(self._watch()))
        await self._init(started)

    def _rid(self) -> str | None:
        return self.state.request_id

    async def _init(self, started: float) -> None:
        try:
            async with asyncio.timeout(INIT_TIMEOUT):
                reported = await self.state.initialized
        except TimeoutError:
            self.init_error = (
                f"{protocol.INIT_ERROR}: the runtime did not ask for an invocation within the "
                f"{INIT_TIMEOUT:.0f} s Init limit"
            )
            reported = None
        self.init_duration = time.monotonic() - started
        if reported is not None:
            self.init_error = f"{reported.error_type}: {reported.message}"
        elif self.init_error is None and self._exited.done():
            self.init_error = f"{protocol.EXIT_ERROR}: {_exit_text(self._exited.result())} during Init"
        if self.init_error is not None:
            log.error(
                "the runtime failed its Init phase",
                function=self.function.name,
                runtime=self.launch.runtime,
                error=self.init_error,
                pid=self.pid,
            )
        else:
            log.debug("runtime initialized", function=self.function.name, init_ms=self.ms(self.init_duration))

    @staticmethod
    def ms(seconds: float) -> float:
        return round(seconds * 1000, 2)

    async def _watch(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        process.forget(self.process.pid)
        if not self._exited.done():
            self._exited.set_result(code)
        self.state.abandon(Settlement("exit"))

    async def invoke(
        self, event: dict[str, Any], context: LambdaContext, timeout: float
    ) -> tuple[InvocationResult, bool]:
        """Run one invocation; also says whether the environment can take another."""
        started = time.monotonic()
        if self.init_error is not None:
            error_type, _, message = self.init_error.partition(": ")
            return InvocationResult(
                "error", error_type=error_type, error_message=message, duration=0.0
            ), False
        if not self.alive:
            return _exit_result(self._exit_code(), started), False
        payload = encode_event(event)
        invocation = Invocation(context.aws_request_id, payload, self._headers(context, timeout))
        self.state.dispatch(invocation)
        # a timer settles the invocation at the timeout (cheaper than a timeout scope per call)
        timer = asyncio.get_running_loop().call_later(timeout, invocation.settle, _TIMED_OUT)
        try:
            settlement = await invocation.settled
        finally:
            timer.cancel()
        if settlement is _TIMED_OUT:
            await self.kill()
            return _timed_out(timeout, started), False
        return _result(settlement, started, self._exit_code()), settlement.kind != "exit"

    def _headers(self, context: LambdaContext, timeout: float) -> list[tuple[bytes, bytes]]:
        deadline = int((time.time() + timeout) * 1000)
        return [
            (b"content-type", b"application/json"),
            (protocol.H_REQUEST_ID, context.aws_request_id.encode()),
            (protocol.H_DEADLINE, str(deadline).encode()),
            (protocol.H_FUNCTION_ARN, context.invoked_function_arn.encode()),
            (protocol.H_TRACE_ID, (tracing.current_trace_header() or tracing.new_trace_header()).encode()),
        ]

    def _exit_code(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def kill(self) -> None:
        """SIGKILL the process group at once (a timeout); the listener closes too."""
        if self.process is not None:
            process.kill_group(self.process)
        await self._finish()

    async def close(self) -> None:
        """Stop the runtime (SIGTERM, then SIGKILL after a short grace) and its listener."""
        if self.process is not None:
            await process.stop(self.process, STOP_GRACE)
        await self._finish()

    async def _finish(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self.process.wait()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
        await self.listener.close()


def encode_event(event: dict[str, Any]) -> bytes:
    """The event's JSON: orjson (the same bytes as the standard library's encoder, several times
    faster on a batch of records), the standard library's encoder for what orjson does not take."""
    try:
        return orjson.dumps(event)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODER.encode(event).encode()


def _result(settlement: Settlement, started: float, exit_code: int | None) -> InvocationResult:
    duration = time.monotonic() - started
    if settlement.kind == "response":
        # the raw payload: qworker.responses parses it as JSON exactly as for Python handlers;
        # an empty body is a null response
        return InvocationResult("success", value=settlement.body or None, duration=duration)
    if settlement.kind == "too_large":
        return InvocationResult(
            "error",
            error_type=protocol.RESPONSE_TOO_LARGE,
            error_message="Response payload size exceeded maximum allowed payload size "
            f"({protocol.MAX_RESPONSE} bytes).",
            duration=duration,
        )
    if settlement.kind == "error" and settlement.error is not None:
        return InvocationResult(
            "error",
            error_type=settlement.error.error_type,
            error_message=settlement.error.message,
            error_detail=settlement.error.detail,
            duration=duration,
        )
    return _exit_result(exit_code, started)


def _exit_result(exit_code: int | None, started: float) -> InvocationResult:
    return InvocationResult(
        "error",
        error_type=protocol.EXIT_ERROR,
        error_message=f"Runtime exited with error: {_exit_text(exit_code)}",
        duration=time.monotonic() - started,
    )


def _exit_text(code: int | None) -> str:
    """Lambda's wording: ``exit status 1``, ``signal: killed``."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
        except ValueError:
            name = str(-code)
        return f"signal: {'killed' if name == 'kill' else name}"
    return f"exit status {code}"

"""The Runtime API invoker: a pool of execution environments, one per concurrency slot.

To the event source mapping this is an :class:`~qworker.runtime.invoker.Invoker` like the
others; what changes is where the handler runs. Environments are made on demand, as Lambda makes
them: one at start-up (so a runtime that cannot start is seen before any message is received),
more as concurrent invocations need them, up to the concurrency limit, each kept warm and used
again (the most recently used first, as Lambda's warm starts).

An environment that timed out, crashed or failed its Init is killed and replaced in the
background; the invocation's concurrency slot stays taken until the replacement has finished
its Init (:attr:`InvocationResult.capacity_held`), so the worker never receives a batch that
would have to wait for a cold start it caused. A cold start that serves a new slot, on the
other hand, is waited for, as in Lambda, and does not count against the function timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import structlog

from qworker.context import FunctionInfo, LambdaContext
from qworker.errors import HandlerImportError
from qworker.runtime.invoker import InvocationResult
from qworker.runtime.runtime_api.environment import ExecutionEnvironment
from qworker.runtime.runtime_api.launch import Launch

log = structlog.get_logger("qworker")


class RuntimeInitFailed(HandlerImportError):
    """The first runtime process could not initialize (exit 4, like an import error)."""


class RuntimeApiInvoker:
    """Runs invocations in up to ``size`` runtime processes speaking the Runtime API."""

    def __init__(self, launch: Launch, function: FunctionInfo, size: int) -> None:
        self.launch = launch
        self.function = function
        self.size = size
        self._idle: list[ExecutionEnvironment] = []  #: warm, most recently used last
        self._count = 0  #: environments alive or starting, replacements included
        self._freed = asyncio.Event()
        self._replacing: set[asyncio.Task[None]] = set()
        self._busy: set[ExecutionEnvironment] = set()
        self._closed = False
        self.started = 0  #: environments started (cold starts), for tests and metrics
        self.killed = 0  #: environments killed at a timeout

    async def start(self) -> None:
        """Start the first environment now: a runtime that cannot initialize stops the worker
        with exit code 4 before any message is received, as a Python handler that cannot be
        imported does. (Later Inits that fail fail their invocation, as in Lambda.)"""
        environment = await self._new()
        if environment.init_error is not None:
            self._count -= 1
            await environment.close()
            raise RuntimeInitFailed(
                f"{self.function.name}: the runtime ({' '.join(self.launch.argv)}) failed its Init "
                f"phase: {environment.init_error}"
            )
        log.info(
            "runtime ready",
            function=self.function.name,
            runtime=self.launch.runtime,
            command=" ".join(self.launch.argv),
            init_ms=environment.ms(environment.init_duration),
        )
        self._idle.append(environment)

    async def _new(self) -> ExecutionEnvironment:
        self._count += 1
        self.started += 1
        environment = ExecutionEnvironment(self.launch, self.function)
        try:
            await environment.start()
        except BaseException:
            self._count -= 1
            await environment.close()
            raise
        return environment

    async def _take(self) -> ExecutionEnvironment:
        while True:
            while self._idle:
                environment = self._idle.pop()
                if environment.alive or environment.init_error is not None:
                    return environment
                log.warning(
                    "a runtime process exited between invocations; starting a new one",
                    function=self.function.name,
                    pid=environment.pid,
                )
                self._count -= 1
                await environment.close()
            if self._count < self.size:
                return await self._new()
            self._freed.clear()
            await self._freed.wait()

    def _give_back(self, environment: ExecutionEnvironment) -> None:
        self._idle.append(environment)
        self._freed.set()

    async def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> InvocationResult:
        environment = await self._take()
        self._busy.add(environment)
        try:
            result, healthy = await environment.invoke(event, context, timeout)
        except BaseException:  # cancelled mid-invocation: the runtime is in an unknown state
            self._busy.discard(environment)
            await self._retire(environment)
            raise
        self._busy.discard(environment)
        if result.outcome == "timeout":
            self.killed += 1
        if healthy and not self._closed:
            self._give_back(environment)
        else:
            result.capacity_held = await self._retire(environment)
        return result

    async def _retire(self, environment: ExecutionEnvironment) -> asyncio.Future[None] | None:
        """Kill ``environment``; a replacement starts, and the future completes after its Init."""
        await environment.kill()
        if self._closed:
            self._count -= 1
            return None
        # a context of its own: the replacement's logs are not the failed batch's
        task = asyncio.get_running_loop().create_task(self._replace(), context=contextvars.Context())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)
        return task

    async def _replace(self) -> None:
        self._count -= 1  # the new one counts itself
        try:
            fresh = await self._new()
        except Exception as exc:  # the slot is freed all the same; the next invocation retries
            log.error("could not start a runtime process", function=self.function.name, error=repr(exc))
            return
        if self._closed:
            self._count -= 1
            await fresh.close()
        else:
            self._give_back(fresh)

    def pids(self) -> list[int]:
        """The runtime processes' ids (for benchmarks and diagnostics)."""
        return [e.pid for e in (*self._idle, *self._busy) if e.pid is not None]

    async def close(self) -> None:
        """Stop every runtime process (and its group) and listener."""
        self._closed = True
        if self._replacing:
            await asyncio.gather(*self._replacing, return_exceptions=True)
        environments = [*self._idle, *self._busy]
        self._idle.clear()
        await asyncio.gather(*(e.close() for e in environments), return_exceptions=True)

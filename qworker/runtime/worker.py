"""The worker process: connect, import, run every mapping, and shut down cleanly on a signal.

Life cycle (ESM-ST-4, RELIABILITY.md T3/T4):

1. Import each handler (exit 4 if that fails) after setting Lambda's environment variables, so
   libraries that read them at import (Powertools) see them.
2. Connect to the backend (exit 3 if unreachable), check every mapping against its queue with
   AWS's errors (exit 2).
3. Poll and invoke until SIGTERM/SIGINT, or with ``--until-empty`` until every queue is empty.
4. On the first signal: stop receiving, release received-but-unstarted messages (visibility 0),
   wait up to the grace period for running batches; batches still running then are cancelled
   and their messages reappear after the visibility timeout (exit 1). A second signal exits at
   once. A clean drain exits 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from qworker import arn, tracing
from qworker.backend import Backend
from qworker.context import FunctionInfo
from qworker.errors import ExitCode, QWorkerError
from qworker.importer import import_from_string
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from qworker.runtime.mapping import MappingRunner
from qworker.runtime.metrics import RuntimeMetrics
from qworker.runtime.options import WorkerOptions
from qworker.runtime.registry_heartbeat import RegistryHeartbeat

if TYPE_CHECKING:
    from qworker.runtime.http import HealthServer

log = structlog.get_logger("qworker")


class Worker:
    """Runs mappings in one process. ``await worker.serve()`` returns the exit code."""

    def __init__(
        self,
        mappings: list[MappingConfig],
        options: WorkerOptions,
        *,
        backend: Backend | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        if not mappings:
            raise ValueError("a worker needs at least one mapping")
        self.mappings = mappings
        self.options = options
        self.backend = backend
        self.metrics = metrics or RuntimeMetrics()
        self.runners: list[MappingRunner] = []
        #: one per mapping, made once: the context's log stream matches the environment's
        self.functions = [FunctionInfo(c.name, memory_mb=c.memory, timeout=c.timeout) for c in mappings]
        self._signals = 0
        self._stop = asyncio.Event()
        self._running = False
        self.health: HealthServer | None = None
        self.metrics_port: int | None = None  #: the port actually bound (with metrics_port=0)

    def load_handlers(self) -> list[Callable[..., Any]]:
        """Set Lambda's environment, then import every handler (HandlerImportError: exit 4).

        A function that runs through the Lambda Runtime API is not imported: its runtime is
        checked instead (not installed, no bootstrap: exit 4), and its handler is a stand-in.
        """
        single = len(self.mappings) == 1 and not self.mappings[0].uses_runtime_api  # those get their own
        if self.options.set_lambda_environment and single:
            os.environ.update(self.functions[0].environment(self.mappings[0].handler))
        elif self.options.set_lambda_environment:
            os.environ.setdefault("AWS_REGION", arn.region())
            os.environ.setdefault("AWS_DEFAULT_REGION", arn.region())
        for config in self.mappings:
            os.environ.update(config.environment)
        return [
            _runtime_api_stand_in(config, self.options.app_dir)
            if config.uses_runtime_api
            else import_from_string(config.handler, self.options.app_dir)
            for config in self.mappings
        ]

    async def serve(self) -> int:
        handlers = self.load_handlers()
        owned = self.backend is None  # a backend given to the worker stays its owner's to open and close
        backend = open_backend(self.options.backend_url) if owned else self.backend
        assert backend is not None
        if owned:
            await backend.connect()
        self.metrics.watch_quarantine(getattr(backend, "quarantine_tally", None))
        if self.options.set_lambda_environment:
            tracing.install_environment_view()  # _X_AMZN_TRACE_ID: each invocation's own
        try:
            for config, handler, function in zip(self.mappings, handlers, self.functions, strict=True):
                runner = MappingRunner(
                    config,
                    backend,
                    handler,
                    pollers=self.options.pollers,
                    until_empty=self.options.until_empty,
                    metrics=self.metrics.for_mapping(config.name, config.queue),
                    app_dir=self.options.app_dir,
                    function_environment=dict(os.environ),
                    function=function,
                )
                await runner.prepare()
                self.runners.append(runner)
            return await self._run()
        finally:
            tracing.remove_environment_view()
            if owned:
                await backend.close()

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main
                pass  # thread (asyncio: RuntimeError; uvloop: ValueError): the embedder stops us
        log.info("worker started", pid=os.getpid(), mappings=len(self.runners), backend=self._backend_name())
        runs = [asyncio.create_task(runner.run()) for runner in self.runners]
        watcher = asyncio.create_task(self._stop.wait())
        monitor = asyncio.create_task(self._monitor()) if self.options.metrics_port is not None else None
        registry = RegistryHeartbeat(self.runners[0].backend, self._registry_view)
        registry.start()  # the console's Workers page (a no-op where the backend keeps no records)
        if self.options.metrics_port is not None:
            from qworker.runtime.http import HealthServer  # only with a metrics port: prometheus_client
            from qworker.runtime.metrics_export import exported

            self.health = HealthServer(exported(self.metrics).registry, self._readiness)
            self.metrics_port = await self.health.start(self.options.metrics_host, self.options.metrics_port)
            log.info(
                "serving /metrics, /livez, /readyz", host=self.options.metrics_host, port=self.metrics_port
            )
        self._running = True
        try:
            await asyncio.wait([watcher, *runs], return_when=asyncio.FIRST_COMPLETED)
            if not self._stop.is_set():  # every runner stopped on its own (--until-empty)
                await asyncio.wait(runs)
            for runner in self.runners:
                runner.stop()
            results = await asyncio.gather(*runs, return_exceptions=True)
            cancelled = await self._drain_all()
            for result in results:  # a mapping that failed does not keep the others from draining
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    raise result
        finally:
            self._running = False
            watcher.cancel()
            if monitor is not None:
                monitor.cancel()
            await registry.stop()
            if self.health is not None:
                await self.health.close()
            for signum in installed:
                loop.remove_signal_handler(signum)
        code = ExitCode.RUNTIME_FAILURE if cancelled else ExitCode.OK
        log.info("worker stopped", exit_code=int(code), cancelled_batches=cancelled)
        return int(code)

    async def _drain_all(self) -> int:
        """Drain every mapping at once, within one grace period (not one per mapping); a mapping
        whose drain fails is logged and the others still drain. Returns the batches cancelled."""
        grace = self.options.graceful_timeout
        outcomes = await asyncio.gather(*(r.drain(grace) for r in self.runners), return_exceptions=True)
        cancelled = 0
        for runner, outcome in zip(self.runners, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.error(
                    "draining a mapping failed",
                    function=runner.config.name,
                    queue=runner.config.queue,
                    error=repr(outcome),
                )
                cancelled += 1
            else:
                cancelled += outcome
        return cancelled

    def _readiness(self) -> tuple[bool, str]:
        if not self._running or self._stop.is_set():
            return False, "draining" if self._stop.is_set() else "starting"
        down = [r.config.queue for r in self.runners if not r.backend_ok]
        if down:
            return False, f"backend unavailable for {', '.join(down)}"
        held = [f"{r.config.name} {r.slots_held}/{r.slots.limit}" for r in self.runners if r.slots_held]
        if held:
            return False, (
                "handlers stuck past their timeout hold concurrency slots (function held/limit): "
                + ", ".join(held)
            )
        return True, ""

    async def _monitor(self) -> None:
        """Queue depth and age gauges (SQS ApproximateNumberOfMessages*, ApproximateAgeOfOldestMessage),
        and the quarantine's size on backends that have one (T16)."""
        queues = sorted({q for r in self.runners for q in (r.config.queue, r.dead_letter_queue) if q})
        backend = self.runners[0].backend
        from qworker.runtime.metrics_export import exported  # the monitor runs with a metrics port only

        gauges = exported(self.metrics)
        while True:
            try:
                for queue in queues:
                    counts = (await backend.get_queue(queue)).counts
                    gauges.queue_messages.labels(queue, "visible").set(counts.visible)
                    gauges.queue_messages.labels(queue, "in_flight").set(counts.in_flight)
                    gauges.queue_messages.labels(queue, "delayed").set(counts.delayed)
                    if backend.capabilities.quarantine:
                        gauges.queue_quarantined.labels(queue).set(counts.quarantined)
                    if backend.capabilities.peek:
                        oldest = await backend.peek(queue, 1)
                        # a message peek could not decode may have no SentTimestamp (T16)
                        sent = oldest[0].attributes.get("SentTimestamp", "") if oldest else ""
                        age = time.time() - int(sent) / 1000 if sent.isdigit() else 0.0
                        gauges.oldest_age.labels(queue).set(max(0.0, age))
                gauges.backend_up.set(1)
            except QWorkerError as exc:
                gauges.backend_up.set(0)
                log.warning("could not read queue depths for metrics", error=str(exc))
            await asyncio.sleep(self.options.monitor_interval)

    def _registry_view(self) -> list[tuple[str, str, int | None, Any]]:
        """What the registry heartbeat publishes: function, queue, max concurrency, metrics."""
        return [(r.config.name, r.config.queue, r.config.concurrency_limit, r.metrics) for r in self.runners]

    def _backend_name(self) -> str:
        backend = self.runners[0].backend if self.runners else self.backend
        return backend.display_url if backend is not None else ""

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals > 1:
            log.warning("second signal: exiting now", signal=name)
            sys.stderr.flush()
            os._exit(ExitCode.RUNTIME_FAILURE)
        log.info(
            "signal received: draining (send it again to exit at once)",
            signal=name,
            grace_seconds=self.options.graceful_timeout,
        )
        for runner in self.runners:
            runner.stop()
        self._stop.set()

    def request_stop(self) -> None:
        """Stop as a first signal would (for embedding and tests)."""
        self._on_signal(signal.SIGTERM)


def _runtime_api_stand_in(config: MappingConfig, app_dir: str | None) -> Callable[..., Any]:
    from qworker.runtime.runtime_api.launch import runtime_api_stand_in  # loads uvicorn only when used

    return runtime_api_stand_in(config, app_dir)


def run_worker(mappings: list[MappingConfig], options: WorkerOptions) -> int:
    """Run a worker on uvloop (or asyncio where uvloop is missing) and return its exit code."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Unix
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        return runner.run(Worker(mappings, options).serve())

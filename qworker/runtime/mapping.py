"""One event source mapping at work: the pipeline's stages, wired once at start.

Data flows one way, one module per stage (DESIGN.md):

``poller`` (receive into free slots) -> ``filtering`` (records; drop what no pattern matches)
-> ``batcher`` (cut batches: size, window, payload) -> ``schedule`` (slots, one task per batch)
-> ``invoker`` (thread, async, process) -> ``outcome`` (delete / keep / note / back off) -> backend.

Beside the pipeline: ``scaling`` sizes the slots, ``heartbeat`` extends running batches'
visibility, ``acks`` batches and retries deletes. Every behaviour follows the SPEC statement
named next to it; what goes beyond Lambda is an option of
:class:`~qworker.runtime.config.MappingConfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

from qworker import arn, tracing
from qworker.backend import Backend, QueueInfo, VisibilityChange
from qworker.context import FunctionInfo
from qworker.errors import BackendError, ConfigError, QueueDoesNotExist
from qworker.runtime.batcher import Batcher
from qworker.runtime.config import MappingConfig
from qworker.runtime.filtering import RecordMaker
from qworker.runtime.heartbeat import LoopHeartbeat, ThreadHeartbeat, make_heartbeat
from qworker.runtime.invoker import AsyncInvoker, Invoker, ThreadInvoker, is_async_handler
from qworker.runtime.metrics import MappingMetrics
from qworker.runtime.outcome import Settler
from qworker.runtime.poller import Poller
from qworker.runtime.scaling import ScalingController, ScalingPolicy
from qworker.runtime.schedule import Dispatcher, Slots

log = structlog.get_logger("qworker")

#: at shutdown, how long cancelled batches and pending deletes get before they are left behind
CANCEL_WAIT_SECONDS = 5.0


class MappingRunner:
    """Runs one :class:`MappingConfig` against one backend until told to stop."""

    def __init__(
        self,
        config: MappingConfig,
        backend: Backend,
        handler: Callable[..., Any],
        *,
        pollers: int = 1,
        until_empty: bool = False,
        metrics: MappingMetrics | None = None,
        app_dir: str | None = ".",
        function_environment: dict[str, str] | None = None,
        function: FunctionInfo | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.handler = handler
        self.metrics = metrics or MappingMetrics.unregistered(config.name, config.queue)
        self.app_dir = app_dir
        self.function_environment = function_environment or {}
        self.function = function or FunctionInfo(config.name, memory_mb=config.memory, timeout=config.timeout)
        self.slots = Slots(config.concurrency_limit)
        self.pollers_wanted = max(1, min(pollers, config.concurrency_limit))
        self.stopping = asyncio.Event()
        #: set when ``--until-empty`` found the queue empty
        self.empty: asyncio.Event | None = asyncio.Event() if until_empty else None
        self.batchers: list[Batcher] = []
        self.pollers: list[Poller] = []
        self.invoker: Invoker | None = None
        self.heartbeat: ThreadHeartbeat | LoopHeartbeat | None = None
        self.settler: Settler | None = None
        self.dispatcher: Dispatcher | None = None
        self.scaler: ScalingController | None = None
        self.dead_letter_queue: str | None = None
        self._log = log.bind(queue=config.queue, function=config.name)

    @property
    def backend_ok(self) -> bool:
        """False while the pollers' receives fail with BackendUnavailable."""
        return all(p.backend_ok for p in self.pollers)

    @property
    def slots_held(self) -> int:
        """Concurrency slots held after their invocation ended (stuck threads, processes replaced)."""
        return self.dispatcher.slots_held if self.dispatcher is not None else 0

    # -- start-up -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Check the queue and the settings (AWS's errors), then build every stage."""
        config = self.config
        info = await self._queue_info()
        fifo = info.spec.fifo
        policy = info.spec.redrive_policy
        self.dead_letter_queue = policy.dead_letter_queue if policy is not None else None
        config.validate(fifo=fifo, queue_visibility_timeout=info.spec.visibility_timeout)
        override = config.effective_visibility_timeout(info.spec.visibility_timeout)
        lease = override if override is not None else info.spec.visibility_timeout
        event_source_arn = self.backend.queue_arn(config.queue)
        self.settler = Settler(
            config, self.backend, self.metrics, self._log, policy.max_receive_count if policy else None
        )
        self._make_batchers(event_source_arn, override, fifo)
        if config.heartbeat:
            self.heartbeat = make_heartbeat(self.backend, config.queue, config.heartbeat, lease)
            await self.heartbeat.start()
        self.invoker = self._make_invoker()
        start = getattr(self.invoker, "start", None)  # the process pool and the Runtime API's
        if start is not None:
            await start()
        self.scaler = ScalingController(
            self.slots, config.concurrency_limit, ScalingPolicy.preset(config.scaling), self._scaled
        )
        self._make_dispatch(event_source_arn)
        self._log.info(
            "mapping ready",
            fifo=fifo,
            batch_size=config.batch_size,
            batch_window=config.batch_window,
            max_concurrency=config.concurrency_limit,
            concurrency=self.slots.limit,
            visibility_timeout=lease,
            report_batch_item_failures=config.report_batch_item_failures,
            filters=len(config.filters),
            isolation=_isolation(config, self.handler),
        )

    async def _queue_info(self) -> QueueInfo:
        try:
            return await self.backend.get_queue(self.config.queue)
        except QueueDoesNotExist:
            raise ConfigError(
                f"Queue {self.config.queue!r} does not exist on {self.backend.display_url}. Create it "
                f"first: qworker queue create {self.config.queue}"
            ) from None

    def _make_batchers(self, event_source_arn: str, override: float | None, fifo: bool) -> None:
        """One batcher a poller, sharing the record maker (filters compiled once)."""
        config = self.config
        records = RecordMaker.for_mapping(
            event_source_arn,
            arn.region_of(event_source_arn),  # the queue's region (EVT-7), not the host's
            config.filters,
            max_filters=config.max_filters,
            extensions=config.filter_extensions,
        )
        self.batchers = [
            Batcher(
                self.backend,
                config.queue,
                config.batch_size,
                config.batch_window,
                records,
                self.settler,
                visibility_timeout=override,
                split_receives=not fifo,
            )
            for _ in range(self.pollers_wanted)
        ]

    def _make_dispatch(self, event_source_arn: str) -> None:
        """The dispatcher that runs batches, and one poller a batcher feeding it."""
        config = self.config
        self.dispatcher = Dispatcher(
            timeout=config.timeout,
            function_name=config.name,
            function=self.function,
            invoker=self.invoker,
            settler=self.settler,
            slots=self.slots,
            metrics=self.metrics,
            heartbeat=self.heartbeat,
            errors=self.scaler,
            log=self._log,
            tracer=tracing.batch_tracer(config.queue, config.name, event_source_arn),
        )
        self.pollers = [
            Poller(
                batcher,
                backend=self.backend,
                slots=self.slots,
                dispatcher=self.dispatcher,
                scaler=self.scaler,
                stopping=self.stopping,
                until_empty=self.empty,
                idle_batchers=self.batchers,
                log=self._log,
            )
            for batcher in self.batchers
        ]

    def _make_invoker(self) -> Invoker:
        if self.config.uses_runtime_api:  # any language, through the Lambda Runtime API
            from qworker.runtime.runtime_api import launch
            from qworker.runtime.runtime_api.invoker import RuntimeApiInvoker

            return RuntimeApiInvoker(
                launch.resolve(self.config, self.app_dir), self.function, self.config.concurrency_limit
            )
        if is_async_handler(self.handler):
            return AsyncInvoker(self.handler)
        if self.config.isolation == "process":
            # imported here: multiprocessing and what it pulls in cost ~10 ms of every start-up
            from qworker.runtime.process_pool import ProcessInvoker

            return ProcessInvoker(
                self.config.handler, self.app_dir, self.config.concurrency_limit, self.function_environment
            )
        return ThreadInvoker(
            self.handler, self.config.concurrency_limit, stuck_gauge=self.metrics.stuck_threads
        )

    def _scaled(self, limit: int, reason: str) -> None:
        self.metrics.concurrency_target.set(limit)
        self._log.info("concurrency changed", concurrency=limit, reason=reason)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until :meth:`stop` (or, with ``until_empty``, until the queue is empty)."""
        assert self.scaler is not None, "call prepare() first"
        self.metrics.concurrency_target.set(self.slots.limit)
        scaler = asyncio.create_task(self.scaler.run())
        pollers = [asyncio.create_task(poller.run()) for poller in self.pollers]
        stopped = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([stopped, *pollers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stopping.set()
            for task in (*pollers, scaler, stopped):
                task.cancel()
            results = await asyncio.gather(*pollers, scaler, stopped, return_exceptions=True)
        for result in results:  # a poller that died of a bug must not leave the worker idle
            if isinstance(result, Exception):
                raise result

    def stop(self) -> None:
        """Stop receiving. Batches already running go on; see :meth:`drain`."""
        self.stopping.set()

    # -- shutdown -------------------------------------------------------------------------------

    async def release_unstarted(self) -> int:
        """Make received-but-unstarted messages visible again at once (visibility 0)."""
        messages = [m for batcher in self.batchers for m in batcher.take_carried()]
        if not messages:
            return 0
        with contextlib.suppress(BackendError):
            await self.backend.change_visibility(
                self.config.queue, [VisibilityChange(m.receipt_handle, 0) for m in messages]
            )
        return len(messages)

    async def drain(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for running batches, then cancel the rest; returns how many."""
        released = await self.release_unstarted()
        if released:
            self._log.info("released received messages that had not started", count=released)
        running = set(self.dispatcher.tasks) if self.dispatcher is not None else set()
        filtered = set(self.settler.tasks) if self.settler is not None else set()
        pending: set[asyncio.Task[Any]] = set()
        if running:
            self._log.info("waiting for running batches", count=len(running), grace_seconds=grace)
        if running or filtered:
            _, pending = await asyncio.wait(running | filtered, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            _, deaf = await asyncio.wait(pending, timeout=CANCEL_WAIT_SECONDS)
            self._log.warning(
                "cancelled batches still running at the end of the grace period; their messages will "
                "reappear after the visibility timeout",
                count=len(pending),
            )
            if deaf:  # a handler that swallows CancelledError: do not wait for it for ever
                self._log.error(
                    "batches ignored their cancellation; leaving them behind",
                    count=len(deaf),
                    waited_seconds=CANCEL_WAIT_SECONDS,
                )
        if self.settler is not None:
            try:
                async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                    await self.settler.deleter.close()
            except TimeoutError:
                self._log.error("deletes still retrying at exit; those messages will be processed again")
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.invoker is not None:
            await self.invoker.close()
        return len(pending & running)


def _isolation(config: MappingConfig, handler: Callable[..., Any]) -> str:
    """How the handler runs, for the start-up log line."""
    if config.uses_runtime_api:
        return "runtime-api"
    return config.isolation if not is_async_handler(handler) else "async"

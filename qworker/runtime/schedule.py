"""The schedule stage: concurrency slots, and running each batch through invoke and outcome.

A poller takes a slot *before* it receives, so the runtime never receives more messages than it
can run at once: a message cannot burn a receive count while waiting for capacity, which is
Lambda's "overpull" problem (SPEC 6.3, ESM-S-4, ESM-DLQ-7) removed by construction. A slot is
free again when the handler returned (MaximumConcurrency counts invocations, ESM-S-3), unless
the invocation's capacity is still held (a stuck thread, a handler process being replaced):
then it is free when that capacity is.

:class:`Dispatcher` runs one task per batch: the invocation (with the visibility heartbeat's
lease), then the outcome rules, then metrics and the batch log line. FIFO ordering needs nothing
here: the backend never hands out a group that has a message in flight (ESM-FIFO-3).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from qworker import logs, tracing
from qworker.context import FunctionInfo, LambdaContext
from qworker.runtime.batcher import Batch
from qworker.runtime.heartbeat import LoopHeartbeat, ThreadHeartbeat
from qworker.runtime.invoker import InvocationResult, Invoker
from qworker.runtime.metrics import MappingMetrics
from qworker.runtime.outcome import Settled, Settler

if TYPE_CHECKING:
    from qworker.otel import BatchTracer


class Slots:
    """An asyncio semaphore whose limit can change while it is in use."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        while self.in_use >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._wake()
                raise
        self.in_use += 1

    def try_acquire(self, most: int) -> int:
        """Take up to ``most`` free slots without waiting; returns how many were taken."""
        if self._waiters:  # others are queued: do not jump ahead of them
            return 0
        taken = max(0, min(most, self.limit - self.in_use))
        self.in_use += taken
        return taken

    def release(self, count: int = 1) -> None:
        self.in_use -= count
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    @property
    def busy(self) -> bool:
        """True when every slot is taken."""
        return self.in_use >= self.limit

    def _wake(self) -> None:
        free = self.limit - self.in_use
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class ErrorSignal(Protocol):
    """Where function errors are reported (:class:`~qworker.runtime.scaling.ScalingController`)."""

    def saw_function_error(self) -> None: ...


class Dispatcher:
    """Starts each batch as a task of its own and tracks the running ones."""

    def __init__(
        self,
        *,
        timeout: float,
        function_name: str,
        function: FunctionInfo,
        invoker: Invoker,
        settler: Settler,
        slots: Slots,
        metrics: MappingMetrics,
        heartbeat: ThreadHeartbeat | LoopHeartbeat | None,
        errors: ErrorSignal,
        log: Any,
        tracer: BatchTracer | None = None,
    ) -> None:
        self.timeout = timeout
        self.function_name = function_name
        self.function = function
        self.invoker = invoker
        self.settler = settler
        self.slots = slots
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.tasks: set[asyncio.Task[Any]] = set()
        #: concurrency slots held after their invocation ended (stuck threads, processes being replaced)
        self.slots_held = 0
        self.errors = errors
        self._log = log
        #: the OpenTelemetry span of each batch (:mod:`qworker.otel`); None when tracing is off
        self.tracer = tracer
        #: build the per-batch info line only when info lines are written (it costs at batch 1)
        self._log_successes = logs.enabled_for(logging.INFO)

    def start(self, batch: Batch) -> None:
        """Run ``batch`` in a task of its own; the caller holds a slot for it."""
        task = asyncio.create_task(self.run_batch(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run_batch(self, batch: Batch) -> Settled:
        """Invoke the handler with the batch, then apply the outcome rules; frees the slot.

        The invocation has a trace header of its own (``_X_AMZN_TRACE_ID``, :mod:`qworker.tracing`):
        a new one, or the batch span's when OpenTelemetry is on.
        """
        context = self.function.context()
        if self.tracer is not None:
            return await self._run_traced(batch, context, self.tracer)
        token = tracing.set_trace_header()  # a new header, made if the invocation reads it
        try:
            return (await self._run(batch, context))[0]
        finally:
            tracing.reset_trace_header(token)

    async def _run_traced(self, batch: Batch, context: LambdaContext, tracer: BatchTracer) -> Settled:
        """:meth:`run_batch` inside the batch's span, which records the outcome."""
        span, span_token, header = tracer.start(batch.messages, context.aws_request_id)
        token = tracing.set_trace_header(header)
        outcome, reason, error_type = "cancelled", "the batch was cancelled (shutdown)", None
        try:
            settled, result = await self._run(batch, context)
            outcome, reason, error_type = settled.outcome, settled.reason, result.error_type
            return settled
        except Exception as exc:
            outcome, reason, error_type = "runtime_error", repr(exc), type(exc).__name__
            raise
        finally:
            tracing.reset_trace_header(token)
            tracer.end(span, span_token, outcome, reason, error_type)

    async def _run(self, batch: Batch, context: LambdaContext) -> tuple[Settled, InvocationResult]:
        request_id = context.aws_request_id
        # each batch runs in its own task: the handler's own log records carry the request id
        structlog.contextvars.bind_contextvars(request_id=request_id, function=self.function_name)
        lease = (
            self.heartbeat.add([m.receipt_handle for m in batch.messages], time.monotonic() + self.timeout)
            if self.heartbeat
            else None
        )
        started = time.monotonic()
        holding_slot = True
        try:
            self.metrics.received.inc(len(batch.messages))
            self.metrics.in_flight.inc()
            try:
                result = await self.invoker.invoke({"Records": batch.records}, context, self.timeout)
            finally:
                if lease is not None and self.heartbeat is not None:
                    self.heartbeat.remove(lease)
                self.metrics.in_flight.dec()
            # the slot is free once the handler returned, while the deletes go on, so the next
            # batch does not wait for them; not while a stuck thread or a process being
            # replaced still holds its capacity
            if result.capacity_held is None:
                self.slots.release()
            else:
                self._hold_slot(result.capacity_held)
            holding_slot = False
            settled = await self.settler.settle(batch.messages, result, request_id)
        finally:
            if holding_slot:
                self.slots.release()
        if settled.function_error:  # ESM-S-6: the controller scales down on these
            self.errors.saw_function_error()
        self.metrics.observe_batch(len(batch.messages), batch.cut, result.duration, settled.outcome)
        if settled.outcome != "success" or self._log_successes:
            self._log_batch(batch, settled, request_id, result.duration, started)
        return settled, result

    def _log_batch(
        self, batch: Batch, settled: Settled, request_id: str, duration: float, started: float
    ) -> None:
        fields: dict[str, Any] = {
            "request_id": request_id,
            "size": len(batch.messages),
            "cut": batch.cut,
            "outcome": settled.outcome,
            "deleted": settled.deleted,
            "kept": settled.kept,
            "duration_ms": round(duration * 1000, 2),
            "total_ms": round((time.monotonic() - started) * 1000, 2),
        }
        if settled.outcome == "success":
            self._log.info("batch", **fields)
        else:
            self._log.warning("batch", reason=settled.reason, **fields)

    def _hold_slot(self, until: asyncio.Future[Any]) -> None:
        """Keep one concurrency slot taken until ``until`` completes: a message is received only
        for an invocation that can start at once ("never receives more than it can run")."""
        self.slots_held += 1
        self.metrics.slots_held.set(self.slots_held)

        def free(_: asyncio.Future[Any]) -> None:
            self.slots_held -= 1
            self.metrics.slots_held.set(self.slots_held)
            self.slots.release()

        until.add_done_callback(free)

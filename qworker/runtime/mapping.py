"""One event source mapping at work: poll, filter, batch, invoke, settle (DESIGN.md data flow).

``backend.receive -> filter -> batcher -> slots (concurrency, FIFO groups) -> invoker -> outcome
(delete / keep / extend / note) -> backend``. Every behaviour follows SPEC's statement named next
to it; what goes beyond Lambda is an option of :class:`~qworker.runtime.config.MappingConfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from qworker import arn, logs, responses
from qworker.backend import Backend, FailureNote, ReceivedMessage, VisibilityChange, given_back
from qworker.context import FunctionInfo
from qworker.errors import BackendError, BackendUnavailable, ConfigError, QueueDoesNotExist
from qworker.filters import FilterCriteria
from qworker.runtime.acks import Deleter, backoff_delay
from qworker.runtime.batcher import Batch, Batcher
from qworker.runtime.config import MappingConfig
from qworker.runtime.heartbeat import LoopHeartbeat, ThreadHeartbeat, make_heartbeat
from qworker.runtime.invoker import AsyncInvoker, InvocationResult, Invoker, ThreadInvoker, is_async_handler
from qworker.runtime.metrics import MappingMetrics
from qworker.runtime.process_pool import ProcessInvoker
from qworker.runtime.scaling import ScalingController, ScalingPolicy, Slots

log = structlog.get_logger("qworker")

#: how long an idle poller long-polls before it looks at its stop flag and counts again
IDLE_POLL_SECONDS = 10.0
#: with --until-empty, how long a poll waits before checking whether the queue is empty
UNTIL_EMPTY_POLL_SECONDS = 0.25
#: at shutdown, how long cancelled batches and pending deletes get before they are left behind
CANCEL_WAIT_SECONDS = 5.0
#: the loud warning for ignored partial responses is repeated at most this often
MODE_OFF_WARNING_EVERY = 60.0


@dataclass(slots=True)
class Settled:
    """What became of a batch, for logs and tests."""

    outcome: (
        str  #: success | partial_failure | all_items_failed | invalid_response | function_error | timeout
    )
    deleted: int
    kept: int
    reason: str


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
        backend_url: str | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.handler = handler
        self.until_empty = until_empty
        self.metrics = metrics or MappingMetrics.unregistered(config.name, config.queue)
        self.app_dir = app_dir
        self.function_environment = function_environment or {}
        self.function = function or FunctionInfo(config.name, memory_mb=config.memory, timeout=config.timeout)
        self.slots = Slots(config.concurrency_limit)
        self.pollers = max(1, min(pollers, config.concurrency_limit))
        self.tasks: set[asyncio.Task[Any]] = set()
        self.batchers: list[Batcher] = []
        self.stopping = asyncio.Event()
        self.empty = asyncio.Event()
        self.invoker: Invoker | None = None
        self.deleter = Deleter(backend, config.queue)
        self.scaler: ScalingController | None = None
        self.filters: FilterCriteria | None = None
        self.fifo = False
        self.dead_letter_queue: str | None = None
        self.max_receive_count: int | None = None
        self.backend_ok = True  #: False while receives fail with BackendUnavailable
        #: concurrency slots held after their invocation ended (stuck threads, processes being replaced)
        self.slots_held = 0
        self.lease = 30.0
        self.heartbeat: ThreadHeartbeat | LoopHeartbeat | None = None
        #: the backend's URL, to open a second connection for the heartbeat thread
        self.backend_url = backend_url
        self._last_mode_off_warning = 0.0
        self._log = log.bind(queue=config.queue, function=config.name)
        #: build the per-batch info line only when info lines are written (it costs at batch 1)
        self._log_successes = logs.enabled_for(logging.INFO)

    # -- start-up -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Check the queue and the settings (AWS's errors), compile filters, start the invoker."""
        config = self.config
        try:
            info = await self.backend.get_queue(config.queue)
        except QueueDoesNotExist:
            raise ConfigError(
                f"Queue {config.queue!r} does not exist on {self.backend.display_url}. Create it first: "
                f"qworker queue create {config.queue}"
            ) from None
        self.fifo = info.spec.fifo
        policy = info.spec.redrive_policy
        self.dead_letter_queue = policy.dead_letter_queue if policy is not None else None
        self.max_receive_count = policy.max_receive_count if policy is not None else None
        config.validate(fifo=self.fifo, queue_visibility_timeout=info.spec.visibility_timeout)
        override = config.effective_visibility_timeout(info.spec.visibility_timeout)
        self.lease = override if override is not None else info.spec.visibility_timeout
        if config.filters:
            self.filters = FilterCriteria.compile(
                config.filters, max_filters=config.max_filters, extensions=config.filter_extensions
            )
            if self.filters.non_portable_keys:
                self._log.warning(
                    "filter patterns use keys other than body: AWS documents body-only filtering for SQS "
                    "(FLT-6), so these patterns may not behave the same on Lambda",
                    keys=list(self.filters.non_portable_keys),
                )
        event_source_arn = self.backend.queue_arn(config.queue)
        region = arn.region_of(event_source_arn)  # the queue's region (EVT-7), not the host's
        for _ in range(self.pollers):
            self.batchers.append(
                Batcher(
                    self.backend,
                    config.queue,
                    config.batch_size,
                    config.batch_window,
                    event_source_arn,
                    region,
                    visibility_timeout=override,
                    matches=self._matcher(),
                    on_filtered=self._filtered,
                    split_receives=not self.fifo,
                )
            )
        if config.heartbeat:
            self.heartbeat = make_heartbeat(
                self.backend, self.backend_url, config.queue, config.heartbeat, self.lease
            )
            await self.heartbeat.start()
        self.invoker = self._make_invoker()
        if isinstance(self.invoker, ProcessInvoker) or self.config.uses_runtime_api:
            await self.invoker.start()  # type: ignore[attr-defined]
        self.scaler = ScalingController(
            self.slots, config.concurrency_limit, ScalingPolicy.preset(config.scaling), self._scaled
        )
        self._log.info(
            "mapping ready",
            fifo=self.fifo,
            batch_size=config.batch_size,
            batch_window=config.batch_window,
            max_concurrency=config.concurrency_limit,
            concurrency=self.slots.limit,
            visibility_timeout=self.lease,
            report_batch_item_failures=config.report_batch_item_failures,
            filters=len(config.filters),
            isolation=_isolation(config, self.handler),
        )

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
            return ProcessInvoker(
                self.config.handler, self.app_dir, self.config.concurrency_limit, self.function_environment
            )
        return ThreadInvoker(
            self.handler, self.config.concurrency_limit, stuck_gauge=self.metrics.stuck_threads
        )

    def _matcher(self) -> Callable[[dict[str, Any], ReceivedMessage], bool] | None:
        criteria = self.filters
        if criteria is None:
            return None
        return lambda view, message: criteria.matches(view)  # parses the body once, if needed

    def _scaled(self, limit: int, reason: str) -> None:
        self.metrics.concurrency_target.set(limit)
        self._log.info("concurrency changed", concurrency=limit, reason=reason)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until :meth:`stop` (or, with ``until_empty``, until the queue is empty)."""
        assert self.scaler is not None, "call prepare() first"
        self.metrics.concurrency_target.set(self.slots.limit)
        scaler = asyncio.create_task(self.scaler.run())
        pollers = [asyncio.create_task(self._poll(batcher)) for batcher in self.batchers]
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

    async def _poll(self, batcher: Batcher) -> None:
        failures = 0
        wait = UNTIL_EMPTY_POLL_SECONDS if self.until_empty else IDLE_POLL_SECONDS
        while not self.stopping.is_set():
            await self.slots.acquire()
            # every free slot can take a batch from the same receive (standard queues, no window)
            held = 1 + (self.slots.try_acquire(self.slots.limit) if batcher.split_receives else 0)
            try:
                batches = await batcher.next_batches(wait, held)
            except BackendUnavailable as exc:
                self.backend_ok = False
                self.slots.release(held)
                delay = backoff_delay(failures, base=0.2, cap=10.0)
                failures += 1
                self._log.warning("backend unavailable; retrying", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            except BaseException:
                self.slots.release(held)
                raise
            failures = 0
            self.backend_ok = True
            if len(batches) < held:
                self.slots.release(held - len(batches))
            if not batches:
                if self.until_empty:
                    try:
                        await self._check_empty()
                    except BackendError as exc:
                        self._log.warning("could not count the queue's messages", error=str(exc))
                continue
            if (
                self.slots.busy
                and self.scaler is not None
                and any(b.cut in ("count", "payload") for b in batches)
            ):
                self.scaler.saw_backlog()
            for batch in batches:
                task = asyncio.create_task(self._run_batch(batch))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            if all(batch.cut == "available" for batch in batches):
                # the queue had no more: the next receive will wait, so start the handlers
                # first (an idle worker's latency); with a backlog, receive again at once
                await asyncio.sleep(0)

    async def _check_empty(self) -> None:
        if self.tasks or any(b.carried for b in self.batchers):
            return
        counts = (await self.backend.get_queue(self.config.queue)).counts
        if counts.visible == counts.in_flight == counts.delayed == 0 and not self.tasks:
            self._log.info("queue is empty and nothing is in flight: stopping (--until-empty)")
            self.empty.set()
            self.stop()

    # -- one batch ------------------------------------------------------------------------------

    async def _run_batch(self, batch: Batch) -> Settled:
        assert self.invoker is not None
        context = self.function.context()
        request_id = context.aws_request_id
        # each batch runs in its own task: the handler's own log records carry the request id
        structlog.contextvars.bind_contextvars(request_id=request_id, function=self.config.name)
        lease = (
            self.heartbeat.add(
                [m.receipt_handle for m in batch.messages], time.monotonic() + self.config.timeout
            )
            if self.heartbeat
            else None
        )
        started = time.monotonic()
        holding_slot = True
        try:
            self.metrics.received.inc(len(batch.messages))
            self.metrics.in_flight.inc()
            try:
                result = await self.invoker.invoke({"Records": batch.records}, context, self.config.timeout)
            finally:
                if lease is not None and self.heartbeat is not None:
                    self.heartbeat.remove(lease)
                self.metrics.in_flight.dec()
            # MaximumConcurrency counts invocations (ESM-S-3): the slot is free once the handler
            # returned, while the deletes go on, so the next batch does not wait for them; but
            # not while a stuck thread or a process being replaced still holds its capacity
            if result.capacity_held is None:
                self.slots.release()
            else:
                self._hold_slot(result.capacity_held)
            holding_slot = False
            settled = await self._settle(batch, result, request_id)
        finally:
            if holding_slot:
                self.slots.release()
        self.metrics.observe_batch(len(batch.messages), batch.cut, result.duration, settled.outcome)
        if settled.outcome == "success" and not self._log_successes:
            return settled
        fields: dict[str, Any] = {
            "request_id": request_id,
            "size": len(batch.messages),
            "cut": batch.cut,
            "outcome": settled.outcome,
            "deleted": settled.deleted,
            "kept": settled.kept,
            "duration_ms": round(result.duration * 1000, 2),
            "total_ms": round((time.monotonic() - started) * 1000, 2),
        }
        if settled.outcome == "success":
            self._log.info("batch", **fields)
        else:
            self._log.warning("batch", reason=settled.reason, **fields)
        return settled

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

    async def _settle(self, batch: Batch, result: InvocationResult, request_id: str) -> Settled:
        """Apply Lambda's outcome rules (ESM-F-*, ESM-P-*) to a finished invocation."""
        messages = batch.messages
        ids = [m.message_id for m in messages]
        if result.outcome != "success":  # ESM-F-2, ESM-P-5: nothing is deleted
            outcome = "timeout" if result.outcome == "timeout" else "function_error"
            return await self._function_error(messages, result.error_text, outcome)
        if not self.config.report_batch_item_failures:  # ESM-P-1: the response is not read
            marshal_error = responses.marshal_error(result.value)
            if marshal_error is not None:  # Lambda's runtime could not send it: a function error
                return await self._function_error(messages, marshal_error, "function_error")
            self._warn_if_failures_ignored(result.value, request_id)
            deleted = await self._delete(messages)
            return Settled("success", deleted, len(messages) - deleted, "ESM-F-1")
        verdict = responses.interpret_response(result.value, ids)
        if verdict.function_error:
            return await self._function_error(messages, verdict.reason, "function_error")
        if self.config.fifo_strict:
            verdict = responses.fifo_strict(verdict, messages)
        keep_ids = verdict.failed_ids
        to_delete = [m for m in messages if m.message_id not in keep_ids]
        to_keep = [m for m in messages if m.message_id in keep_ids]
        if verdict.verdict is responses.Verdict.FAILURE:
            to_delete = []
            to_keep = list(messages)
        deleted = await self._delete(to_delete) if to_delete else 0
        if to_keep:
            await self._keep(to_keep, verdict.reason)
        if verdict.verdict is responses.Verdict.SUCCESS:
            outcome = "success"
        elif verdict.verdict is responses.Verdict.FAILURE:
            outcome = "invalid_response"
        elif verdict.all_items_failed:
            outcome = "all_items_failed"
        else:
            outcome = "partial_failure"
        return Settled(outcome, deleted, len(to_keep) + len(to_delete) - deleted, verdict.reason)

    async def _function_error(self, messages: list[ReceivedMessage], error: str, outcome: str) -> Settled:
        """ESM-F-2, ESM-P-5: nothing is deleted; the batch comes back after its visibility timeout."""
        assert self.scaler is not None
        self.scaler.saw_function_error()
        await self._keep(messages, error)
        return Settled(outcome, 0, len(messages), error.splitlines()[0])

    async def _delete(self, messages: list[ReceivedMessage]) -> int:
        failed = await self.deleter.delete([m.receipt_handle for m in messages])
        if failed:
            stale = [f for f in failed if f.code == "ReceiptHandleIsStale"]
            if stale:
                self._log.warning(
                    "could not delete messages that were received again after their visibility timeout: "
                    "they will be processed again (is the visibility timeout shorter than the handler?)",
                    count=len(stale),
                )
            other = [f for f in failed if f.code != "ReceiptHandleIsStale"]
            if other:
                self._log.error(
                    "delete failed: the messages will reappear after their visibility timeout",
                    count=len(other),
                    code=other[0].code,
                    error=other[0].message,
                )
        deleted = len(messages) - len(failed)
        self.metrics.deleted.inc(deleted)
        return deleted

    async def _keep(self, messages: list[ReceivedMessage], error: str) -> None:
        """Failed messages stay for a retry (ESM-F-2): note the error; back off if asked."""
        self.metrics.failed.inc(len(messages))
        if self.max_receive_count is not None:
            exhausted = sum(1 for m in messages if m.receive_count >= self.max_receive_count)
            if exhausted:
                self.metrics.dead_lettered.inc(exhausted)
        try:
            if self.backend.capabilities.records_failures:
                await self.backend.record_failures(
                    self.config.queue, [FailureNote(m.receipt_handle, error) for m in messages]
                )
            backoff = self.config.retry_backoff
            if backoff is not None:
                changes = [
                    VisibilityChange(m.receipt_handle, backoff.delay_for(m.receive_count)) for m in messages
                ]
                await self.backend.change_visibility(self.config.queue, changes)
        except BackendError as exc:  # best effort: the messages come back after their timeout anyway
            self._log.warning("could not record the failure with the messages", error=str(exc))

    def _filtered(self, messages: list[ReceivedMessage]) -> None:
        """Records that matched no filter: deleted (FLT-3) or, with filter_action=skip, left alone."""
        self.metrics.filtered.inc(len(messages))
        self._log.info("filtered out", count=len(messages), action=self.config.filter_action)
        if self.config.filter_action == "delete":
            task = asyncio.create_task(self._delete_filtered(messages))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _delete_filtered(self, messages: list[ReceivedMessage]) -> None:
        failed = await self.deleter.delete([m.receipt_handle for m in messages])
        self.metrics.deleted.inc(len(messages) - len(failed))

    def _warn_if_failures_ignored(self, value: object, request_id: str) -> None:
        if value is None:
            return
        now = time.monotonic()
        if now - self._last_mode_off_warning < MODE_OFF_WARNING_EVERY:
            return
        warning = responses.mode_off_warning(value)
        if warning:
            self._last_mode_off_warning = now
            self._log.warning(warning, request_id=request_id)

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
        pending = set(self.tasks)
        if pending:
            self._log.info("waiting for running batches", count=len(pending), grace_seconds=grace)
            _, pending = await asyncio.wait(pending, timeout=grace)
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
        try:
            async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                await self.deleter.close()
        except TimeoutError:
            self._log.error("deletes still retrying at exit; those messages will be processed again")
        await given_back()  # receives cut short by the stop give their messages back first
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.invoker is not None:
            await self.invoker.close()
        return len(pending)


def _isolation(config: MappingConfig, handler: Callable[..., Any]) -> str:
    """How the handler runs, for the start-up log line."""
    if config.uses_runtime_api:
        return "runtime-api"
    return config.isolation if not is_async_handler(handler) else "async"

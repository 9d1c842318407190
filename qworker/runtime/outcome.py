"""The outcome stage: what becomes of a batch's messages once its invocation ended.

Lambda's rules, each named after its SPEC statement: a successful invocation deletes the batch
(ESM-F-1); a function error or timeout deletes nothing and the messages come back after their
visibility timeout (ESM-F-2, ESM-P-5); with ``ReportBatchItemFailures`` the response decides
which messages stay (ESM-P-*), read by :mod:`qworker.responses`. Kept messages get their error
recorded with them (shown by ``qworker queue peek``, also in the dead-letter queue) and, with
``--retry-backoff``, a shorter visibility. Records no filter matched are deleted (FLT-3) or left
alone (``--filter-action skip``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

from qworker import responses
from qworker.backend import Backend, FailureNote, ReceivedMessage, VisibilityChange
from qworker.errors import BackendError
from qworker.runtime.acks import Deleter
from qworker.runtime.config import MappingConfig
from qworker.runtime.invoker import InvocationResult
from qworker.runtime.metrics import MappingMetrics

#: the loud warning for ignored partial responses is repeated at most this often
MODE_OFF_WARNING_EVERY = 60.0

Outcome = Literal[
    "success", "partial_failure", "all_items_failed", "invalid_response", "function_error", "timeout"
]


@dataclass(slots=True)
class Settled:
    """What became of a batch, for logs, metrics and the scaling controller."""

    outcome: Outcome
    deleted: int
    kept: int
    reason: str

    @property
    def function_error(self) -> bool:
        """The invocation itself failed (ESM-S-6 scales down on these; partial failures do not,
        ESM-P-6)."""
        return self.outcome in ("function_error", "timeout")


class Settler:
    """Applies the outcome rules for one mapping."""

    def __init__(
        self,
        config: MappingConfig,
        backend: Backend,
        metrics: MappingMetrics,
        log: Any,
        max_receive_count: int | None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.metrics = metrics
        self.deleter = Deleter(backend, config.queue)
        self.max_receive_count = max_receive_count
        #: deletes of filtered-out records still running (waited for at shutdown)
        self.tasks: set[asyncio.Task[Any]] = set()
        self._log = log
        self._last_mode_off_warning = 0.0

    async def settle(
        self, messages: list[ReceivedMessage], result: InvocationResult, request_id: str
    ) -> Settled:
        """Apply Lambda's outcome rules (ESM-F-*, ESM-P-*) to a finished invocation."""
        if result.outcome != "success":  # ESM-F-2, ESM-P-5: nothing is deleted
            outcome: Outcome = "timeout" if result.outcome == "timeout" else "function_error"
            return await self._function_error(messages, result.error_text, outcome)
        if not self.config.report_batch_item_failures:  # ESM-P-1: the response is not read
            marshal_error = responses.marshal_error(result.value)
            if marshal_error is not None:  # Lambda's runtime could not send it: a function error
                return await self._function_error(messages, marshal_error, "function_error")
            self._warn_if_failures_ignored(result.value, request_id)
            deleted = await self.delete(messages)
            return Settled("success", deleted, len(messages) - deleted, "ESM-F-1")
        verdict = responses.interpret_response(result.value, [m.message_id for m in messages])
        if verdict.function_error:
            return await self._function_error(messages, verdict.reason, "function_error")
        if self.config.fifo_strict:
            verdict = responses.fifo_strict(verdict, messages)
        if verdict.verdict is responses.Verdict.FAILURE:
            to_delete, to_keep = [], list(messages)
        else:
            keep_ids = verdict.failed_ids
            to_delete = [m for m in messages if m.message_id not in keep_ids]
            to_keep = [m for m in messages if m.message_id in keep_ids]
        deleted = await self.delete(to_delete) if to_delete else 0
        if to_keep:
            await self._keep(to_keep, verdict.reason)
        outcome = (
            "success"
            if verdict.verdict is responses.Verdict.SUCCESS
            else "invalid_response"
            if verdict.verdict is responses.Verdict.FAILURE
            else "all_items_failed"
            if verdict.all_items_failed
            else "partial_failure"
        )
        return Settled(outcome, deleted, len(to_keep) + len(to_delete) - deleted, verdict.reason)

    async def _function_error(self, messages: list[ReceivedMessage], error: str, outcome: Outcome) -> Settled:
        """ESM-F-2, ESM-P-5: nothing is deleted; the batch comes back after its visibility timeout."""
        await self._keep(messages, error)
        return Settled(outcome, 0, len(messages), error.splitlines()[0] if error else outcome)

    async def delete(self, messages: list[ReceivedMessage]) -> int:
        """Delete processed messages; a stale handle is reported, never an error (ESM-F-6)."""
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

    def discard_filtered(self, messages: list[ReceivedMessage]) -> None:
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

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qworker import response_json, responses
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


@dataclass(frozen=True, slots=True)
class Decision:
    """What Lambda's rules make of one invocation's batch, before anything is deleted."""

    outcome: Outcome
    keep: frozenset[str]  #: message ids kept for a retry; the batch's other messages are deleted
    note: str  #: why they are kept: recorded with them (``qworker queue peek``, the DLQ)
    reason: str  #: one line for logs: the SPEC rule that decided, or the error's first line


def decide(
    result: InvocationResult,
    messages: Sequence[ReceivedMessage | Mapping[str, Any]],
    *,
    report_batch_item_failures: bool,
    fifo_strict: bool = False,
) -> Decision:
    """Which of a batch's messages (received messages or event records, in batch order) an
    invocation's result deletes and which it keeps (ESM-F-1, ESM-F-2, ESM-P-1..8).

    The one place these rules live: the worker's :class:`Settler` applies the decision to the
    backend, and :func:`qworker.testing.handlers.run_handler` reports it to a user's unit test.
    """
    ids = [m.message_id if isinstance(m, ReceivedMessage) else m["messageId"] for m in messages]
    everything = frozenset(ids)
    if result.outcome != "success":  # ESM-F-2, ESM-P-5: nothing is deleted
        error = result.error_text
        outcome: Outcome = "timeout" if result.outcome == "timeout" else "function_error"
        return Decision(outcome, everything, error, _first_line(error) or outcome)
    if not report_batch_item_failures:  # ESM-P-1: the response is not read
        marshal_error = response_json.marshal_error(result.value)
        if marshal_error is not None:  # Lambda's runtime could not send it: a function error
            return Decision("function_error", everything, marshal_error, _first_line(marshal_error))
        return Decision("success", frozenset(), "", "ESM-F-1")
    verdict = responses.interpret_response(result.value, ids)
    if verdict.function_error:
        return Decision("function_error", everything, verdict.reason, _first_line(verdict.reason))
    if fifo_strict:
        verdict = responses.fifo_strict(verdict, messages)
    if verdict.verdict is responses.Verdict.FAILURE:
        return Decision("invalid_response", everything, verdict.reason, verdict.reason)
    outcome = (
        "success"
        if verdict.verdict is responses.Verdict.SUCCESS
        else "all_items_failed"
        if verdict.all_items_failed
        else "partial_failure"
    )
    return Decision(outcome, verdict.failed_ids, verdict.reason, verdict.reason)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


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
        config = self.config
        decision = decide(
            result,
            messages,
            report_batch_item_failures=config.report_batch_item_failures,
            fifo_strict=config.fifo_strict,
        )
        if decision.outcome == "success" and not config.report_batch_item_failures:
            self._warn_if_failures_ignored(result.value, request_id)
        to_delete = [m for m in messages if m.message_id not in decision.keep]
        to_keep = [m for m in messages if m.message_id in decision.keep]
        deleted = await self.delete(to_delete) if to_delete else 0
        if to_keep:
            await self._keep(to_keep, decision.note)
        return Settled(decision.outcome, deleted, len(messages) - deleted, decision.reason)

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

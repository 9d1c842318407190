"""Run a handler once, in a unit test, and see what Lambda's rules would do with its batch.

The question a test of an SQS handler asks is rarely "what did it return?" but "which messages
would be deleted, and which would come back?". That depends on rules that are easy to get
wrong: an exception keeps the whole batch; without ``ReportBatchItemFailures`` the response is
ignored and every message is deleted, even those it lists; with it, ``batchItemFailures`` keeps
the listed ones, and an identifier that is not in the batch fails the whole batch... The worker
decides with :func:`qworker.runtime.outcome.decide` after invoking the handler as it always does
(:mod:`qworker.runtime.invoker`: async handlers on the loop, sync ones on a thread, both under
the function timeout). :func:`run_handler` does exactly the same, with no queue::

    from qworker.testing.handlers import run_handler
    from qworker.testing.lambda_events import sqs_event

    event = sqs_event({"n": 1}, {"n": -1})
    run = run_handler(handler, event, report_batch_item_failures=True)
    assert run.outcome == "partial_failure"
    assert run.kept_bodies == ['{"n": -1}']
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qworker import responses
from qworker.runtime.invoker import AsyncInvoker, InvocationResult, ThreadInvoker, is_async_handler
from qworker.runtime.outcome import Outcome, decide
from qworker.testing.lambda_events import lambda_context

__all__ = ["HandlerRun", "run_handler", "run_handler_async"]


@dataclass(frozen=True)
class HandlerRun:
    """What one invocation did, and what Lambda would do with its batch."""

    #: ``success``, ``partial_failure``, ``all_items_failed`` (every message listed),
    #: ``invalid_response`` (a response Lambda cannot read: the whole batch is kept),
    #: ``function_error`` (raised, or a response that cannot be serialized) or ``timeout``
    outcome: Outcome
    deleted: list[str]  #: message ids Lambda would delete, in batch order
    kept: list[str]  #: message ids that would come back after their visibility timeout
    reason: str  #: why, naming the rule (``ESM-P-4: ...``) or the error
    response: Any = None  #: what the handler returned
    error: str | None = None  #: the error's type, message and traceback when it failed
    #: the warning ``qworker run`` logs for a response listing failures that Lambda ignores
    #: because partial batch responses are off (then every message is deleted)
    warning: str | None = None
    duration: float = 0.0  #: seconds the handler ran
    bodies: dict[str, str] = field(default_factory=dict, repr=False)  #: message id -> body

    @property
    def deleted_bodies(self) -> list[str]:
        """The bodies of :attr:`deleted`, in batch order."""
        return [self.bodies[i] for i in self.deleted]

    @property
    def kept_bodies(self) -> list[str]:
        """The bodies of :attr:`kept`, in batch order."""
        return [self.bodies[i] for i in self.kept]


def run_handler(
    handler: Callable[..., Any],
    event: dict[str, Any],
    context: Any = None,
    *,
    report_batch_item_failures: bool = False,
    fifo_strict: bool = False,
    timeout: float | None = None,
) -> HandlerRun:
    """Invoke ``handler(event, context)`` as the worker does, then apply Lambda's outcome rules.

    ``context`` defaults to :func:`~qworker.testing.lambda_events.lambda_context`. The function
    timeout is ``timeout``, else what the context has left, else 3 s; a handler that runs longer
    is a ``timeout`` (an async one is cancelled; a sync one is left to finish on its thread).
    ``report_batch_item_failures`` is ``--report-batch-item-failures`` (``FunctionResponseTypes:
    [ReportBatchItemFailures]``): off by default, as on Lambda. ``fifo_strict`` is qworker's
    ``--fifo-strict``. Exceptions from the handler are not raised: they are the outcome
    ``function_error``, with :attr:`HandlerRun.error`. From ``async`` test code, await
    :func:`run_handler_async` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_handler() cannot run in an event loop: use `await run_handler_async(...)`")
    return asyncio.run(
        run_handler_async(
            handler,
            event,
            context,
            report_batch_item_failures=report_batch_item_failures,
            fifo_strict=fifo_strict,
            timeout=timeout,
        )
    )


async def run_handler_async(
    handler: Callable[..., Any],
    event: dict[str, Any],
    context: Any = None,
    *,
    report_batch_item_failures: bool = False,
    fifo_strict: bool = False,
    timeout: float | None = None,
) -> HandlerRun:
    """:func:`run_handler` for ``async`` tests (the handler may be sync or async)."""
    if context is None:
        context = lambda_context(timeout=timeout or 3.0)
    if timeout is None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        timeout = remaining() / 1000 if callable(remaining) else 3.0
    result = await _invoke(handler, event, context, max(timeout, 0.001))
    records = event.get("Records", [])
    decision = decide(
        result, records, report_batch_item_failures=report_batch_item_failures, fifo_strict=fifo_strict
    )
    ids = [record["messageId"] for record in records]
    warning = None
    if decision.outcome == "success" and not report_batch_item_failures:
        warning = responses.mode_off_warning(result.value)
    return HandlerRun(
        outcome=decision.outcome,
        deleted=[i for i in ids if i not in decision.keep],
        kept=[i for i in ids if i in decision.keep],
        reason=decision.reason,
        response=result.value,
        error=result.error_text if result.outcome != "success" else None,
        warning=warning,
        duration=result.duration,
        bodies={record["messageId"]: record["body"] for record in records},
    )


async def _invoke(
    handler: Callable[..., Any], event: dict[str, Any], context: Any, timeout: float
) -> InvocationResult:
    if is_async_handler(handler):
        return await AsyncInvoker(handler).invoke(event, context, timeout)
    invoker = ThreadInvoker(handler, max_workers=1)
    try:
        return await invoker.invoke(event, context, timeout)
    finally:
        await invoker.close()

"""Handlers that record the trace each invocation sees: ``_X_AMZN_TRACE_ID`` read every way a
library reads it, :func:`qworker.tracing.current_trace_header`, the records' ``AWSTraceHeader``
and, when OpenTelemetry is loaded, the current span. They sleep first, so that concurrent
invocations overlap and a header shared between them would show."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from qworker import tracing

NAME = "_X_AMZN_TRACE_ID"


def _line(event: dict[str, Any], context: Any, kind: str) -> dict[str, Any]:
    span = None
    if "opentelemetry.trace" in sys.modules:
        from opentelemetry import trace

        current = trace.get_current_span().get_span_context()
        if current.is_valid:
            span = [f"{current.trace_id:032x}", f"{current.span_id:016x}"]
    return {
        "kind": kind,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "bodies": [r["body"] for r in event["Records"]],
        "record_traces": [r["attributes"].get("AWSTraceHeader") for r in event["Records"]],
        "env": os.environ.get(NAME),
        "getenv": os.getenv(NAME),
        "in_env": NAME in os.environ,
        "copy": os.environ.copy().get(NAME),
        "var": tracing.current_trace_header(),
        "span": span,
        "environ_type": type(os.environ).__name__,
    }


def _write(line: dict[str, Any]) -> None:
    fd = os.open(os.environ["QW_TEST_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def sync_trace(event: dict[str, Any], context: Any) -> None:
    time.sleep(float(os.environ.get("QW_TEST_SLEEP", "0.2")))
    _write(_line(event, context, "sync"))


async def async_trace(event: dict[str, Any], context: Any) -> None:
    await asyncio.sleep(float(os.environ.get("QW_TEST_SLEEP", "0.2")))
    _write(_line(event, context, "async"))


def forward(event: dict[str, Any], context: Any) -> None:
    """Send each body on to ``QW_TEST_FORWARD`` with a qworker.Client, as a handler in a pipeline
    does: the messages carry this invocation's trace."""
    import qworker

    with qworker.Client.from_url(os.environ["QW_TEST_BACKEND"]) as client:
        for record in event["Records"]:
            client.send(os.environ["QW_TEST_FORWARD"], record["body"])
    _write(_line(event, context, "forward"))


async def async_forward(event: dict[str, Any], context: Any) -> None:
    """:func:`forward` with an AsyncClient on the worker's own loop."""
    import qworker

    async with qworker.AsyncClient.from_url(os.environ["QW_TEST_BACKEND"]) as client:
        for record in event["Records"]:
            await client.send(os.environ["QW_TEST_FORWARD"], record["body"])
    _write(_line(event, context, "async_forward"))


def failing(event: dict[str, Any], context: Any) -> None:
    _write(_line(event, context, "failing"))
    raise ValueError("this batch fails")

"""OpenTelemetry (the ``otel`` extra): a consumer span per batch, linked to each message's producer.

Imported only when tracing is on (:func:`qworker.tracing.batch_tracer`; the client checks that a
program imported OpenTelemetry before it imports this), so a worker or client without it pays
nothing, not even the import.

**The worker.** Each invocation runs inside one span, as Lambda's own invocation segment: named
``<queue> process``, kind ``CONSUMER``, a new trace (not a child of any producer: one batch holds
messages of many), with the messaging semantic conventions' attributes (``messaging.system`` =
``aws_sqs``, ``messaging.destination.name``, ``messaging.operation.type`` = ``process``,
``messaging.batch.message_count`` for batches of several messages or ``messaging.message.id``
for one, ``faas.invocation_id`` = the request id) and qworker's ``qworker.outcome`` (the outcome
of :mod:`qworker.runtime.outcome`: ``success``, ``partial_failure``, ``function_error``, ...). The
status is ``ERROR`` for every outcome but ``success``. The span is current while the handler runs,
so the handler's own spans are its children, and its X-Ray form is the invocation's trace header
(``_X_AMZN_TRACE_ID``, :mod:`qworker.tracing`).

The span links to each message's producer context: the W3C ``traceparent`` message attribute
(read with the global propagator, so ``tracestate`` and a configured propagator apply), else the
``AWSTraceHeader`` system attribute (X-Ray). A producer context shared by several messages is one
link; each link carries the message id of its first message.

**The client** (:func:`producer_context`): the current span's context goes into each message, as
the ``AWSTraceHeader`` system attribute (X-Ray's header, read by Lambda and X-Ray) and as message
attributes from the global propagator (``traceparent``, ``tracestate``: what OpenTelemetry's
botocore instrumentation writes), the latter only while the message has room for them (SQS allows
10 message attributes; the system attribute does not count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from qworker.backend import ReceivedMessage
from qworker.version import __version__
from qworker.xray import parse_xray_header, xray_header

#: ``messaging.system`` of SQS (OpenTelemetry messaging semantic conventions)
MESSAGING_SYSTEM = "aws_sqs"
_EMPTY = otel_context.Context()


def provider_configured() -> bool:
    """True when the program set a tracer provider (anything but the API's proxy and no-op)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


class BatchTracer:
    """Starts and ends the span of each batch of one mapping."""

    def __init__(self, queue: str, function_name: str, event_source_arn: str) -> None:
        self.queue = queue
        self.name = f"{queue} process"
        self._tracer = trace.get_tracer("qworker", __version__)
        self._static = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": queue,
            "faas.trigger": "pubsub",
            "faas.name": function_name,
            "cloud.resource_id": event_source_arn,
        }

    def start(self, messages: Sequence[ReceivedMessage], request_id: str) -> tuple[Any, object, str]:
        """Start the batch's span and make it current: (span, token for :meth:`end`, its X-Ray
        trace header)."""
        attributes: dict[str, Any] = {**self._static, "faas.invocation_id": request_id}
        if len(messages) == 1:
            attributes["messaging.message.id"] = messages[0].message_id
        else:
            attributes["messaging.batch.message_count"] = len(messages)
        span = self._tracer.start_span(
            self.name,
            context=_EMPTY,  # a new trace: producers are links, not parents
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=producer_links(messages),
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        own = span.get_span_context()
        return span, token, xray_header(own.trace_id, own.span_id, own.trace_flags.sampled)

    def end(
        self, span: Any, token: object, outcome: str, reason: str = "", error_type: str | None = None
    ) -> None:
        """Record the outcome and end the span; the context before :meth:`start` is current again."""
        span.set_attribute("qworker.outcome", outcome)
        if outcome != "success":
            span.set_attribute("error.type", error_type or outcome)
            span.set_status(Status(StatusCode.ERROR, reason or outcome))
        span.end()
        otel_context.detach(token)  # type: ignore[arg-type]


def producer_links(messages: Sequence[ReceivedMessage]) -> list[Link]:
    """One link per distinct producer context of ``messages`` (see the module docstring)."""
    links: list[Link] = []
    seen: set[tuple[int, int]] = set()
    for message in messages:
        context = producer_context_of(message)
        if context is None or (context.trace_id, context.span_id) in seen:
            continue
        seen.add((context.trace_id, context.span_id))
        links.append(Link(context, {"messaging.message.id": message.message_id}))
    return links


def producer_context_of(message: ReceivedMessage) -> SpanContext | None:
    """The producer's span context: ``traceparent`` (W3C) first, else ``AWSTraceHeader``."""
    carrier = {
        name: value.string_value
        for name, value in message.message_attributes.items()
        if value.string_value is not None and not value.data_type.startswith("Binary")
    }
    if carrier:
        context = trace.get_current_span(propagate.extract(carrier, context=_EMPTY)).get_span_context()
        if context.is_valid:
            return context
    header = message.attributes.get("AWSTraceHeader")
    parsed = parse_xray_header(header) if header else None
    if parsed is None or parsed.parent_id is None:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if parsed.sampled else TraceFlags.DEFAULT)
    return SpanContext(parsed.trace_id, parsed.parent_id, is_remote=True, trace_flags=flags)


def producer_context() -> tuple[str, dict[str, str]] | None:
    """The current span's context for a message being sent: (X-Ray header, propagator fields
    such as ``traceparent``), or ``None`` outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return xray_header(context.trace_id, context.span_id, context.trace_flags.sampled), carrier

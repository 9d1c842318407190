"""OpenTelemetry (the ``otel`` extra), with the SDK's in-memory exporter: the client's sends carry
the sender's span, the worker's batch span links to it, and spans say which invocation, which
queue and what came of it. Off (and never imported) unless asked for or a provider is set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import qworker
from qworker import tracing
from qworker.backend import Backend
from qworker.errors import QWorkerError
from qworker.runtime.config import MappingConfig
from tests.runtime.conftest import REPO, Ledger, make_queue, run_worker_until_empty

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

PRODUCER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A tracer provider with an in-memory exporter, as the global one for this test only (the
    API allows one global provider per process; the test puts the previous one back)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.delenv(tracing.OTEL_ENV, raising=False)
    yield exporter
    provider.shutdown()


def traced(handler: str, queue: str, **kwargs: Any) -> MappingConfig:
    return MappingConfig(handler=f"apps.tracing_app:{handler}", queue=queue, **kwargs)


def batch_spans(exporter: InMemorySpanExporter, queue: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == f"{queue} process"]


async def test_the_batch_span_links_to_the_spans_that_sent_its_messages(
    spans: InMemorySpanExporter, backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    await make_queue(backend, "orders")
    tracer = trace.get_tracer("producer")
    async with qworker.AsyncClient.from_url(backend_url) as client:
        with tracer.start_as_current_span("checkout") as checkout:
            await client.send("orders", {"n": 1})
            await client.send("orders", {"n": 2})  # the same producer: one link
        await client.send("orders", {"n": 3}, trace_header=PRODUCER)  # X-Ray only (an AWS SDK sender)
        await client.send("orders", {"n": 4})  # no trace: no link
    config = traced("sync_trace", "orders", batch_size=10, batch_window=1)
    assert await run_worker_until_empty(backend_url, config) == 0
    [span] = batch_spans(spans, "orders")
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is None  # a trace of its own: producers are links
    assert span.context.trace_id != checkout.get_span_context().trace_id
    [line] = ledger.lines()
    attributes = dict(span.attributes or {})
    assert attributes == {
        "messaging.system": "aws_sqs",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "orders",
        "messaging.batch.message_count": 4,
        "faas.trigger": "pubsub",
        "faas.name": "apps-tracing_app-sync_trace",
        "faas.invocation_id": line["request_id"],
        "cloud.resource_id": "arn:aws:sqs:us-east-1:000000000000:orders",
        "qworker.outcome": "success",
    }
    assert span.status.status_code is StatusCode.UNSET
    linked = {(link.context.trace_id, link.context.span_id): link for link in span.links}
    producer = checkout.get_span_context()
    assert set(linked) == {
        (producer.trace_id, producer.span_id),
        (0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8),
    }
    assert linked[(producer.trace_id, producer.span_id)].context.trace_flags.sampled
    # the handler ran inside the batch span, and its trace header is the span's
    own = span.context
    assert line["span"] == [f"{own.trace_id:032x}", f"{own.span_id:016x}"]
    assert line["var"] == line["env"] == tracing.xray_header(own.trace_id, own.span_id, True)


async def test_a_failed_batch_span_says_why(
    spans: InMemorySpanExporter, backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    await make_queue(backend, "failing", visibility_timeout=30)
    async with qworker.AsyncClient.from_url(backend_url) as client:
        message_id = await client.send("failing", "x")
    config = traced("failing", "failing", batch_size=1)
    worker = run_worker_until_empty(backend_url, config)
    # the message stays in flight after the failure: stop once the handler ran
    import asyncio

    task = asyncio.create_task(worker)
    await ledger.until(lambda lines: len(lines) == 1)
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    [span] = batch_spans(spans, "failing")
    attributes = dict(span.attributes or {})
    assert attributes["qworker.outcome"] == "function_error"
    assert attributes["error.type"] == "ValueError"
    assert attributes["messaging.message.id"] == message_id  # one message: its id, no count
    assert "messaging.batch.message_count" not in attributes
    assert span.status.status_code is StatusCode.ERROR


async def test_a_message_carries_its_senders_span(
    spans: InMemorySpanExporter, backend: Backend, backend_url: str
) -> None:
    """``traceparent`` (W3C, via the global propagator) and ``AWSTraceHeader`` (X-Ray) both name
    the span that sent the message; the sync client reads the calling thread's span."""
    await make_queue(backend, "carried")
    tracer = trace.get_tracer("producer")
    with qworker.Client.from_url(backend_url) as client, tracer.start_as_current_span("send") as sender:
        client.send("carried", "x", attributes={"kind": "a"})
        client.send_batch("carried", [{"body": "y"}])
    context = sender.get_span_context()
    for message in await backend.receive("carried", 10):
        assert message.message_attributes["traceparent"].string_value == (
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        )
        assert message.attributes["AWSTraceHeader"] == tracing.xray_header(
            context.trace_id, context.span_id, True
        )


async def test_qworker_otel_0_turns_it_off(
    spans: InMemorySpanExporter,
    backend: Backend,
    backend_url: str,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(tracing.OTEL_ENV, "0")
    await make_queue(backend, "plain")
    async with qworker.AsyncClient.from_url(backend_url) as client:
        with trace.get_tracer("producer").start_as_current_span("send"):
            await client.send("plain", "x")
    [message] = await backend.receive("plain", 1, visibility_timeout=0)
    assert "traceparent" not in message.message_attributes and "AWSTraceHeader" not in message.attributes
    assert await run_worker_until_empty(backend_url, traced("sync_trace", "plain")) == 0
    assert [s.name for s in spans.get_finished_spans()] == ["send"]  # the producer's own span only
    [line] = ledger.lines()
    assert line["span"] is None and line["var"].endswith("Sampled=0")


def test_the_tracer_is_on_when_asked_or_when_a_provider_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.OTEL_ENV, raising=False)
    assert tracing.batch_tracer("q", "f", "arn") is None  # OpenTelemetry imported, no provider
    monkeypatch.setenv(tracing.OTEL_ENV, "1")
    assert tracing.batch_tracer("q", "f", "arn") is not None  # on: spans go to whatever provider is set
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", TracerProvider())
    monkeypatch.setenv(tracing.OTEL_ENV, "auto")
    assert tracing.batch_tracer("q", "f", "arn") is not None
    monkeypatch.setenv(tracing.OTEL_ENV, "0")
    assert tracing.batch_tracer("q", "f", "arn") is None


def test_qworker_and_its_worker_never_import_opentelemetry_unless_on(tmp_path: Any) -> None:
    """``import qworker``, the client and a worker running batches leave OpenTelemetry unloaded
    (start-up time; the extra is optional)."""
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO / "tests" / "runtime")!r})
import qworker
assert not [m for m in sys.modules if m.startswith(("qworker.client", "opentelemetry"))]
from qworker.runtime.config import MappingConfig
from qworker.runtime.worker import Worker, WorkerOptions
url = "sqlite:///{tmp_path}/q.db"
with qworker.Client.from_url(url) as client:
    client.create_queue("q")
    client.send("q", "x")
opts = WorkerOptions(backend_url=url, until_empty=True, app_dir={str(REPO / "tests" / "runtime")!r})
config = MappingConfig(handler="apps.tracing_app:sync_trace", queue="q")
assert asyncio.run(Worker([config], opts).serve()) == 0
loaded = [m for m in sys.modules if m.startswith("opentelemetry")]
assert not loaded, loaded
print("ok")
"""
    env = {**os.environ, "QW_TEST_LEDGER": str(tmp_path / "ledger.jsonl"), "PYTHONPATH": str(REPO)}
    env.pop(tracing.OTEL_ENV, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


async def test_a_runtime_api_function_gets_the_batch_spans_trace_header(
    spans: InMemorySpanExporter, tmp_path: Any, ledger: Ledger
) -> None:
    """``Lambda-Runtime-Trace-Id`` is the invocation's header: a Node.js function's
    ``_X_AMZN_TRACE_ID`` names the batch span, so its own tracing joins that trace."""
    from tests.runtime_api.conftest import needs_node, node_mapping, run_until_empty

    if needs_node.args[0]:
        pytest.skip("Node.js is not installed")
    url = f"sqlite:///{tmp_path}/queues.db"
    async with qworker.AsyncClient.from_url(url) as client:
        await client.create_queue("node")
        await client.send("node", "{}")
    assert await run_until_empty(url, node_mapping("app.asyncHandler", "node")) == 0
    [span] = batch_spans(spans, "node")
    [line] = ledger.lines()
    own = span.context
    assert line["env"]["trace"] == tracing.xray_header(own.trace_id, own.span_id, True)
    assert dict(span.attributes or {})["qworker.outcome"] == "success"


def test_qworker_otel_1_without_the_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qworker.otel", None)  # as if OpenTelemetry were not installed
    monkeypatch.delattr(qworker, "otel", raising=False)
    monkeypatch.setenv(tracing.OTEL_ENV, "1")
    with pytest.raises(QWorkerError, match=r"pip install 'qworker\[otel\]'"):
        tracing.batch_tracer("q", "f", "arn")
    monkeypatch.setenv(tracing.OTEL_ENV, "auto")
    assert tracing.batch_tracer("q", "f", "arn") is None

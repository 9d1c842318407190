"""Trace headers end to end (SQLite and Redis; SQS in tests/client/test_client_sqs.py): a
producer's ``AWSTraceHeader`` reaches the record's ``attributes`` as on Lambda, and every
invocation sees its own ``_X_AMZN_TRACE_ID``, concurrent sync handlers included."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

import qworker
from qworker import tracing
from qworker.backend import Backend
from qworker.errors import QWorkerError
from qworker.runtime.config import MappingConfig
from tests.runtime.conftest import Ledger, make_queue, run_worker_until_empty

XRAY = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]")
PRODUCER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def traced(handler: str, queue: str, **kwargs: Any) -> MappingConfig:
    return MappingConfig(handler=f"apps.tracing_app:{handler}", queue=queue, **kwargs)


@pytest.mark.parametrize("handler", ["sync_trace", "async_trace"])
async def test_each_concurrent_invocation_sees_its_own_trace_id(
    backend: Backend, backend_url: str, ledger: Ledger, handler: str
) -> None:
    """Five invocations at once in one process: each reads its own header from os.environ,
    os.getenv, os.environ.copy() and the context variable, and no two share one."""
    await make_queue(backend, "traced")
    with qworker.Client.from_url(backend_url) as client:
        client.send_batch("traced", [{"body": f"m{i}"} for i in range(5)])
    config = traced(handler, "traced", batch_size=1, max_concurrency=5)
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert len(lines) == 5
    for line in lines:
        assert XRAY.fullmatch(line["var"]), line
        assert line["env"] == line["getenv"] == line["copy"] == line["var"]
        assert line["in_env"]
        assert line["var"].endswith("Sampled=0")  # a new, unsampled trace per invocation
    assert len({line["var"] for line in lines}) == 5
    assert tracing.TRACE_ENV not in os.environ  # nothing leaks out of the invocations


async def test_process_isolation_sets_the_variable_per_invocation(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    await make_queue(backend, "isolated")
    with qworker.Client.from_url(backend_url) as client:
        client.send_batch("isolated", [{"body": f"m{i}"} for i in range(4)])
    config = traced("sync_trace", "isolated", batch_size=1, max_concurrency=2, isolation="process")
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert len(lines) == 4 and all(line["pid"] != os.getpid() for line in lines)
    for line in lines:
        assert XRAY.fullmatch(line["env"]) and line["env"] == line["var"]
    assert len({line["env"] for line in lines}) == 4


async def test_the_producers_trace_header_reaches_the_record(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """EVT-4: ``AWSTraceHeader`` given by the sender is a system attribute of the record; a
    message sent without one has none. The invocation's own trace is not the producer's (a
    batch holds many producers: Lambda links them, it does not continue one)."""
    await make_queue(backend, "producers")
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.send("producers", "traced", trace_header=PRODUCER)
        await client.send("producers", "plain")
    config = traced("sync_trace", "producers", batch_size=10, batch_window=1)
    assert await run_worker_until_empty(backend_url, config) == 0
    traces = {
        body: trace
        for line in ledger.lines()
        for body, trace in zip(line["bodies"], line["record_traces"], strict=True)
    }
    assert traces == {"traced": PRODUCER, "plain": None}
    assert all(PRODUCER not in line["var"] for line in ledger.lines())


@pytest.mark.parametrize("handler", ["forward", "async_forward"])
async def test_a_handler_sending_with_the_client_passes_its_trace_on(
    backend: Backend, backend_url: str, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    """As botocore does inside Lambda: what a handler sends carries its invocation's trace."""
    await make_queue(backend, "first")
    await make_queue(backend, "second")
    monkeypatch.setenv("QW_TEST_BACKEND", backend_url)
    monkeypatch.setenv("QW_TEST_FORWARD", "second")
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.send_batch("first", [{"body": f"m{i}"} for i in range(3)])
    config = traced(handler, "first", batch_size=1, max_concurrency=3)
    assert await run_worker_until_empty(backend_url, config) == 0
    sent_by = {line["bodies"][0]: line["var"] for line in ledger.lines()}
    forwarded = await backend.receive("second", 10)
    assert len(forwarded) == 3
    assert {m.body: m.attributes["AWSTraceHeader"] for m in forwarded} == sent_by


def test_xray_headers_round_trip() -> None:
    header = tracing.xray_header(0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, True)
    assert header == PRODUCER
    parsed = tracing.parse_xray_header(" Root=1-5759e988-bd862e3fe1be46a994272793 ; Sampled=? ;Lineage=a:1")
    assert parsed == tracing.XRayContext(0x5759E988BD862E3FE1BE46A994272793, None, None)
    assert tracing.parse_xray_header(PRODUCER) == tracing.XRayContext(
        0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, True
    )
    for bad in ("", "Root=2-5759e988-bd862e3fe1be46a994272793", "Root=1-xyz-abc", "Parent=53995c3f42cd8ad8"):
        assert tracing.parse_xray_header(bad) is None


def test_the_environment_view_reads_the_context_variable_only_inside_invocations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(tracing.TRACE_ENV, "process-wide")
    tracing.install_environment_view()
    try:
        assert os.environ[tracing.TRACE_ENV] == "process-wide"
        token = tracing.set_trace_header("Root=mine")
        try:
            assert os.environ[tracing.TRACE_ENV] == "Root=mine"
            assert os.getenv(tracing.TRACE_ENV) == "Root=mine"
            monkeypatch.delenv(tracing.TRACE_ENV)
            assert dict(os.environ)[tracing.TRACE_ENV] == "Root=mine"
            assert len(os.environ) == len(list(os.environ))
        finally:
            tracing.reset_trace_header(token)
        assert tracing.TRACE_ENV not in os.environ
    finally:
        tracing.remove_environment_view()
    assert type(os.environ) is os._Environ


def test_qworker_otel_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (
        ("", None),
        ("auto", None),
        ("1", True),
        ("true", True),
        ("0", False),
        ("off", False),
    ):
        assert tracing.otel_setting({"QWORKER_OTEL": text}) is expected
    with pytest.raises(QWorkerError, match="QWORKER_OTEL"):
        tracing.otel_setting({"QWORKER_OTEL": "maybe"})


async def test_trace_headers_sent_with_boto3_through_qworker_serve_reach_the_record(
    backend: Backend, backend_url: str, ledger: Ledger, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer's trace through the SQS API: ``MessageSystemAttributes`` or, as the X-Ray
    SDK sends it, the request's ``X-Amzn-Trace-Id`` header (every message of the request gets it;
    a message's own ``AWSTraceHeader`` wins, as on SQS)."""
    import boto3

    from qworker.testing.serve import ServeProcess

    other = "Root=1-5759e988-00000000000000000000beef;Parent=00000000000000aa;Sampled=0"
    await make_queue(backend, "via-serve")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "local")
    server = ServeProcess(backend_url, log_dir=tmp_path).start()
    try:
        sqs = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1")
        url = sqs.get_queue_url(QueueName="via-serve")["QueueUrl"]
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": PRODUCER}}
        sqs.send_message(QueueUrl=url, MessageBody="system", MessageSystemAttributes=system)

        def trace_header(request: Any, **_: Any) -> None:
            request.headers["X-Amzn-Trace-Id"] = other

        sqs.meta.events.register("before-send.sqs.SendMessageBatch", trace_header)
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "MessageBody": "header"},
                {"Id": "b", "MessageBody": "both", "MessageSystemAttributes": system},
            ],
        )
    finally:
        server.stop()
    assert await run_worker_until_empty(backend_url, traced("sync_trace", "via-serve", batch_window=1)) == 0
    traces = {
        body: trace
        for line in ledger.lines()
        for body, trace in zip(line["bodies"], line["record_traces"], strict=True)
    }
    assert traces == {"system": PRODUCER, "header": other, "both": PRODUCER}


def test_a_new_header_is_made_once_when_first_read_whatever_reads_it() -> None:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    token = tracing.set_trace_header()
    try:
        context = contextvars.copy_context()
        with ThreadPoolExecutor(8) as pool:
            seen = set(pool.map(lambda _: context.run(tracing.current_trace_header), range(64)))
        assert len(seen) == 1 and XRAY.fullmatch(seen.pop() or "")
        assert tracing.current_trace_header() == context.run(tracing.current_trace_header)
    finally:
        tracing.reset_trace_header(token)
    assert tracing.current_trace_header() is None

"""Metrics, health endpoints and logs, seen from outside the worker (issue 8 items 2-4)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qworker import logs
from qworker.backend import Backend
from qworker.runtime import http
from qworker.runtime.http import HealthServer
from qworker.runtime.metrics import RuntimeMetrics
from qworker.runtime.metrics_export import exported
from qworker.runtime.worker import Worker, WorkerOptions
from tests.runtime.conftest import APP_DIR, Ledger, make_queue, mapping, send_json


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def _started(worker: Worker, task: asyncio.Task) -> int:
    """The metrics port once the worker serves it; fails at once if the worker died."""
    while worker.metrics_port is None:
        if task.done():
            raise AssertionError(f"the worker stopped early: {task.exception()!r}")
        await asyncio.sleep(0.01)
    return worker.metrics_port


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_and_probes_during_a_run(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-S-8: every metric moves as it should in a run with successes, failures, a dead letter and
    filtered records, scraped over HTTP; /livez and /readyz answer for Kubernetes."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="q-dlq", max_receive_count=2)
    await send_json(backend, "q", [{"kind": "ok", "n": i} for i in range(6)] + [{"kind": "noise"}] * 3)
    await send_json(backend, "q", [{"kind": "ok", "fail": True}])
    config = mapping("async_handler", "q", batch_size=1, timeout=1, filters=('{"body": {"kind": ["ok"]}}',))
    options = WorkerOptions(
        backend_url=backend_url, app_dir=str(APP_DIR), metrics_port=0, monitor_interval=0.2
    )
    worker = Worker([config], options)
    task = asyncio.create_task(worker.serve())
    port = await _started(worker, task)
    assert await _get(port, "/livez") == (200, "ok\n")
    assert (await _get(port, "/readyz"))[0] == 200
    await ledger.until(lambda lines: sum(1 for x in lines if x["failed"]) >= 2, timeout=20)
    await asyncio.sleep(1.5)  # the failed message is dead-lettered on its next receive
    status, text = await _get(port, "/metrics")
    assert status == 200
    samples = _samples(text)
    labels = {"queue": "q", "function": config.name}
    assert _value(samples, "qworker_messages_received_total", **labels) >= 8
    assert _value(samples, "qworker_messages_deleted_total", **labels) == 6 + 3  # 6 handled + 3 filtered
    assert _value(samples, "qworker_messages_filtered_out_total", **labels) == 3
    assert _value(samples, "qworker_messages_failed_total", **labels) == 2
    assert _value(samples, "qworker_messages_dead_lettered_total", **labels) == 1
    assert _value(samples, "qworker_invocations_total", outcome="success", **labels) == 6
    assert _value(samples, "qworker_invocations_total", outcome="function_error", **labels) == 2
    assert _value(samples, "qworker_batch_size_count", **labels) == 8
    assert _value(samples, "qworker_handler_duration_seconds_count", **labels) == 8
    assert _value(samples, "qworker_concurrency_target", **labels) >= 5
    assert _value(samples, "qworker_queue_messages", queue="q-dlq", state="visible") == 1
    assert _value(samples, "qworker_queue_messages", queue="q", state="visible") == 0
    assert _value(samples, "qworker_backend_up") == 1
    assert await _get(port, "/nope") == (404, "not found: try /metrics, /livez or /readyz\n")
    worker.request_stop()
    assert await task == 0


async def test_readyz_fails_while_draining(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """/readyz answers 503 once the worker is draining (so Kubernetes stops counting it)."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"sleep": 1.5}])
    options = WorkerOptions(backend_url=backend_url, app_dir=str(APP_DIR), metrics_port=0, graceful_timeout=5)
    worker = Worker([mapping("async_handler", "q", timeout=3)], options)
    task = asyncio.create_task(worker.serve())
    port = await _started(worker, task)
    while not (await backend.get_queue("q")).counts.in_flight:
        await asyncio.sleep(0.02)
    assert (await _get(port, "/readyz"))[0] == 200
    worker.request_stop()
    status, body = await _get(port, "/readyz")
    assert (status, body) == (503, "not ready: draining\n")
    assert await task == 0


async def test_handler_logging_carries_the_request_id_and_secrets_are_redacted(
    backend: Backend, backend_url: str, ledger: Ledger, capsys: object
) -> None:
    """Logs: JSON lines; the handler's own logging records carry the invocation's request id
    (like Lambda's log lines); URLs with passwords and AWS keys never reach the output."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    logs.configure("json", "info", cache=False)
    try:
        await make_queue(backend, "q")
        await send_json(backend, "q", [{"n": 1}])
        config = mapping("capture_handler", "q")
        log_handler = logging.getLogger("handler-test")

        worker = Worker(
            [config], WorkerOptions(backend_url=backend_url, app_dir=str(APP_DIR), until_empty=True)
        )
        original = worker.load_handlers

        def load_with_logging():  # wrap the handler so it logs through the standard library
            (handler,) = original()

            def logged(event, context):
                log_handler.warning("working with redis://user:hunter2@cache:6379/0 key AKIAABCDEFGHIJKLMNOP")
                return handler(event, context)

            return [logged]

        worker.load_handlers = load_with_logging  # type: ignore[method-assign]
        assert await worker.serve() == 0
    finally:
        logs.reset()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    (request_id,) = [line["context"]["aws_request_id"] for line in ledger.lines()]
    handler_lines = [e for e in lines if e.get("logger") == "handler-test"]
    assert handler_lines and handler_lines[0]["request_id"] == request_id
    assert "hunter2" not in captured.err and "AKIAABCDEFGHIJKLMNOP" not in captured.err
    assert "redis://user:***@cache:6379/0" in handler_lines[0]["event"]
    batch_lines = [e for e in lines if e.get("event") == "batch"]
    assert len(batch_lines) == 1 and batch_lines[0]["request_id"] == request_id


async def test_stuck_sync_threads_are_replaced_then_hold_slots_and_readyz_says_so(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """Issue 13 defect 1: sync handlers stuck past their timeout are loud. The first
    ``--max-concurrency`` stuck threads are replaced (no capacity lost); each one beyond keeps its
    concurrency slot until it returns: ``qworker_concurrency_slots_held`` counts them and /readyz
    answers 503 naming the function, then 200 again once the threads returned."""
    await make_queue(backend, "q", visibility_timeout=30)
    await send_json(backend, "q", [{"sleep": 2.5, "n": i} for i in range(4)])
    config = mapping("sync_handler", "q", batch_size=1, max_concurrency=2, timeout=0.3)
    options = WorkerOptions(backend_url=backend_url, app_dir=str(APP_DIR), metrics_port=0)
    worker = Worker([config], options)
    task = asyncio.create_task(worker.serve())
    port = await _started(worker, task)
    labels = {"queue": "q", "function": config.name}
    deadline = asyncio.get_running_loop().time() + 10
    while (status_body := await _get(port, "/readyz"))[0] == 200:
        assert asyncio.get_running_loop().time() < deadline, "four stuck threads never held a slot"
        await asyncio.sleep(0.05)
    status, body = status_body
    assert status == 503 and "stuck past their timeout" in body and f"{config.name} 2/2" in body, body
    samples = _samples((await _get(port, "/metrics"))[1])
    assert _value(samples, "qworker_stuck_handler_threads", **labels) == 4
    assert _value(samples, "qworker_concurrency_slots_held", **labels) == 2
    assert _value(samples, "qworker_invocations_total", outcome="timeout", **labels) == 4
    await ledger.until(lambda lines: len(lines) == 4, timeout=10)  # the threads ran to their end
    while (await _get(port, "/readyz"))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline + 5, "slots were not given back"
        await asyncio.sleep(0.05)
    samples = _samples((await _get(port, "/metrics"))[1])
    assert _value(samples, "qworker_stuck_handler_threads", **labels) == 0
    assert _value(samples, "qworker_concurrency_slots_held", **labels) == 0
    worker.request_stop()
    assert await task == 0


async def test_metrics_server_bounds_what_a_client_can_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 defect 6 (RELIABILITY §3.6): the metrics endpoint reads at most MAX_HEADER_LINES
    headers and MAX_HEAD_BYTES bytes (431 beyond), and gives a client REQUEST_TIMEOUT seconds to
    send its head (408, then the connection is closed); it used to read header lines for ever."""
    monkeypatch.setattr(http, "REQUEST_TIMEOUT", 0.5)
    server = HealthServer(exported(RuntimeMetrics()).registry, lambda: (True, ""))
    port = await server.start("127.0.0.1", 0)
    try:

        async def exchange(payload: bytes, *, keep_open: bool = False) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            if not keep_open:
                writer.write_eof()
            raw = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return raw

        many = b"GET /livez HTTP/1.1\r\n" + b"X-A: b\r\n" * (http.MAX_HEADER_LINES + 1) + b"\r\n"
        assert (await exchange(many)).startswith(b"HTTP/1.1 431 ")
        long_line = b"GET /livez HTTP/1.1\r\nX-A: " + b"a" * http.MAX_HEAD_BYTES + b"\r\n\r\n"
        assert (await exchange(long_line)).startswith(b"HTTP/1.1 431 ")
        slow = await exchange(b"GET /livez HTTP/1.1\r\nX-A: b\r\n", keep_open=True)  # never ends
        assert slow.startswith(b"HTTP/1.1 408 ")
        fine = b"GET /livez HTTP/1.1\r\n" + b"X-A: b\r\n" * http.MAX_HEADER_LINES + b"\r\n"
        assert (await exchange(fine)).endswith(b"\r\n\r\nok\n")
    finally:
        await server.close()

"""How the handler is called: the event and context it gets, sync/async/process modes, timeouts,
and the visibility heartbeat (EVT-*, SPEC 3.2, ESM-F-5)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from structlog.testing import capture_logs

from qworker.backend import Backend, MessageAttributeValue, SendEntry
from qworker.errors import HandlerImportError
from qworker.importer import import_from_string, normalize_target
from qworker.runtime.config import InvalidMappingConfig
from tests.runtime.conftest import (
    APP_DIR,
    Ledger,
    WorkerProcess,
    make_queue,
    mapping,
    run_worker_until_empty,
    send_json,
)


async def test_event_and_context_are_lambdas(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """EVT-1..EVT-8, SPEC 3.2: records exactly as Lambda's (validated by Powertools' SqsModel), a
    context with every attribute, a fresh request id per invocation, Lambda's env vars."""
    await make_queue(backend, "orders")
    await make_queue(backend, "orders.fifo", content_based_deduplication=True)
    attrs = {
        "kind": MessageAttributeValue("String", "invoice"),
        "blob": MessageAttributeValue("Binary", None, b"\x00\x01"),
    }
    await backend.send("orders", [SendEntry('{"a": 1}', message_attributes=attrs), SendEntry("plain")])
    await backend.send("orders.fifo", [SendEntry("f1", message_group_id="g1")])
    for queue in ("orders", "orders.fifo"):
        config = mapping("capture_handler", queue, function_name="order-fn", memory=256, timeout=5)
        assert await run_worker_until_empty(backend_url, config, set_lambda_environment=True) == 0
    lines = ledger.lines()
    standard, fifo = lines[0], lines[-1]
    for line in (standard, fifo):
        SqsModel.model_validate(line["event"])  # Powertools' parser accepts the event
        assert list(line["event"]) == ["Records"]
    record = next(r for r in standard["event"]["Records"] if r["body"] == '{"a": 1}')
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:orders"
    assert record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "invoice"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert record["md5OfMessageAttributes"]
    plain = next(r for r in standard["event"]["Records"] if r["body"] == "plain")
    assert plain["md5OfMessageAttributes"] is None and plain["messageAttributes"] == {}
    fifo_attrs = fifo["event"]["Records"][0]["attributes"]
    assert fifo_attrs["MessageGroupId"] == "g1" and fifo_attrs["SequenceNumber"].isdigit()
    ctx = standard["context"]
    assert ctx["function_name"] == "order-fn"
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:order-fn"
    assert ctx["log_group_name"] == "/aws/lambda/order-fn"
    assert 4000 < ctx["remaining"] <= 5000
    assert ctx["identity"] == [None, None] and ctx["client_context"] is None
    assert len({line["context"]["aws_request_id"] for line in lines}) == len(lines)
    env = standard["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "order-fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "apps.ledger:capture_handler"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == ctx["log_stream_name"]


@pytest.mark.parametrize("handler", ["async_handler", "sync_handler"])
async def test_sync_and_async_handlers(
    backend: Backend, backend_url: str, ledger: Ledger, handler: str
) -> None:
    """Async handlers run on the loop, sync handlers in a thread pool sized to the concurrency."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i, "sleep": 0.05} for i in range(30)])
    config = mapping(handler, "q", batch_size=1, max_concurrency=6)
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert len(lines) == 30 and 1 < max(line["concurrent"] for line in lines) <= 6


async def test_sync_handler_timeout_in_a_thread(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """A sync handler past its timeout fails the invocation (the thread cannot be killed)."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="dlq", max_receive_count=1)
    await send_json(backend, "q", [{"sleep": 1.5}])
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, mapping("sync_handler", "q", timeout=0.3)) == 0
    assert next(e for e in logs if e["event"] == "batch")["outcome"] == "timeout"
    assert (await backend.get_queue("dlq")).counts.visible == 1


async def test_process_isolation_kills_a_runaway_handler(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """--isolation process: a handler spinning past its timeout is killed; the next one runs."""
    await make_queue(backend, "q", visibility_timeout=2, dlq="dlq", max_receive_count=1)
    await send_json(backend, "q", [{"spin": 30}])
    config = mapping("sync_handler", "q", timeout=0.5, isolation="process", max_concurrency=2)
    started = time.monotonic()
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    assert time.monotonic() - started < 20, "the runaway handler was not killed"
    assert ledger.lines() == []
    assert next(e for e in logs if e["event"] == "batch")["outcome"] == "timeout"
    await send_json(backend, "q", [{"n": 1}])
    assert await run_worker_until_empty(backend_url, config) == 0
    (line,) = ledger.lines()
    assert line["kind"] == "sync" and line["bodies"] == ['{"n": 1}']


async def test_visibility_heartbeat_prevents_parallel_redelivery(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-F-5 (qworker --visibility-heartbeat): a handler may run far past the visibility timeout
    without its message being delivered again; the heartbeat is what lifts ESM-CFG-4's check."""
    await make_queue(backend, "q", visibility_timeout=1)
    await send_json(backend, "q", [{"sleep": 2.5}])
    config = mapping("async_handler", "q", timeout=5, heartbeat=0.3, batch_size=1)
    assert await run_worker_until_empty(backend_url, config) == 0
    assert [line["counts"] for line in ledger.lines()] == [[1]]
    with pytest.raises(InvalidMappingConfig, match="less than Function timeout"):
        mapping("async_handler", "q", timeout=5).validate(fifo=False, queue_visibility_timeout=1)
    # issue 13 defect 6: a beat late or lost must not let the messages reappear: at most half
    for beat in (1, 0.6):
        with pytest.raises(InvalidMappingConfig, match=r"at most half the visibility timeout \(1 s\)"):
            mapping("async_handler", "q", timeout=5, heartbeat=beat).validate(
                fifo=False, queue_visibility_timeout=1
            )
    mapping("async_handler", "q", timeout=5, heartbeat=0.5).validate(fifo=False, queue_visibility_timeout=1)


def test_import_errors_are_specific() -> None:
    """Exit 4 causes, each with a message saying what failed (uvicorn-style import strings)."""
    assert normalize_target("app.handler") == "app:handler"  # Lambda's Handler form
    cases = {
        "no-colon-or-dot": "is not of the form",
        "apps.missing_module:handler": "no such module",
        "apps.ledger:nothing_here": "Attribute 'nothing_here' not found",
        "apps.ledger:_concurrency": "not a function",
        "apps.broken:handler": "RuntimeError: this module is broken on purpose",
    }
    for target, message in cases.items():
        with pytest.raises(HandlerImportError) as excinfo:
            import_from_string(target, APP_DIR)
        assert message in str(excinfo.value), target
        assert excinfo.value.exit_code == 4
    assert callable(import_from_string("apps.ledger:async_handler", APP_DIR))
    assert json.dumps({"ok": True})


@pytest.mark.cross_process("the test runs qworker run as child processes")
async def test_heartbeat_survives_a_handler_that_blocks_the_event_loop(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """RELIABILITY T12: an async handler blocking the loop (time.sleep) for 3x the visibility
    timeout keeps its lease, because the heartbeat runs in its own thread; a second worker
    polling the same queue meanwhile never gets the message."""
    await make_queue(backend, "q", visibility_timeout=1)
    await send_json(backend, "q", [{"block": 3}])
    args = [
        "apps.ledger:async_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--timeout",
        "6",
        "--visibility-heartbeat",
        "0.3",
        "--batch-size",
        "1",
    ]
    blocked = WorkerProcess(args)
    worker_processes.append(blocked)
    for _ in range(400):
        if (await backend.get_queue("q")).counts.in_flight:
            break
        await asyncio.sleep(0.02)
    other = WorkerProcess(args)
    worker_processes.append(other)
    await ledger.until(lambda lines: len(lines) >= 1, timeout=20)
    await asyncio.sleep(1.5)  # time for a wrong redelivery to show up in the other worker
    for process in (blocked, other):
        process.signal(signal.SIGTERM)
    for process in (blocked, other):
        await asyncio.to_thread(process.wait, 30)
    assert [line["counts"] for line in ledger.lines()] == [[1]]


@pytest.mark.parametrize("handler", ["exiting_handler", "async_exiting_handler"])
async def test_sys_exit_in_a_handler_is_a_function_error(
    backend: Backend, backend_url: str, ledger: Ledger, handler: str
) -> None:
    """Lambda reports a handler calling sys.exit() as Runtime.ExitError (a function error); the
    worker must not exit with it."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="dlq", max_receive_count=1)
    await send_json(backend, "q", [{"n": 1}])
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, mapping(handler, "q", timeout=1)) == 0
    batch = next(e for e in logs if e["event"] == "batch")
    assert batch["outcome"] == "function_error"
    assert "Runtime.ExitError" in batch["reason"]
    assert (await backend.get_queue("dlq")).counts.visible == 1


@pytest.mark.parametrize(
    ("handler", "isolation"),
    [
        ("raising_sync_handler", "thread"),
        ("raising_async_handler", "thread"),
        ("raising_sync_handler", "process"),
    ],
)
async def test_base_exceptions_in_a_handler_are_function_errors(
    backend: Backend, backend_url: str, ledger: Ledger, handler: str, isolation: str
) -> None:
    """Issue 13 defect 5: ``KeyboardInterrupt`` or a custom ``BaseException`` raised by a handler is
    a function error (Lambda's runtime process would exit: ``Runtime.ExitError``), recorded with
    its messages, logged as a failed batch; the worker keeps serving and drains normally. Before,
    ``KeyboardInterrupt`` aborted the worker and a custom one left no log line and no error."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="dlq", max_receive_count=1)
    await send_json(backend, "q", [{"raise": "KeyboardInterrupt"}, {"raise": "custom"}])
    await send_json(backend, "q", [{"n": i} for i in range(3)])
    config = mapping(handler, "q", batch_size=1, max_concurrency=2, isolation=isolation, timeout=1)
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    assert sorted(json.loads(b)["n"] for b in ledger.bodies()) == [0, 1, 2]
    failed = [e for e in logs if e["event"] == "batch" and e["outcome"] == "function_error"]
    assert len(failed) == 2, [e for e in logs if e["event"] == "batch"]
    dead = {json.loads(m.body)["raise"]: m for m in await backend.peek("dlq", 10)}
    assert set(dead) == {"KeyboardInterrupt", "custom"}
    for kind, name in (("KeyboardInterrupt", "KeyboardInterrupt"), ("custom", "CustomBaseError")):
        error = dead[kind].last_error if backend.capabilities.records_failures else None
        if error is not None:
            assert error.startswith("Runtime.ExitError") and name in error, error
            assert "invoker.py" not in error and "handler_threads.py" not in error, error
            assert "_raise_what_the_body_says" in error, "the handler's own frames are kept"


@pytest.mark.cross_process("the test runs qworker run as child processes")
async def test_a_handler_calling_os_exit_ends_the_worker_and_a_restart_loses_nothing(
    backend: Backend, backend_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    """Issue 13 defect 5: ``os._exit`` in a handler ends the worker process at once (nothing can
    catch it; documented). What it held comes back after the visibility timeout, so a restarted
    worker processes every message: nothing is lost."""
    await make_queue(backend, "q", visibility_timeout=1)
    marker = tmp_path / "exited-once"
    await send_json(backend, "q", [{"n": i} for i in range(5)] + [{"raise": "exit", "code": 9}])
    args = [
        "apps.ledger:exit_once_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--batch-size",
        "1",
        "--timeout",
        "1",
    ]
    env = {"QW_TEST_EXIT_MARKER": str(marker)}
    first = WorkerProcess([*args, "--until-empty"], env)
    code, err = await asyncio.to_thread(first.wait, 30)
    assert code == 9 and marker.exists(), err[-2000:]
    second = WorkerProcess([*args, "--until-empty"], env)
    code, err = await asyncio.to_thread(second.wait, 30)
    assert code == 0, err[-2000:]
    bodies = [json.loads(b) for b in ledger.bodies()]
    # at least once: what the first worker had handled but not yet deleted runs again
    assert {b["n"] for b in bodies if "n" in b} == {0, 1, 2, 3, 4}
    assert [b for b in bodies if "raise" in b] == [{"raise": "exit", "code": 9}]

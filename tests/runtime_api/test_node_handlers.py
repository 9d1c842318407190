"""How qworker's Node.js client runs handlers: the semantics of Lambda's Node.js runtime.

Async handlers answer with what they resolve to; callback handlers when they call back and (by
default) once the event loop is empty; plain functions that do neither answer ``null``; ES
modules load with top-level await; an unhandled rejection fails the invocation and ends the
process. Queues send failed messages to a dead-letter queue after one receive.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import QueueSpec, RedrivePolicy
from qworker.registry import open_backend
from tests.runtime_api.conftest import (
    Ledger,
    needs_node,
    node_mapping,
    run_until_empty,
    send,
    wait_for,
    worker,
)

pytestmark = needs_node


@pytest.fixture
async def sqlite(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path}/queues.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("jobs-dlq"))
        await backend.create_queue(
            QueueSpec("jobs", visibility_timeout=2, redrive_policy=RedrivePolicy("jobs-dlq", 1))
        )
        yield url, backend


async def _run(url: str, handler: str, **kwargs: Any) -> None:
    config = node_mapping(handler, "jobs", timeout=2, report_batch_item_failures=True, **kwargs)
    assert await run_until_empty(url, config) == 0


async def test_es_module_with_top_level_await(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await send(backend, "jobs", ["héllo ✓ 𝄞"])  # the event is UTF-8 JSON: bodies arrive intact
    await _run(url, "esm.handler")
    assert [(line["kind"], line["bodies"]) for line in ledger.lines()] == [("esm", ["héllo ✓ 𝄞"])]
    assert (await backend.get_queue("jobs-dlq")).counts.visible == 0


async def test_plain_function_answers_null_and_its_return_value_is_ignored(
    sqlite: Any, ledger: Ledger
) -> None:
    url, backend = sqlite
    await send(backend, "jobs", [{"n": 1, "fail": True}])
    await _run(url, "app.syncNoCallback")
    assert [line["kind"] for line in ledger.lines()] == ["sync"]
    # null is a success (ESM-P-3): the batchItemFailures it returned never reached Lambda
    assert (await backend.get_queue("jobs-dlq")).counts.visible == 0


async def test_promise_that_never_settles_fails_when_the_loop_empties(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await send(backend, "jobs", [{"n": 1}])
    await _run(url, "app.neverSettles")
    (dead,) = await backend.peek("jobs-dlq", 10)
    assert dead.last_error is not None and dead.last_error.startswith("Runtime.NodeJsExit:")


async def test_callback_without_waiting_for_the_event_loop(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await send(backend, "jobs", [{"n": 1}, {"n": 2, "fail": True}])
    started = time.monotonic()
    await _run(url, "app.noWait", batch_size=2)
    assert time.monotonic() - started < 30  # the 60 s timer did not hold the answer back
    (dead,) = await backend.peek("jobs-dlq", 10)
    assert dead.body == '{"n": 2, "fail": true}'
    assert dead.last_error is not None and "ESM-P-2" in dead.last_error


async def test_unhandled_rejection_fails_the_invocation_and_ends_the_process(
    sqlite: Any, ledger: Ledger
) -> None:
    url, backend = sqlite
    await send(backend, "jobs", [{"n": 1}])
    await _run(url, "app.unhandled")
    (dead,) = await backend.peek("jobs-dlq", 10)
    assert dead.last_error is not None and dead.last_error.startswith("Error: nobody catches me")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_an_exception_after_the_answer_ends_the_process_at_once(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    config = node_mapping("app.throwsLater", "jobs", timeout=2, batch_size=1, max_concurrency=2)
    w = worker(url, config)
    serving = asyncio.create_task(w.serve())
    await send(backend, "jobs", [{"n": 1}])
    (first,) = await ledger.until(lambda lines: len(lines) == 1)
    # the client is waiting for its next invocation: the process still ends (uncaught exception)
    await wait_for(lambda: _gone(first["pid"]), timeout=5)
    await send(backend, "jobs", [{"n": 2}])  # a fresh process serves the next one
    _, second = await ledger.until(lambda lines: len(lines) == 2, timeout=15)
    assert second["pid"] != first["pid"]
    w.request_stop()
    assert await serving == 0
    assert (await backend.get_queue("jobs-dlq")).counts.visible == 0, "both invocations succeeded"

"""What goes wrong in a runtime process, and what the event source mapping makes of it.

Each failure is a function error (ESM-F-2, ESM-P-5): nothing of the batch is deleted, and the
error is the message's failure note, as Lambda reports it (``Sandbox.Timedout``,
``Runtime.ExitError``, the function's own ``errorType``, ``Function.ResponseSizeTooLarge``).
Queues have a dead-letter queue after one receive, so a failed message ends there with its note.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from qworker.runtime.runtime_api.invoker import RuntimeInitFailed
from tests.runtime_api.conftest import (
    APPS,
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
        yield url, backend


async def _queue(backend: Backend, name: str = "jobs", visibility: int = 1) -> str:
    await backend.create_queue(QueueSpec(f"{name}-dlq"))
    await backend.create_queue(
        QueueSpec(name, visibility_timeout=visibility, redrive_policy=RedrivePolicy(f"{name}-dlq", 1))
    )
    return name


async def _dead(backend: Backend, queue: str = "jobs") -> list[Any]:
    return await backend.peek(f"{queue}-dlq", 10)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_timeout_kills_the_process_and_the_next_invocation_gets_a_fresh_one(
    sqlite: Any, ledger: Ledger
) -> None:
    url, backend = sqlite
    await _queue(backend, visibility=2)
    await send(backend, "jobs", [{"sleep": 10_000}])
    config = node_mapping("app.behaviour", "jobs", timeout=1, batch_size=1, max_concurrency=2)
    w = worker(url, config)
    serving = asyncio.create_task(w.serve())
    (first,) = await ledger.until(lambda lines: len(lines) == 1)
    await wait_for(lambda: _gone(first["pid"]), timeout=5)  # killed at the timeout
    await send(backend, "jobs", [{"n": 2}])  # served by a fresh process
    await ledger.until(lambda lines: len(lines) == 2, timeout=15)
    await wait_for_dead(backend, 1)  # the timed-out message came back, then went to the DLQ
    w.request_stop()
    assert await serving == 0
    first, second = ledger.lines()
    assert first["pid"] != second["pid"]
    assert _gone(first["pid"]), "the timed-out runtime process was killed"
    (dead,) = await _dead(backend)
    assert dead.body == '{"sleep": 10000}'
    assert dead.last_error.startswith("Sandbox.Timedout: Task timed out after 1.00 seconds")
    assert _gone(second["pid"]), "no runtime process outlives the worker"


async def test_crash_mid_batch_is_runtime_exit_error(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await _queue(backend)
    await send(backend, "jobs", [{"n": 1}, {"crash": 3}, {"n": 3}])
    assert await run_until_empty(url, node_mapping("app.behaviour", "jobs", timeout=1, batch_size=3)) == 0
    dead = await _dead(backend)
    assert len(dead) == 3, "a crash fails the whole batch"
    assert {d.last_error for d in dead} == {"Runtime.ExitError: Runtime exited with error: exit status 3"}
    assert len(ledger.lines()) == 1


async def test_error_response_keeps_the_lambda_error_shape(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await _queue(backend)
    await send(backend, "jobs", [{"throw": "the order has no items"}])
    assert await run_until_empty(url, node_mapping("app.behaviour", "jobs", timeout=1)) == 0
    (dead,) = await _dead(backend)
    first, *trace = dead.last_error.splitlines()
    assert first == "TypeError: the order has no items"
    assert any("app.js" in line for line in trace), "the stack trace is in the failure note"


async def test_response_over_6_mb_is_function_response_size_too_large(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await _queue(backend, visibility=3)
    await send(backend, "jobs", [{"big": 6_400_000}])
    assert await run_until_empty(url, node_mapping("app.behaviour", "jobs", timeout=3)) == 0
    (dead,) = await _dead(backend)
    assert dead.last_error.startswith("Function.ResponseSizeTooLarge: Response payload size exceeded")


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        ("broken.handler", "Error: cannot start: missing configuration"),
        ("missing.handler", "Runtime.ImportModuleError: Error: Cannot find module 'missing'"),
        ("app.nothing", "Runtime.HandlerNotFound: app.nothing is undefined or not exported"),
    ],
)
async def test_init_error_at_start_stops_the_worker(sqlite: Any, handler: str, error: str) -> None:
    url, backend = sqlite
    await _queue(backend)
    with pytest.raises(RuntimeInitFailed, match="failed its Init phase") as raised:
        await run_until_empty(url, node_mapping(handler, "jobs", timeout=1))
    assert error in str(raised.value)
    assert raised.value.exit_code == 4


async def test_init_error_of_a_replacement_fails_the_invocation(
    sqlite: Any, ledger: Ledger, tmp_path: Path
) -> None:
    """After start-up an Init error fails the invocation that meets it, as in Lambda: the first
    process crashes (Runtime.ExitError), its replacement reports an Init error, which the next
    message gets; the third process serves."""
    url, backend = sqlite
    await _queue(backend)
    config = MappingConfig(
        handler="",
        queue="jobs",
        runtime_command=f"{sys.executable} flaky_bootstrap.py",
        code_dir=str(APPS / "custom"),
        environment={"QW_TEST_STARTS": str(tmp_path / "starts")},
        timeout=1,
        batch_size=1,
    )
    w = worker(url, config)
    serving = asyncio.create_task(w.serve())
    await send(backend, "jobs", [{"crash": 1}])
    await ledger.until(lambda lines: len(lines) == 1)
    invoker = w.runners[0].invoker  # the replacement's Init has failed: it waits in the pool
    await wait_for(lambda: any(e.init_error for e in invoker._idle))  # type: ignore[union-attr]
    await send(backend, "jobs", [{"n": 2}])
    await wait_for(lambda: len((tmp_path / "starts").read_text().splitlines()) == 3)
    await send(backend, "jobs", [{"n": 3}])
    await ledger.until(lambda lines: len(lines) == 2)
    await wait_for_dead(backend, 2)
    w.request_stop()
    assert await serving == 0
    errors = sorted(d.last_error for d in await _dead(backend))
    assert errors == [
        "Runtime.ConfigurationError: the second start refuses",
        "Runtime.ExitError: Runtime exited with error: exit status 1",
    ]
    assert [line["start"] for line in ledger.lines()] == [1, 3]


async def wait_for_dead(backend: Backend, count: int) -> None:
    for _ in range(500):
        if (await backend.get_queue("jobs-dlq")).counts.visible >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} dead letters")


async def test_sigkill_of_the_worker_takes_its_runtime_processes(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a runtime process dies with the worker even on SIGKILL."""
    script = tmp_path / "w.py"
    script.write_text(
        "import asyncio\n"
        "from qworker.runtime.runtime_api import process\n"
        "async def main():\n"
        "    p = await process.spawn(['sleep', '60'], '.', {'PATH': '/usr/bin:/bin'})\n"
        "    print(p.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
    assert parent.stdout is not None
    with parent.stdout:
        child = int(parent.stdout.readline())
    assert not _gone(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(100):
        if _gone(child):
            break
        await asyncio.sleep(0.02)
    assert _gone(child)

"""``qworker run`` as users run it: a process, its exit codes, signals, and kill -9 (RELIABILITY T2-T4)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from structlog.testing import capture_logs

from qworker.backend import Backend
from qworker.runtime import mapping as mapping_module
from qworker.runtime.mapping import MappingRunner
from qworker.runtime.worker import Worker, WorkerOptions
from tests.runtime.conftest import (
    APP_DIR,
    Ledger,
    WorkerProcess,
    log_events,
    make_queue,
    mapping,
    send_json,
)


def _start(worker_processes: list[WorkerProcess], *args: str) -> WorkerProcess:
    process = WorkerProcess(list(args))
    worker_processes.append(process)
    return process


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_exit_codes(backend: Backend, backend_url: str, worker_processes: list[WorkerProcess]) -> None:
    """DESIGN.md exit codes: 4 handler import, 2 configuration (AWS's text), 3 backend unreachable."""
    await make_queue(backend, "q")
    cases = [
        (["apps.missing:handler", "--queue", "q", "--backend", backend_url], 4, "no such module"),
        (["apps.broken:handler", "--queue", "q", "--backend", backend_url], 4, "broken on purpose"),
        (["apps.ledger:async_handler", "--queue", "nope", "--backend", backend_url], 2, "does not exist"),
        (
            ["apps.ledger:async_handler", "--queue", "q", "--backend", backend_url, "--batch-size", "11"],
            2,
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ),
        (
            ["apps.ledger:async_handler", "--queue", "q", "--backend", backend_url, "--timeout", "31"],
            2,
            "Queue visibility timeout: 30 seconds is less than Function timeout: 31 seconds",
        ),
        (
            [
                "apps.ledger:async_handler",
                "--queue",
                "q",
                "--backend",
                backend_url,
                "--filter",
                '{"body": "x"}',
            ],
            2,
            "Invalid filter pattern definition.",
        ),
        (
            ["apps.ledger:async_handler", "--queue", "q", "--backend", "sqlite:////nonexistent-dir/x/q.db"],
            3,
            "",
        ),
        (["apps.ledger:async_handler", "--queue", "q", "--backend", "nosuch://x"], 2, "No qworker backend"),
        (
            [
                "apps.ledger:async_handler",
                "--queue",
                "q",
                "--backend",
                "redis://127.0.0.1:1/0?retry_timeout=0.5",
            ],
            3,
            "cannot reach",
        ),
    ]
    for args, code, message in cases:
        returncode, stderr = _start(worker_processes, *args).wait(timeout=60)
        assert returncode == code, (args, stderr[-2000:])
        assert message in stderr, (args, stderr[-2000:])
        assert "Traceback" not in stderr


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_until_empty_processes_everything_and_exits_0(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """--until-empty: exit 0 once the queue is empty and nothing is in flight."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(300)])
    process = _start(
        worker_processes,
        "apps.ledger:sync_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--until-empty",
    )
    code, stderr = process.wait(timeout=60)
    assert code == 0, stderr[-2000:]
    assert len(ledger.bodies()) == 300 and len(set(ledger.ids())) == 300
    assert any(e.get("event") == "batch" for e in log_events(stderr))


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_sigterm_drains_without_redelivery(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """T3: SIGTERM stops receiving, lets running batches finish, exits 0; nothing runs twice and
    what was not started stays in the queue."""
    await make_queue(backend, "q", visibility_timeout=60)
    await send_json(backend, "q", [{"n": i, "sleep": 0.3} for i in range(200)])
    process = _start(
        worker_processes,
        "apps.ledger:async_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--batch-size",
        "2",
        "--max-concurrency",
        "4",
        "--graceful-timeout",
        "10",
    )
    await asyncio.to_thread(ledger.wait_for, lambda lines: len(lines) >= 8)
    process.signal(signal.SIGTERM)
    code, stderr = await asyncio.to_thread(process.wait, 30)
    assert code == 0, stderr[-3000:]
    handled = ledger.ids()
    assert len(handled) == len(set(handled)), "a message was processed twice"
    counts = (await backend.get_queue("q")).counts
    assert counts.in_flight == 0, "messages were left hidden instead of released or deleted"
    assert counts.visible + len(handled) == 200
    events = [e.get("event") for e in log_events(stderr)]
    assert "signal received: draining (send it again to exit at once)" in events


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_grace_period_exceeded_cancels_and_exits_1(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """T4: a batch still running at the end of the grace period is cancelled, not deleted; exit 1."""
    await make_queue(backend, "q", visibility_timeout=30)
    await send_json(backend, "q", [{"sleep": 20}])
    process = _start(
        worker_processes,
        "apps.ledger:async_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--timeout",
        "25",
        "--graceful-timeout",
        "0.5",
    )
    for _ in range(200):
        if (await backend.get_queue("q")).counts.in_flight:
            break
        await asyncio.sleep(0.05)
    process.signal(signal.SIGTERM)
    code, stderr = await asyncio.to_thread(process.wait, 30)
    assert code == 1, stderr[-3000:]
    assert (await backend.get_queue("q")).counts.in_flight == 1  # reappears after its timeout
    assert "cancelled batches still running" in stderr


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_second_signal_exits_at_once(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """A second SIGTERM/SIGINT exits immediately, without waiting for the grace period."""
    await make_queue(backend, "q", visibility_timeout=60)
    await send_json(backend, "q", [{"sleep": 30}])
    process = _start(
        worker_processes,
        "apps.ledger:async_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--timeout",
        "40",
        "--graceful-timeout",
        "60",
    )
    for _ in range(200):
        if (await backend.get_queue("q")).counts.in_flight:
            break
        await asyncio.sleep(0.05)
    process.signal(signal.SIGINT)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    process.signal(signal.SIGINT)
    code, stderr = await asyncio.to_thread(process.wait, 20)
    assert code == 1, stderr[-3000:]
    assert time.monotonic() - started < 10


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_kill_9_under_load_loses_nothing(
    backend: Backend, backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    """T2: a worker killed with SIGKILL mid-batch, several times, then restarted: every message is
    processed at least once and nothing is left behind."""
    await make_queue(backend, "q", visibility_timeout=1)
    total = 400
    await send_json(backend, "q", [{"n": i, "sleep": 0.02} for i in range(total)])
    args = [
        "apps.ledger:async_handler",
        "--queue",
        "q",
        "--backend",
        backend_url,
        "--batch-size",
        "5",
        "--max-concurrency",
        "8",
        "--timeout",
        "1",
    ]
    for kill in range(4):
        process = _start(worker_processes, *args)
        target = (kill + 1) * total // 6
        await asyncio.to_thread(
            ledger.wait_for, lambda lines, t=target: len({i for x in lines for i in x["ids"]}) >= t, 60
        )
        process.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
    final = _start(worker_processes, *args, "--until-empty")
    code, stderr = await asyncio.to_thread(final.wait, 90)
    assert code == 0, stderr[-3000:]
    handled = set(ledger.ids())
    assert len(handled) == total, f"lost {total - len(handled)} messages"
    counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)
    duplicates = len(ledger.ids()) - len(handled)
    assert duplicates <= 4 * 8 * 5, "more duplicates than messages in flight at the kills"


async def test_mappings_drain_at_once_within_one_grace_period(
    backend: Backend, backend_url: str, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 defect 6: on SIGTERM every mapping drains at the same time, so three mappings
    with batches longer than the grace period exit after one grace period, not three; and a
    mapping whose drain raises does not keep the others from draining (it used to skip them)."""
    queues = ["a", "b", "c"]
    for queue in queues:
        await make_queue(backend, queue)
        await send_json(backend, queue, [{"sleep": 30}])
    configs = [mapping("async_handler", q, function_name=f"fn-{q}", timeout=20, batch_size=1) for q in queues]
    options = WorkerOptions(backend_url=backend_url, app_dir=str(APP_DIR), graceful_timeout=1.5)
    worker = Worker(configs, options)
    real_drain = MappingRunner.drain
    drained: list[str] = []

    async def drain(self: MappingRunner, grace: float) -> int:
        if self.config.queue == "a":
            raise RuntimeError("a bug while draining")
        cancelled = await real_drain(self, grace)
        drained.append(self.config.queue)
        return cancelled

    monkeypatch.setattr(MappingRunner, "drain", drain)
    task = asyncio.create_task(worker.serve())
    for queue in queues:
        while not (await backend.get_queue(queue)).counts.in_flight:
            await asyncio.sleep(0.02)
    started = time.monotonic()
    worker.request_stop()
    assert await task == 1  # batches were cancelled
    elapsed = time.monotonic() - started
    assert sorted(drained) == ["b", "c"]
    assert elapsed < 2 * options.graceful_timeout, f"drained one after another: {elapsed:.2f} s"


async def test_a_handler_deaf_to_cancellation_does_not_hold_the_exit(
    backend: Backend, backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 defect 6: a handler that swallows its cancellation is left behind after a bounded
    wait (CANCEL_WAIT_SECONDS), logged; the worker exits 1 instead of waiting for it to end."""
    monkeypatch.setattr(mapping_module, "CANCEL_WAIT_SECONDS", 1.0)
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"sleep": 5}])  # ends by itself after the test
    options = WorkerOptions(backend_url=backend_url, app_dir=str(APP_DIR), graceful_timeout=0.5)
    worker = Worker([mapping("deaf_handler", "q", timeout=20, batch_size=1)], options)
    task = asyncio.create_task(worker.serve())
    while not (await backend.get_queue("q")).counts.in_flight:
        await asyncio.sleep(0.02)
    with capture_logs() as logs:
        worker.request_stop()
        assert await asyncio.wait_for(task, 4) == 1
    assert any(e["event"] == "batches ignored their cancellation; leaving them behind" for e in logs)

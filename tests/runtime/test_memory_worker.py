"""The runtime on ``memory://``: the worker, and ``qworker run`` itself, drain a store that the
test fills through a backend of its own; an idle worker sleeps in its long poll.

These run whatever ``QWORKER_TEST_BACKENDS`` says: they are how ``make test`` proves the runtime
works on the in-memory backend without running every runtime test on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from qworker.backend import QueueSpec, ReceivedMessage, SendEntry
from qworker.errors import QueueDoesNotExist
from qworker.memory import MemoryBackend, MemoryQueue, drop_store, named_store
from qworker.registry import open_backend
from qworker.runtime.worker import Worker, WorkerOptions, run_worker
from tests.runtime.conftest import APP_DIR, Ledger, make_queue, mapping, run_worker_until_empty, send_json


class CountingBackend(MemoryBackend):
    """Counts the looks receives take at their queue (a polling receive takes hundreds a second)."""

    looks = 0

    def _receive_now(
        self, q: MemoryQueue, max_messages: int, visibility: float | None, now: int
    ) -> list[ReceivedMessage]:
        self.looks += 1
        return super()._receive_now(q, max_messages, visibility, now)


@pytest.fixture
def url() -> Iterator[str]:
    name = f"runtime-{time.monotonic_ns()}"
    yield f"memory://{name}"
    drop_store(name)


async def test_worker_drains_a_named_store_filled_by_another_backend(url: str, ledger: Ledger) -> None:
    async with open_backend(url) as sender:  # closed before the worker opens the same URL
        await make_queue(sender, "jobs", dlq="jobs-dlq", max_receive_count=1, visibility_timeout=1)
        await send_json(sender, "jobs", [{"n": i} for i in range(25)] + [{"fail": True}])
    config = mapping("async_handler", "jobs", batch_size=1, timeout=1)
    assert await run_worker_until_empty(url, config) == 0
    assert sorted(ledger.bodies()) == sorted([f'{{"n": {i}}}' for i in range(25)] + ['{"fail": true}'])
    async with open_backend(url) as backend:
        assert (await backend.get_queue("jobs")).counts.visible == 0
        [dead] = await backend.peek("jobs-dlq")
        assert dead.body == '{"fail": true}'


async def test_qworker_run_in_another_thread_and_loop_shares_the_store(url: str, ledger: Ledger) -> None:
    """A worker on ``memory://NAME`` in this process (a thread, its own uvloop loop)
    drains what this test's loop sends while it waits: wake-ups cross threads and loops."""
    async with open_backend(url) as backend:
        await make_queue(backend, "q")
        await send_json(backend, "q", [{"n": 0}])
        # the worker as `qworker run` runs it (run_worker: its own uvloop loop), in a thread; not
        # through the CLI in-process, which would configure this process's logging for good
        options = WorkerOptions(backend_url=url, app_dir=str(APP_DIR))
        running = asyncio.create_task(asyncio.to_thread(run_worker, [mapping("async_handler", "q")], options))
        await ledger.until(lambda lines: len(lines) >= 1, timeout=10)
        sent = time.monotonic()
        await send_json(backend, "q", [{"n": 1}])  # the worker is in a 10 s long poll now
        await ledger.until(lambda lines: sum(len(x["bodies"]) for x in lines) >= 2, timeout=10)
        latency = time.monotonic() - sent
        await backend.delete_queue("q")  # its poll ends with "queue does not exist"
        with pytest.raises(QueueDoesNotExist):  # the queue went away under it: an error, said as one
            await asyncio.wait_for(running, 30)
    assert ledger.bodies() == ['{"n": 0}', '{"n": 1}']
    assert latency < 1.0, latency


async def test_an_idle_worker_sleeps_in_its_long_poll(url: str, ledger: Ledger) -> None:
    """No busy polling: over 2 s an idle worker looks at its queue a handful of times (one
    10-second long poll, woken only by the test's send), and a message sent then is handled
    at once."""
    name = url.removeprefix("memory://")
    backend = CountingBackend(store=named_store(name))
    await make_queue(backend, "q")
    worker = Worker([mapping("async_handler", "q")], WorkerOptions(app_dir=str(APP_DIR)), backend=backend)
    task = asyncio.create_task(worker.serve())
    await asyncio.sleep(0.3)  # started and waiting
    looks, cpu = backend.looks, time.process_time()
    await asyncio.sleep(2)
    idle_looks, idle_cpu = backend.looks - looks, time.process_time() - cpu
    sent = time.monotonic()
    await backend.send("q", [SendEntry('{"wake": 1}')])
    await ledger.until(lambda lines: len(lines) >= 1, timeout=5)
    latency = time.monotonic() - sent
    worker.request_stop()
    assert await task == 0
    assert idle_looks <= 2, idle_looks  # polling every 5 ms would be ~400
    assert idle_cpu < 0.25, idle_cpu  # the test process's CPU, this test's loop included
    assert latency < 1.0, latency


async def test_reopened_is_none_so_the_heartbeat_runs_on_the_loop(url: str, ledger: Ledger) -> None:
    """``--visibility-heartbeat`` on memory:// extends leases from the worker's loop: a handler
    running 2.5 s on a 1 s visibility timeout is not delivered twice."""
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("slow", visibility_timeout=1))
        await backend.send("slow", [SendEntry('{"sleep": 2.5}')])
        config = mapping("async_handler", "slow", timeout=5, heartbeat=0.3, max_concurrency=2)
        assert await run_worker_until_empty(url, config) == 0
        assert len(ledger.lines()) == 1
        assert (await backend.get_queue("slow")).counts.visible == 0

"""Many threads on one sync Client, many tasks on one AsyncClient: every message is sent once,
every caller gets its own message's id (SQLite and Redis)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import qworker
from qworker.backend import Backend


async def _all_bodies(backend: Backend, queue: str) -> list[str]:
    bodies: list[str] = []
    while batch := await backend.receive(queue, 1000):
        bodies += [m.body for m in batch]
    return bodies


@pytest.mark.parametrize("coalesce", [True, False])
async def test_threads_hammering_one_sync_client(backend: Backend, backend_url: str, coalesce: bool) -> None:
    threads, each = 16, 40
    with qworker.Client.from_url(backend_url, coalesce=coalesce) as client:
        client.create_queue("hammer")
        start = threading.Barrier(threads)

        def produce(worker: int) -> list[tuple[str, str]]:
            start.wait()
            sent = []
            for i in range(each):
                body = f"{worker}-{i}"
                if i % 10 == 9:  # batches and single sends interleaved
                    result = client.send_batch("hammer", [{"body": f"{body}-b{k}"} for k in range(3)])
                    sent += [(f"{body}-b{k}", mid) for k, mid in enumerate(result.message_ids) if mid]
                else:
                    sent.append((body, client.send("hammer", body)))
            return sent

        with ThreadPoolExecutor(threads) as pool:
            sent = [
                pair
                for chunk in await asyncio.to_thread(lambda: list(pool.map(produce, range(threads))))
                for pair in chunk
            ]
        expected = threads * (each - each // 10 + 3 * (each // 10))
        assert len(sent) == expected
        assert len({mid for _, mid in sent}) == expected
        assert client.stats("hammer")["ApproximateNumberOfMessages"] == str(expected)
    assert sorted(await _all_bodies(backend, "hammer")) == sorted(body for body, _ in sent)


@pytest.mark.parametrize("coalesce", [True, False])
async def test_tasks_hammering_one_async_client(backend: Backend, backend_url: str, coalesce: bool) -> None:
    async with qworker.AsyncClient.from_url(backend_url, coalesce=coalesce) as client:
        await client.create_queue("tasks")
        await client.create_queue("tasks.fifo", ContentBasedDeduplication=True)

        async def produce(task: int) -> list[str]:
            ids = []
            for i in range(20):
                ids.append(await client.send("tasks", {"task": task, "i": i}))
                await client.send("tasks.fifo", f"{task}-{i}", group_id=f"g{task % 4}")
            return ids

        results = await asyncio.gather(*(produce(task) for task in range(50)))
    ids = [mid for chunk in results for mid in chunk]
    assert len(set(ids)) == 1000
    assert len(await _all_bodies(backend, "tasks")) == 1000
    # FIFO: each task's messages keep their order within its group
    fifo: list[str] = []
    while batch := await backend.receive("tasks.fifo", 10):
        fifo += [m.body for m in batch]
        await backend.delete("tasks.fifo", [m.receipt_handle for m in batch])
    assert len(fifo) == 1000
    for task in range(50):
        mine = [int(b.split("-")[1]) for b in fifo if b.split("-")[0] == str(task)]
        assert mine == list(range(20))


def test_a_call_that_times_out_raises_and_the_client_goes_on(backend_url: str) -> None:
    with qworker.Client.from_url(backend_url, timeout=0.3) as client:
        client.create_queue("slow")
        send = client.backend.send

        async def stalled(queue: str, entries: Any) -> Any:
            if entries[0].body == "stall":
                await asyncio.sleep(5)
            return await send(queue, entries)

        client.backend.send = stalled  # type: ignore[method-assign]
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.send("slow", "stall")
        assert time.monotonic() - started < 2
        assert client.send("slow", "fine")


def test_a_client_does_not_cross_a_fork(backend_url: str) -> None:
    with qworker.Client.from_url(backend_url) as client:
        client.create_queue("forked")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads running
            pid = os.fork()
        if pid == 0:  # the child: the client says so instead of hanging
            try:
                client.send("forked", "x")
            except RuntimeError as exc:
                os._exit(0 if "fork" in str(exc) else 2)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert client.send("forked", "parent")

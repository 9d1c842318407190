"""The server's batcher on real backends: concurrent single sends and deletes become one backend
call per queue and event-loop turn, and each request still gets exactly its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

from qworker.backend import Backend, BatchEntryError, QueueSpec, SendEntry, SendResult
from qworker.serve.batcher import Batcher


class Recording:
    """A real backend whose ``send``/``delete`` calls are counted."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.sends: list[int] = []
        self.deletes: list[int] = []

    async def send(self, queue: str, entries: Any) -> Any:
        self.sends.append(len(entries))
        return await self.backend.send(queue, entries)

    async def delete(self, queue: str, handles: Any) -> Any:
        self.deletes.append(len(handles))
        return await self.backend.delete(queue, handles)


async def test_concurrent_sends_share_one_call_and_keep_their_own_results(backend: Backend) -> None:
    await backend.create_queue(QueueSpec("b", maximum_message_size=1024))
    recording = Recording(backend)
    batcher = Batcher(recording)  # type: ignore[arg-type]
    entries = [SendEntry(f"m{i}") for i in range(20)]
    entries[7] = SendEntry("x" * 2000)  # over the queue's size: fails alone
    results = await asyncio.gather(*(batcher.send("b", entry) for entry in entries))
    assert recording.sends == [20]
    assert isinstance(results[7], BatchEntryError) and results[7].code == "InvalidParameterValue"
    sent = [r for r in results if isinstance(r, SendResult)]
    assert len(sent) == 19 and len({r.message_id for r in sent}) == 19
    received = await backend.receive("b", max_messages=50, wait_seconds=0)
    assert sorted(m.body for m in received) == sorted(f"m{i}" for i in range(20) if i != 7)
    handles = [m.receipt_handle for m in received] + ["not-a-handle"]
    failures = await asyncio.gather(*(batcher.delete("b", handle) for handle in handles))
    assert recording.deletes == [20]
    assert failures[:-1] == [None] * 19
    assert failures[-1] is not None and failures[-1].code == "ReceiptHandleIsInvalid"


async def test_fifo_sends_keep_the_order_they_arrived_in(backend: Backend) -> None:
    await backend.create_queue(QueueSpec("f.fifo", content_based_deduplication=True))
    batcher = Batcher(backend)
    await asyncio.gather(
        *(batcher.send("f.fifo", SendEntry(f"{i}", message_group_id="g")) for i in range(10))
    )
    received = await backend.receive("f.fifo", max_messages=10, wait_seconds=0)
    assert [m.body for m in received] == [str(i) for i in range(10)]


async def test_a_failed_call_fails_every_request_of_the_batch(backend: Backend) -> None:
    batcher = Batcher(backend)
    results = await asyncio.gather(
        *(batcher.send("no-such-queue", SendEntry("x")) for _ in range(3)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["QueueDoesNotExist"] * 3


async def test_sends_to_different_queues_are_separate_calls(backend: Backend) -> None:
    for name in ("q1", "q2"):
        await backend.create_queue(QueueSpec(name))
    recording = Recording(backend)
    batcher = Batcher(recording)  # type: ignore[arg-type]
    await asyncio.gather(*(batcher.send(f"q{1 + i % 2}", SendEntry("x")) for i in range(6)))
    assert sorted(recording.sends) == [3, 3]


async def test_large_bodies_are_split_over_calls(backend: Backend) -> None:
    await backend.create_queue(QueueSpec("big"))
    recording = Recording(backend)
    batcher = Batcher(recording)  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.send("big", SendEntry("x" * 400_000)) for _ in range(5)))
    assert all(isinstance(r, SendResult) for r in results)
    assert recording.sends == [2, 2, 1]  # about 1 MiB of bodies a call


async def test_entries_with_ids_of_their_own_are_numbered_within_the_batch(backend: Backend) -> None:
    await backend.create_queue(QueueSpec("ids"))
    batcher = Batcher(backend)
    entries = [SendEntry("a", id="same"), SendEntry("b", id="same"), SendEntry("c")]
    results = await asyncio.gather(*(batcher.send("ids", entry) for entry in entries))
    assert all(isinstance(r, SendResult) for r in results)
    assert [r.id for r in results] == ["0", "1", "2"]  # type: ignore[union-attr]
    received = await backend.receive("ids", max_messages=10, wait_seconds=0)
    assert sorted(m.body for m in received) == ["a", "b", "c"]

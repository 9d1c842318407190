"""``memory://``: URLs and named stores, and long polls that sleep until woken.

The conformance suite (tests/test_conformance_model.py) checks the semantics; these tests check
what is particular to the in-memory backend: which URLs share a store, and that a waiting
receiver is woken at once by the changes that can make a message receivable (a send, a
visibility change, a delete that unlocks a FIFO group, a queue's deletion), by the clock when a
hidden message becomes visible by itself, from any thread and any event loop, and otherwise
sleeps instead of polling.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from qworker.backend import QueueSpec, ReceivedMessage, SendEntry, VisibilityChange
from qworker.errors import ConfigError, QueueDoesNotExist
from qworker.memory import MemoryBackend, MemoryQueue, drop_store, named_store, store_names
from qworker.memory.store import Store
from qworker.registry import available_schemes, backend_class, open_backend

#: a wake-up must come this fast (generous for a loaded 2-core machine; polling every 5 ms
#: would pass it too, which is what the look counts below are for)
PROMPT = 1.0


class CountingBackend(MemoryBackend):
    """Counts the looks a receive takes at its queue (a polling receive takes many)."""

    looks = 0

    def _receive_now(
        self, q: MemoryQueue, max_messages: int, visibility: float | None, now: int
    ) -> list[ReceivedMessage]:
        self.looks += 1
        return super()._receive_now(q, max_messages, visibility, now)


@pytest.fixture
def store_name() -> Iterator[str]:
    name = f"t-{time.monotonic_ns()}"
    yield name
    drop_store(name)


async def _timed_receive(backend: MemoryBackend, queue: str, wait: float = 10) -> tuple[list[str], float]:
    start = time.monotonic()
    messages = await backend.receive(queue, 10, wait_seconds=wait)
    return [m.body for m in messages], time.monotonic() - start


# -- URLs and named stores ------------------------------------------------------------------


async def test_one_name_one_store_within_the_process(store_name: str) -> None:
    async with open_backend(f"memory://{store_name}") as sender:
        await sender.create_queue(QueueSpec("q"))
        await sender.send("q", [SendEntry("hello")])
    async with open_backend(f"memory://{store_name}") as receiver:  # opened later, on its own
        assert [m.body for m in await receiver.receive("q")] == ["hello"]
        assert receiver.display_url == f"memory://{store_name}"
    async with open_backend(f"memory://{store_name}-other") as other:
        assert await other.list_queues() == []
    drop_store(f"{store_name}-other")


async def test_drop_store_forgets_its_queues(store_name: str) -> None:
    async with open_backend(f"memory://{store_name}") as backend:
        await backend.create_queue(QueueSpec("q"))
    assert store_name in store_names()
    assert drop_store(store_name)
    assert not drop_store(store_name)
    async with open_backend(f"memory://{store_name}") as backend:
        assert await backend.list_queues() == []


def test_memory_url_is_the_default_store_and_private_objects_share_nothing() -> None:
    assert MemoryBackend.from_url("memory://").store is named_store("")
    assert MemoryBackend.from_url("MEMORY://x").store is named_store("x")
    assert MemoryBackend().store is not MemoryBackend().store
    assert MemoryBackend().display_url == "memory://(private)"
    drop_store("x")


@pytest.mark.parametrize(
    "url", ["memory:///abs", "memory://a/b", "memory://x?y=1", "memory://a b", "memory:"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="memory://NAME"):
        MemoryBackend.from_url(url)


def test_registered_like_any_backend_and_has_no_second_connection() -> None:
    assert available_schemes()["memory"] == "qworker.memory:MemoryBackend"
    assert backend_class("memory") is MemoryBackend
    # the visibility heartbeat runs on the worker's loop: a second client in the same process
    # would not survive a blocked loop any better
    assert MemoryBackend().reopened() is None


# -- wake-ups -------------------------------------------------------------------------------


async def test_an_empty_long_poll_sleeps_instead_of_polling() -> None:
    backend = CountingBackend()
    await backend.create_queue(QueueSpec("q"))
    assert await backend.receive("q", wait_seconds=1.0) == []
    assert backend.looks <= 2  # one look, a sleep, one look when the wait ends (5 ms polls: ~200)


async def test_a_send_wakes_a_waiting_receiver_at_once() -> None:
    backend = CountingBackend()
    await backend.create_queue(QueueSpec("q"))
    waiting = asyncio.create_task(_timed_receive(backend, "q"))
    await asyncio.sleep(0.3)
    assert backend.store.wakeups.waiting("q") == 1
    await MemoryBackend(share_with=backend).send("q", [SendEntry("a")])
    bodies, elapsed = await waiting
    assert bodies == ["a"]
    assert elapsed < 0.3 + PROMPT
    assert backend.looks == 2
    assert backend.store.wakeups.waiting("q") == 0


async def test_a_send_from_another_thread_and_loop_wakes_the_receiver() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q"))

    def send_later() -> None:
        time.sleep(0.3)
        asyncio.run(MemoryBackend(share_with=backend).send("q", [SendEntry("from a thread")]))

    thread = threading.Thread(target=send_later)
    thread.start()
    bodies, elapsed = await _timed_receive(backend, "q")
    thread.join()
    assert bodies == ["from a thread"]
    assert elapsed < 0.3 + PROMPT


async def test_a_receiver_in_another_thread_is_woken_by_this_loop() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q"))
    result: list[tuple[list[str], float]] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(_timed_receive(backend, "q"))))
    thread.start()
    while backend.store.wakeups.waiting("q") == 0:
        await asyncio.sleep(0.01)
    sent = time.monotonic()
    await backend.send("q", [SendEntry("to a thread")])
    await asyncio.to_thread(thread.join)
    [(bodies, _)] = result
    assert bodies == ["to a thread"]
    assert time.monotonic() - sent < PROMPT


async def test_visibility_set_to_zero_wakes_a_waiting_receiver() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q", visibility_timeout=30))
    await backend.send("q", [SendEntry("again")])
    [held] = await backend.receive("q")
    waiting = asyncio.create_task(_timed_receive(backend, "q"))
    await asyncio.sleep(0.3)
    assert await backend.change_visibility("q", [VisibilityChange(held.receipt_handle, 0)]) == []
    bodies, elapsed = await waiting
    assert bodies == ["again"]
    assert elapsed < 0.3 + PROMPT


async def test_a_delete_that_unlocks_a_fifo_group_wakes_a_waiting_receiver() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q.fifo", visibility_timeout=30, content_based_deduplication=True))
    await backend.send("q.fifo", [SendEntry(body, message_group_id="g") for body in ("first", "second")])
    [first] = await backend.receive("q.fifo")  # one at a time: "second" waits for the group lock
    waiting = asyncio.create_task(_timed_receive(backend, "q.fifo"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert await backend.delete("q.fifo", [first.receipt_handle]) == []
    bodies, elapsed = await waiting
    assert bodies == ["second"]
    assert elapsed < 0.3 + PROMPT


@pytest.mark.parametrize("hidden_by", ["delay", "visibility timeout"])
async def test_a_message_becoming_visible_by_itself_wakes_the_receiver_on_time(hidden_by: str) -> None:
    backend = CountingBackend()
    await backend.create_queue(QueueSpec("q"))
    if hidden_by == "delay":
        await backend.send("q", [SendEntry("later", delay_seconds=1)])
    else:
        await backend.send("q", [SendEntry("later")])
        await backend.receive("q", visibility_timeout=1)
    looks = backend.looks
    bodies, elapsed = await _timed_receive(backend, "q")
    assert bodies == ["later"]
    assert 0.8 < elapsed < 1 + PROMPT
    assert backend.looks - looks <= 3  # a look, a timed sleep, a look (maybe one more: clock skew)


async def test_deleting_the_queue_ends_its_long_polls() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q"))
    waiting = asyncio.create_task(_timed_receive(backend, "q"))
    await asyncio.sleep(0.2)
    await backend.delete_queue("q")
    with pytest.raises(QueueDoesNotExist):
        await asyncio.wait_for(waiting, PROMPT)


async def test_a_cancelled_receive_leaves_no_waiter_and_takes_nothing() -> None:
    backend = MemoryBackend()
    await backend.create_queue(QueueSpec("q"))
    waiting = asyncio.create_task(backend.receive("q", wait_seconds=10))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert backend.store.wakeups.waiting("q") == 0
    await backend.send("q", [SendEntry("still here")])
    assert [m.body for m in await backend.receive("q")] == ["still here"]


def test_a_store_outlives_event_loops() -> None:
    """pytest makes a loop per test: a store must work on each, and a waiter left by a loop that
    closed must not break the next loop's notifications."""
    store = Store()

    async def leave_a_waiter() -> None:
        with store.lock:
            store.wakeups.register("q")  # never discarded: its loop closes under it

    asyncio.run(leave_a_waiter())

    async def use() -> list[str]:
        backend = MemoryBackend(store=store)
        await backend.create_queue(QueueSpec("q"))
        await backend.send("q", [SendEntry("x")])  # notifies the dead loop's waiter: no error
        return [m.body for m in await backend.receive("q", wait_seconds=1)]

    assert asyncio.run(use()) == ["x"]
    assert asyncio.run(use()) == ["x"]  # a second loop: the second message
    assert len(store.queues["q"].messages) == 2

"""A receive cancelled while it takes messages gives them back at once (worker shutdown, T3).

Without this, messages the backend had already put in flight when the receive was cancelled
would stay hidden for their whole visibility timeout with nobody processing them.
"""

from __future__ import annotations

import asyncio

import pytest

from qworker.backend import Backend, QueueSpec, SendEntry
from qworker.memory import MemoryBackend


async def test_cancelled_receive_gives_its_messages_back(backend: Backend) -> None:
    if isinstance(backend, MemoryBackend):
        pytest.skip("memory:// takes a receive's messages in one step: it cannot be cancelled part-way")
    await backend.create_queue(QueueSpec("q", visibility_timeout=600))
    assert not (await backend.send("q", [SendEntry(f"m{i}") for i in range(20)])).failed
    for _ in range(20):
        task = asyncio.create_task(backend.receive("q", max_messages=10, wait_seconds=0))
        await asyncio.sleep(0)  # the receive has started taking messages
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.give_backs.wait()
        counts = (await backend.get_queue("q")).counts
        assert (counts.visible, counts.in_flight) == (20, 0), "a cancelled receive kept messages hidden"
    got = await backend.receive("q", max_messages=20, wait_seconds=0)
    assert len(got) == 20


async def test_cancelled_long_poll_ends_at_once_and_strands_nothing(backend: Backend) -> None:
    """Issue 13 defect 6 (shutdown within one grace period): a long poll cancelled while it waits
    is over at once instead of after its wait (Redis ends its BLPOP with CLIENT UNBLOCK; it used
    to hold the exit for up to 5 s of waiting for the give-back). A message sent right after, or right as,
    the poll is cancelled stays visible."""
    for i, send_during in enumerate((False, True, False, True)):
        queue = f"q{i}"  # a queue each: the message sent in one round is visible in the next
        await backend.create_queue(QueueSpec(queue, visibility_timeout=600))
        task = asyncio.create_task(backend.receive(queue, max_messages=10, wait_seconds=15))
        await asyncio.sleep(0.3)  # the poll is waiting now
        task.cancel()
        if send_during:
            assert not (await backend.send(queue, [SendEntry("during")])).failed
        with pytest.raises(asyncio.CancelledError):
            await task
        started = asyncio.get_running_loop().time()
        await backend.give_backs.wait(timeout=10)
        assert asyncio.get_running_loop().time() - started < 2, "the cancelled poll waited for its timeout"
        assert not (await backend.send(queue, [SendEntry("after")])).failed
        counts = (await backend.get_queue(queue)).counts
        expected = 2 if send_during else 1
        assert (counts.visible, counts.in_flight) == (expected, 0), "a cancelled long poll kept a message"

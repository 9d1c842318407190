"""A receive cancelled while it takes messages gives them back at once (worker shutdown, T3).

Without this, messages the backend had already put in flight when the receive was cancelled
would stay hidden for their whole visibility timeout with nobody processing them.
"""

from __future__ import annotations

import asyncio

import pytest

from qworker.backend import Backend, QueueSpec, SendEntry, given_back


async def test_cancelled_receive_gives_its_messages_back(backend: Backend) -> None:
    await backend.create_queue(QueueSpec("q", visibility_timeout=600))
    assert not (await backend.send("q", [SendEntry(f"m{i}") for i in range(20)])).failed
    for _ in range(20):
        task = asyncio.create_task(backend.receive("q", max_messages=10, wait_seconds=0))
        await asyncio.sleep(0)  # the receive has started taking messages
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await given_back()
        counts = (await backend.get_queue("q")).counts
        assert (counts.visible, counts.in_flight) == (20, 0), "a cancelled receive kept messages hidden"
    got = await backend.receive("q", max_messages=20, wait_seconds=0)
    assert len(got) == 20

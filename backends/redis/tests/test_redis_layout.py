"""Key layout (hash tags, KEDA list), long polling without busy loops, lease exclusivity (T21)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qworker.backend import QueueSpec, RedrivePolicy, SendEntry
from qworker_redis import RedisBackend
from qworker_redis.keys import QUEUE_KEY_SUFFIXES
from qworker_redis.testing import RedisServer


@pytest.fixture
async def backend(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    async with RedisBackend(redis_server.url) as backend:
        yield backend


def name(prefix: str = "lay") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_all_keys_of_a_queue_and_its_dlq_share_one_slot(cluster_url: str) -> None:
    """Cluster: a queue's keys carry one hash tag; a source adopts its DLQ's tag (chains too)."""
    async with RedisBackend(cluster_url) as backend:
        dlq, middle, source = name("dlq"), name("mid"), name("src")
        await backend.create_queue(QueueSpec(dlq))
        await backend.create_queue(QueueSpec(middle, redrive_policy=RedrivePolicy(dlq, 3)))
        await backend.create_queue(QueueSpec(source, redrive_policy=RedrivePolicy(middle, 3)))
        keys = [k for q in (dlq, middle, source) for k in backend._refs[q].keys.all]
        assert len(keys) == 3 * len(QUEUE_KEY_SUFFIXES)
        assert all(f"{{{dlq}}}".encode() in k for k in keys)
        client = backend._require()
        node = client.get_random_node()
        slots = {await client.execute_command("CLUSTER", "KEYSLOT", k, target_nodes=node) for k in keys}
        assert len(slots) == 1


async def test_keda_counts_the_ready_list_with_llen(backend: RedisBackend) -> None:
    """STYLE 2.4: a standard queue's visible backlog is LLEN of one documented key."""
    queue = name()
    await backend.create_queue(QueueSpec(queue))
    await backend.send(queue, [SendEntry(f"m{i}") for i in range(7)])
    await backend.receive(queue, max_messages=2, wait_seconds=0)
    key = backend.ready_list_key(queue)
    assert key == f"qworker:{{{queue}}}:{queue}:ready"
    assert await backend._call("LLEN", key) == 5 == (await backend.get_queue(queue)).counts.visible


async def commandstats(backend: RedisBackend) -> dict[str, int]:
    info = await backend._call("INFO", "commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in info.items()}


async def test_idle_long_poll_sends_next_to_no_traffic(redis_server: RedisServer) -> None:
    """SQS-R-1, T17: a receiver waiting on an empty queue blocks in Redis instead of polling."""
    async with RedisBackend(redis_server.url) as backend, RedisBackend(redis_server.url) as observer:
        queue = name()
        await backend.create_queue(QueueSpec(queue))
        await backend.receive(queue, wait_seconds=0)  # warm the caches
        before = await commandstats(observer)
        assert await backend.receive(queue, max_messages=10, wait_seconds=1.5) == []
        after = await commandstats(observer)
    used = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    # (commandstats also counts the commands scripts run; the client sent only these)
    assert used.get("evalsha", 0) <= 2 and 1 <= used.get("blpop", 0) <= 2, used


async def test_one_send_wakes_every_waiting_receiver_it_can_serve(backend: RedisBackend) -> None:
    """SQS-R-1: waiters hand the wake-up on while messages remain, so all of them are served."""
    queue = name()
    await backend.create_queue(QueueSpec(queue))
    waiters = [asyncio.create_task(backend.receive(queue, max_messages=1, wait_seconds=10)) for _ in range(4)]
    await asyncio.sleep(0.2)
    await backend.send(queue, [SendEntry(f"m{i}") for i in range(4)])
    results = await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
    assert sorted(m.body for got in results for m in got) == ["m0", "m1", "m2", "m3"]


async def test_lease_exclusivity_under_concurrent_receivers(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T21: with many receivers and a tiny visibility timeout every receive increments the
    count exactly once: no (message, count) pair is handed out twice, and none is skipped."""

    async def every_message_taken(messages: list[Any], *_: object) -> list[Any]:
        # a reply later than 20 ms (a loaded machine) makes the client drop what it took (T11),
        # which leaves a gap in the counts; this test is about what the script hands out
        return messages

    monkeypatch.setattr("qworker_redis.receive.still_held", every_message_taken)
    queue = name()
    seen: list[tuple[str, int]] = []
    async with RedisBackend(redis_server.url) as backend:
        await backend.create_queue(QueueSpec(queue, visibility_timeout=0.02))
        await backend.send(queue, [SendEntry(f"m{i}") for i in range(200)])

        async def worker() -> None:
            for _ in range(30):
                got = await backend.receive(queue, max_messages=5, wait_seconds=0.05)
                seen.extend((m.message_id, m.receive_count) for m in got)

        await asyncio.gather(*(worker() for _ in range(16)))
    assert len(seen) > 200
    assert len(seen) == len(set(seen))
    by_message: dict[str, list[int]] = {}
    for message_id, count in seen:
        by_message.setdefault(message_id, []).append(count)
    bad = {m: c for m, c in by_message.items() if sorted(c) != list(range(1, len(c) + 1))}
    assert not bad


async def test_recreated_queue_invalidates_cached_state(redis_server: RedisServer) -> None:
    """Another process deletes and recreates a queue: old receipt handles are invalid, and this
    process's cached registration is refreshed on the next call."""
    queue = name()
    async with RedisBackend(redis_server.url) as a, RedisBackend(redis_server.url) as b:
        await a.create_queue(QueueSpec(queue))
        await a.send(queue, [SendEntry("old")])
        (old,) = await a.receive(queue, wait_seconds=0)
        await b.delete_queue(queue)
        await b.create_queue(QueueSpec(queue, visibility_timeout=5))
        await a.send(queue, [SendEntry("new")])
        (failure,) = await a.delete(queue, [old.receipt_handle])
        assert failure.code == "ReceiptHandleIsInvalid"
        assert (await a.get_queue(queue)).spec.visibility_timeout == 5
        assert [m.body for m in await b.receive(queue, wait_seconds=0)] == ["new"]

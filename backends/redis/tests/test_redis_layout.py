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

    monkeypatch.setattr("qworker_redis.backend.still_held", every_message_taken)
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


class Clock:
    """A clock offset (seconds) the backend adds to Redis's TIME; tests move it forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return self.offset


async def test_retention_log_keeps_short_lived_messages_out_of_the_expiry_zset(
    redis_server: RedisServer,
) -> None:
    """SQS-L-3 (keys.py, retention log): messages deleted within 10 s never reach the expiry
    ZSET and leave the log at the next sweep; survivors move into it with their exact deadline."""
    clock = Clock()
    async with RedisBackend(redis_server.url, clock_offset=clock) as backend:
        queue = name("rlog")
        await backend.create_queue(QueueSpec(queue, message_retention_period=120, visibility_timeout=600))
        await backend.send(queue, [SendEntry(f"m{i}") for i in range(50)])
        keys = backend._refs[queue].keys
        rlog, expiry = keys.key("rlog"), keys.key("expiry")
        assert await backend._call("LLEN", rlog) == 50
        assert await backend._call("ZCARD", expiry) == 0
        got = await backend.receive(queue, max_messages=40, wait_seconds=0)
        assert await backend.delete(queue, [m.receipt_handle for m in got]) == []
        assert await backend._call("LLEN", rlog) == 50  # a delete does no retention work
        clock.offset = 11
        assert (await backend.get_queue(queue)).counts.visible == 10  # counts sweep the log
        assert await backend._call("LLEN", rlog) == 0
        flat = await backend._call("ZRANGE", expiry, 0, -1, "WITHSCORES")
        survivors = dict(zip(flat[0::2], flat[1::2], strict=True))
        assert len(survivors) == 10
        sent = {m.message_id: int(m.attributes["SentTimestamp"]) for m in await backend.peek(queue, 10)}
        assert {member.decode(): int(score) for member, score in survivors.items()} == {
            message_id: ms + 120_000 for message_id, ms in sent.items()
        }
        clock.offset = 121
        assert (await backend.get_queue(queue)).counts.visible == 0
        assert await backend._call("ZCARD", expiry) == 0
        assert await backend._call("HLEN", keys.key("msgs")) == 0


async def test_retention_expires_young_and_old_messages_on_receive(redis_server: RedisServer) -> None:
    """SQS-L-3: a receive never returns a message past retention, whether its deadline sits in
    the retention log (never swept) or in the expiry ZSET, and it deletes both."""
    clock = Clock()
    async with RedisBackend(redis_server.url, clock_offset=clock) as backend:
        queue = name("rlog")
        await backend.create_queue(QueueSpec(queue, message_retention_period=60))
        await backend.send(queue, [SendEntry("first")])
        clock.offset = 20
        assert (await backend.get_queue(queue)).counts.visible == 1  # "first" moves to the ZSET
        await backend.send(queue, [SendEntry("second")])
        clock.offset = 61
        await backend.send(queue, [SendEntry("third")])
        clock.offset = 85  # "first" (0 s) and "second" (20 s) are past 60 s; "third" is not
        got = await backend.receive(queue, max_messages=10, wait_seconds=0)
        assert [m.body for m in got] == ["third"]
        keys = backend._refs[queue].keys
        assert await backend._call("HLEN", keys.key("msgs")) == 2  # "third": envelope + state


async def test_peek_shows_old_then_young_messages_in_send_order(redis_server: RedisServer) -> None:
    """peek: messages from the expiry ZSET (older than 10 s) come before the retention log's."""
    clock = Clock()
    async with RedisBackend(redis_server.url, clock_offset=clock) as backend:
        queue = name("rlog")
        await backend.create_queue(QueueSpec(queue))
        await backend.send(queue, [SendEntry(f"old{i}") for i in range(3)])
        clock.offset = 11
        await backend.get_queue(queue)  # sweeps the three into the expiry ZSET
        await backend.send(queue, [SendEntry(f"young{i}") for i in range(3)])
        got = await backend.receive(queue, wait_seconds=0)
        await backend.delete(queue, [m.receipt_handle for m in got])
        bodies = [m.body for m in await backend.peek(queue, 10)]
        order = ("old0", "old1", "old2", "young0", "young1", "young2")
        assert bodies == [b for b in order if b != got[0].body]


async def test_receive_never_delivers_past_retention_while_the_sweep_is_behind(
    redis_server: RedisServer,
) -> None:
    """SQS-L-3: a receive sweeps only a few retention-log entries per call (the work of a backlog
    is shared), so it checks each message's SentTimestamp as it delivers it."""
    clock = Clock()
    async with RedisBackend(redis_server.url, clock_offset=clock) as backend:
        queue = name("rlog")
        await backend.create_queue(QueueSpec(queue, message_retention_period=60))
        await backend.send(queue, [SendEntry(f"filler{i}") for i in range(50)])
        fillers = await backend.receive(queue, max_messages=50, wait_seconds=0)
        assert await backend.delete(queue, [m.receipt_handle for m in fillers]) == []
        await backend.send(queue, [SendEntry("old")])  # behind 50 log entries of deleted messages
        clock.offset = 61
        assert await backend.receive(queue, max_messages=1, wait_seconds=0) == []
        keys = backend._refs[queue].keys
        assert await backend._call("HLEN", keys.key("msgs")) == 0
        assert await backend._call("LLEN", keys.key("rlog")) > 0  # the sweep had not reached it

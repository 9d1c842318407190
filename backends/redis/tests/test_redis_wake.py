"""The sweep bound 'wake' (lua/includes/base.lua): a receive sweeps retention, due delayed
messages and expired visibility timeouts only once the clock reaches the queue's meta field
'wake', so that field must never be later than the time any entry of the delayed, in-flight or
expiry sets falls due. Every script that adds such an entry keeps it there; these tests check
the bound after each step of a random mix of operations on a moving clock, and that a shorter
visibility timeout set after a receive is honoured before the sweep would otherwise run."""

from __future__ import annotations

import dataclasses
import random
import time
import uuid

import pytest

from qworker.backend import QueueSpec, SendEntry, VisibilityChange
from qworker.testing.conformance import OffsetClock
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer


async def assert_bound_holds(backend: RedisBackend, queue: str, step: str) -> None:
    """wake <= the first due time of each of the three sets (an expiry entry's is score + xshift)."""
    keys = (await backend._core.ref(queue)).keys
    wake, shift = await backend._call("HMGET", keys.key("meta"), "wake", "xshift")
    if wake is None:
        return  # absent: the next receive sweeps
    bound = int(wake)
    for part, moved in (("delayed", 0), ("inflight", 0), ("expiry", int(shift or 0))):
        first = await backend._call("ZRANGE", keys.key(part), 0, 0, "WITHSCORES")
        if first:
            due = float(first[0][1] if isinstance(first[0], list | tuple) else first[1]) + moved
            assert bound <= due, f"after {step}: wake {bound} is later than a {part} entry due at {due}"


@pytest.mark.parametrize("fifo", [False, True])
async def test_wake_never_passes_a_due_entry(redis_server: RedisServer, fifo: bool) -> None:
    clock = OffsetClock()
    rng = random.Random(17 + fifo)
    name = f"wake-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")
    spec = QueueSpec(name, visibility_timeout=5, content_based_deduplication=fifo)
    async with RedisBackend(redis_server.url, clock_offset=lambda: clock.offset) as backend:
        await backend.create_queue(spec)
        held: list[str] = []
        for i in range(150):
            op = rng.choice(("send", "send", "receive", "receive", "change", "delete", "configure", "tick"))
            if op == "send":
                delay = None if fifo else rng.choice((None, 0, 1, 3))
                group = {"message_group_id": f"g{rng.randrange(3)}"} if fifo else {}
                await backend.send(name, [SendEntry(f"m{i}", delay_seconds=delay, **group)])
            elif op == "receive":
                vt = rng.choice((None, 0, 0.3, 2))
                got = await backend.receive(name, rng.randint(1, 4), wait_seconds=0, visibility_timeout=vt)
                held += [m.receipt_handle for m in got]
            elif op == "change" and held:
                handle = held.pop(rng.randrange(len(held)))
                await backend.change_visibility(name, [VisibilityChange(handle, rng.choice((0, 0.2, 1, 4)))])
            elif op == "delete" and held:
                await backend.delete(name, [held.pop(rng.randrange(len(held)))])
            elif op == "configure":
                spec = dataclasses.replace(
                    spec,
                    message_retention_period=rng.choice((60, 120, 345600)),
                    delay_seconds=rng.choice((0, 1)),
                )
                await backend.set_queue_attributes(name, spec)
            else:
                clock.advance(rng.choice((0.1, 0.5, 1.5, 70)))
            await assert_bound_holds(backend, name, f"step {i} ({op})")
        await backend.delete_queue(name)


async def test_a_shorter_visibility_timeout_is_honoured_before_the_next_sweep(
    redis_server: RedisServer,
) -> None:
    """A receive leaves 'wake' up to a second ahead; change_visibility must pull it in."""
    frozen = time.time()
    step = [0.0]
    name = f"wake-cv-{uuid.uuid4().hex[:8]}"
    async with RedisBackend(redis_server.url, clock_offset=lambda: frozen + step[0] - time.time()) as backend:
        await backend.create_queue(QueueSpec(name, visibility_timeout=600))
        await backend.send(name, [SendEntry("a")])
        (message,) = await backend.receive(name, wait_seconds=0)  # sweeps, wake = now + 1 s
        assert await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, 0.3)]) == []
        step[0] = 0.6  # past the new deadline, before the sweep the receive scheduled
        again = await backend.receive(name, wait_seconds=0)
        assert [m.body for m in again] == ["a"]
        await backend.delete_queue(name)

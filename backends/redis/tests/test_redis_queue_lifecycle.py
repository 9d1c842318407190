"""Queue deletion and creation racing each other (issue #13): a delete of one incarnation never
removes a later incarnation's messages, and ``list_queues`` and ``get_queue`` agree throughout.

The deterministic tests pause one backend just before each of its Redis round trips in turn
(every call goes through the transport's ``retrying``) and run the interfering operations there, so
every interleaving of the paused operation's steps with the others is tried. The concurrent tests
run deleters, creators, senders and observers at once against one queue name.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import msgpack
import pytest

from qworker.backend import QueueSpec, SendEntry
from qworker.errors import QueueDoesNotExist
from qworker_redis import RedisBackend

SPEC_ARGS: dict[str, Any] = {"visibility_timeout": 30}


@pytest.fixture(params=["node", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    """A fresh key prefix on the session's single node, or on its 3-node cluster."""
    prefix = f"lc{uuid.uuid4().hex[:8]}"
    if request.param == "node":
        return f"{request.getfixturevalue('redis_server').url}?prefix={prefix}"
    return f"{request.getfixturevalue('cluster_url')}?prefix={prefix}"


@pytest.fixture
async def backends(url: str) -> AsyncIterator[Callable[[], Awaitable[RedisBackend]]]:
    """A factory of connected backends (each with its own cache of queue registrations)."""
    async with AsyncExitStack() as stack:

        async def make() -> RedisBackend:
            return await stack.enter_async_context(RedisBackend(url))

        yield make


async def paused_at(
    backend: RedisBackend, step: int, operation: Awaitable[Any], meanwhile: Callable[[], Awaitable[None]]
) -> tuple[int, BaseException | None]:
    """Run ``operation`` on ``backend``, awaiting ``meanwhile()`` just before its ``step``-th
    Redis round trip (0-based; a step past the last never pauses). Returns the number of round
    trips the operation made and the exception it raised, if any."""
    transport = backend._transport
    original = transport.retrying
    made = 0

    async def hooked(call: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal made
        if made == step:
            await meanwhile()
        made += 1
        return await original(call)

    transport.retrying = hooked  # type: ignore[method-assign]
    try:
        await operation
    except QueueDoesNotExist as exc:
        return made, exc
    finally:
        del transport.retrying
    return made, None


async def exists(backend: RedisBackend, queue: str) -> bool:
    try:
        await backend.get_queue(queue)
    except QueueDoesNotExist:
        return False
    return True


async def assert_agree(queue: str, *observers: RedisBackend) -> bool:
    """Every observer's list_queues and get_queue say the same about ``queue``; returns it."""
    seen = set()
    for observer in observers:
        listed = queue in await observer.list_queues()
        found = await exists(observer, queue)
        assert listed == found, f"list_queues says {listed}, get_queue says {found}"
        seen.add(found)
    assert len(seen) == 1, "observers disagree"
    return seen.pop()


async def drain(backend: RedisBackend, queue: str) -> set[str]:
    got: set[str] = set()
    while True:
        batch = await backend.receive(queue, max_messages=10, wait_seconds=0)
        if not batch:
            return got
        got.update(m.body for m in batch)
        await backend.delete(queue, [m.receipt_handle for m in batch])


async def test_delete_racing_a_recreate_and_send_keeps_the_acknowledged_message(
    backends: Callable[[], Awaitable[RedisBackend]],
) -> None:
    """The issue #13 defect: the delete of incarnation A paused before each of its round trips
    while another client re-creates the queue and sends to it. The acknowledged message must
    survive whenever it went to an incarnation the delete did not mean to delete, and the queue
    must exist or not consistently for every client, during the pause and afterwards."""
    deleter, other, observer = await backends(), await backends(), await backends()
    queue = f"race-{uuid.uuid4().hex[:8]}"
    spec = QueueSpec(queue, **SPEC_ARGS)

    async def nothing() -> None:
        return None

    # dry runs load the scripts on the queue's node, then count the delete's round trips
    for _ in range(2):
        await deleter.create_queue(spec)
        await deleter.send(queue, [SendEntry("warm")])
        steps, _ = await paused_at(deleter, -1, deleter.delete_queue(queue), nothing)
    assert steps >= 1 and not await exists(observer, queue)

    for step in range(steps + 1):
        await deleter.create_queue(spec)
        await deleter.get_queue(queue)
        doomed = deleter._refs[queue].inc  # the incarnation the delete is about to delete
        body = f"acked-during-step-{step}"
        sent_to: list[str] = []

        async def recreate_and_send(body: str = body, sent_to: list[str] = sent_to) -> None:
            await other.create_queue(spec)
            result = await other.send(queue, [SendEntry(body)])
            assert len(result.successful) == 1
            sent_to.append(other._refs[queue].inc)
            await assert_agree(queue, observer, other)

        made, error = await paused_at(deleter, step, deleter.delete_queue(queue), recreate_and_send)
        assert error is None, f"step {step}: the delete found no queue"
        assert made > step or step == steps, f"step {step}: the delete made only {made} round trips"
        if made <= step:  # past the delete's last round trip: interfere after it
            await recreate_and_send()
        assert len(sent_to) == 1
        if sent_to[0] != doomed:
            # the send was acknowledged by a newer incarnation: the delete of `doomed` must not
            # have touched it
            assert await exists(observer, queue), (
                f"step {step}: the re-created queue vanished with its acknowledged send"
            )
        alive = await assert_agree(queue, observer, other, deleter)
        if alive:
            assert await drain(observer, queue) == {body}, f"step {step}: acknowledged send lost"
            await observer.delete_queue(queue)
        assert not await assert_agree(queue, observer, other, deleter)


async def test_create_paused_at_each_step_while_the_queue_is_observed_and_deleted(
    backends: Callable[[], Awaitable[RedisBackend]],
) -> None:
    """A create paused before each of its round trips: other clients see it consistently (listed
    iff it answers), a delete there wins or loses cleanly, and what the creator then sends is
    either refused or received."""
    creator, other, observer = await backends(), await backends(), await backends()
    queue = f"mk-{uuid.uuid4().hex[:8]}"
    spec = QueueSpec(queue, **SPEC_ARGS)

    async def nothing() -> None:
        return None

    for _ in range(2):  # dry runs: load the scripts, then count the create's round trips
        steps, _ = await paused_at(creator, -1, creator.create_queue(spec), nothing)
        await creator.delete_queue(queue)
    for step in range(steps + 1):

        async def observe_and_delete() -> None:
            if await assert_agree(queue, observer, other):
                await other.delete_queue(queue)
            assert not await assert_agree(queue, observer, other)

        await paused_at(creator, step, creator.create_queue(spec), observe_and_delete)
        # the creator sends at once, with the registration its create left in its cache
        try:
            await creator.send(queue, [SendEntry("after")])
        except QueueDoesNotExist:
            assert not await assert_agree(queue, observer, other, creator), (
                f"step {step}: the queue is listed but refuses sends"
            )
            continue
        assert await assert_agree(queue, observer, other, creator), (
            f"step {step}: an acknowledged send went to a queue nobody can see"
        )
        assert await drain(observer, queue) == {"after"}
        await observer.delete_queue(queue)


def registered_inc(raw: bytes | None) -> str | None:
    return None if raw is None else msgpack.unpackb(raw, raw=False)["inc"]


@pytest.mark.slow
async def test_concurrent_deletes_creates_and_sends(
    url: str, backends: Callable[[], Awaitable[RedisBackend]]
) -> None:
    """Deleters, creators and senders hammer one queue name for a few seconds while an observer
    checks that the registry and the queue agree. At the end the surviving incarnation holds
    exactly the sends it acknowledged, and nothing else."""
    queue = f"storm-{uuid.uuid4().hex[:8]}"
    spec = QueueSpec(queue, **SPEC_ARGS)
    stop = asyncio.Event()
    acked: dict[str, str] = {}  # body -> incarnation that acknowledged it
    violations: list[str] = []
    checks = deleted = 0
    observer = await backends()
    registry = observer._core.registry
    single_node = not observer._cluster

    async def deleter(rng: random.Random) -> None:
        nonlocal deleted
        backend = await backends()
        while not stop.is_set():
            try:
                await backend.delete_queue(queue)
                deleted += 1
            except QueueDoesNotExist:
                pass
            await asyncio.sleep(rng.random() * 0.01)

    async def creator(rng: random.Random) -> None:
        backend = await backends()
        while not stop.is_set():
            await backend.create_queue(spec)
            await asyncio.sleep(rng.random() * 0.01)

    async def sender(n: int) -> None:
        backend = await backends()
        i = 0
        while not stop.is_set():
            body = f"s{n}-{i}"
            i += 1
            try:
                result = await backend.send(queue, [SendEntry(body)])
            except QueueDoesNotExist:
                await asyncio.sleep(0.001)
                continue
            assert len(result.successful) == 1
            acked[body] = backend._refs[queue].inc

    async def observe() -> None:
        nonlocal checks
        client = observer._require()
        while not stop.is_set():
            before = registered_inc(await client.execute_command("HGET", registry, queue))
            found = await exists(observer, queue)
            found_inc = observer._refs[queue].inc if found else None
            after = registered_inc(await client.execute_command("HGET", registry, queue))
            checks += 1
            if before is not None and before == after and found_inc != before:
                # incarnations are never reused: the registry named `before` all along
                violations.append(f"registry said {before} throughout, get_queue found {found_inc}")
            if single_node and observer._refs.get(queue) is not None:
                # one atomic look at the registry entry and the queue's meta
                meta = observer._refs[queue].keys.key("meta")
                pipe = client.pipeline(transaction=True)
                pipe.hget(registry, queue)
                pipe.hget(meta, "inc")
                raw, inc = await pipe.execute()
                if registered_inc(raw) != (inc.decode() if inc else None):
                    violations.append(f"registry {registered_inc(raw)} but meta {inc!r}")

    rng = random.Random(13)
    tasks = [
        *(asyncio.create_task(deleter(random.Random(rng.random()))) for _ in range(2)),
        *(asyncio.create_task(creator(random.Random(rng.random()))) for _ in range(2)),
        *(asyncio.create_task(sender(n)) for n in range(2)),
        asyncio.create_task(observe()),
    ]
    await asyncio.sleep(4)
    stop.set()
    await asyncio.gather(*tasks)
    print(f"{deleted} deletes, {len(acked)} sends acknowledged, {checks} checks")
    assert checks > 50 and len(acked) > 50 and deleted > 20
    assert not violations, violations[:5]

    final_backend = await backends()
    await final_backend.create_queue(spec)
    final = final_backend._refs[queue].inc
    expected = {body for body, inc in acked.items() if inc == final}
    assert await drain(final_backend, queue) == expected

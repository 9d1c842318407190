"""SetQueueAttributes on Redis: no client acts on a stale spec, and a RedrivePolicy set later
reaches a dead-letter queue in another hash slot of a Redis Cluster (leased, copied, deleted:
at-least-once, never lost). The SQS behaviour itself is checked by the conformance suite; these
tests look at how the Redis backend gets there (see qworker_redis.keys)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.crc import key_slot

from qworker.backend import FailureNote, QueueSpec, RedrivePolicy, SendEntry, VisibilityChange
from qworker.errors import BackendUnavailable
from qworker.testing.conformance import OffsetClock
from qworker_redis import RedisBackend, acks
from qworker_redis.keys import QueueKeys
from qworker_redis.testing import RedisServer


def name(prefix: str, fifo: bool = False) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")


def apart(fifo: bool = False) -> tuple[str, str]:
    """A queue and a DLQ name whose keys are in different hash slots of a cluster."""
    while True:
        queue, dlq = name("src", fifo), name("dlq", fifo)
        if key_slot(QueueKeys.build(queue, queue).all[0]) != key_slot(QueueKeys.build(dlq, dlq).all[0]):
            return queue, dlq


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(params=["node", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    prefix = f"qa{uuid.uuid4().hex[:8]}"
    if request.param == "node":
        return f"{request.getfixturevalue('redis_server').url}?prefix={prefix}"
    return f"{request.getfixturevalue('cluster_url')}?prefix={prefix}"


@pytest.fixture
async def cluster(cluster_url: str, clock: OffsetClock) -> AsyncIterator[RedisBackend]:
    async with RedisBackend(cluster_url, clock_offset=lambda: clock.offset) as backend:
        yield backend


async def release(backend: RedisBackend, queue: str, handle: str) -> None:
    assert await backend.change_visibility(queue, [VisibilityChange(handle, 0)]) == []


async def test_a_client_behind_adopts_the_new_spec_from_the_script_reply(url: str) -> None:
    """A second client's cached spec is one revision behind after the first changes the queue:
    its next send is refused by the script (nothing sent), validated again and sent; the new
    spec is cached from the reply, without a registry read."""
    queue = name("rev")
    async with RedisBackend(url) as a, RedisBackend(url) as b:
        await a.create_queue(QueueSpec(queue))
        await b.send(queue, [SendEntry("warm")])
        assert b._refs[queue].rev == "0"
        await a.set_queue_attributes(queue, QueueSpec(queue, maximum_message_size=1024))
        reads: list[Any] = []
        original = b._call

        async def counting(*args: Any, **kwargs: Any) -> Any:
            reads.append(args[0])
            return await original(*args, **kwargs)

        b._call = counting  # type: ignore[method-assign]
        result = await b.send(queue, [SendEntry("x" * 2000), SendEntry("ok")])
        assert [f.code for f in result.failed] == ["InvalidParameterValue"]
        assert len(result.successful) == 1
        assert b._refs[queue].rev == "1"
        assert b._refs[queue].spec.maximum_message_size == 1024
        assert "HGET" not in reads  # the registry was not read again
        assert (await b.get_queue(queue)).counts.visible == 2


async def test_get_queue_returns_the_new_spec_to_a_client_behind(url: str) -> None:
    queue = name("rev")
    async with RedisBackend(url) as a, RedisBackend(url) as b:
        await a.create_queue(QueueSpec(queue))
        assert (await b.get_queue(queue)).spec == QueueSpec(queue)
        changed = QueueSpec(queue, visibility_timeout=7, extra_attributes=(("SqsManagedSseEnabled", "true"),))
        await a.set_queue_attributes(queue, changed)
        assert (await b.get_queue(queue)).spec == changed
        await a.set_queue_attributes(queue, QueueSpec(queue))  # back to the creation spec
        assert (await b.get_queue(queue)).spec == QueueSpec(queue)
        assert b._refs[queue].rev == "2"


async def test_single_node_dlq_of_another_tag_is_moved_atomically(redis_server: RedisServer) -> None:
    """On a single node a RedrivePolicy set later keeps the atomic move (any key in a script),
    with the DLQ's own keys."""
    queue, dlq = name("src"), name("dlq")
    async with RedisBackend(redis_server.url) as backend:
        await backend.create_queue(QueueSpec(dlq))
        await backend.create_queue(QueueSpec(queue))
        await backend.set_queue_attributes(queue, QueueSpec(queue, redrive_policy=RedrivePolicy(dlq, 1)))
        ref = backend._refs[queue]
        assert ref.dlq_mode == "a"
        assert ref.dlq_keys == backend._refs[dlq].keys
        await backend.send(queue, [SendEntry("poison")])
        (message,) = await backend.receive(queue)
        await release(backend, queue, message.receipt_handle)
        assert await backend.receive(queue) == []
        (dead,) = await backend.receive(dlq)
        assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(queue)


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_cluster_dlq_in_another_slot_gets_the_message_with_everything(
    cluster: RedisBackend, fifo: bool
) -> None:
    """Redis Cluster, a DLQ in another hash slot: the poison message is moved by the client
    (lease, copy, delete) with what the atomic move keeps: id, body, attributes, receive count,
    first receive, DeadLetterQueueSourceArn, the last error; FIFO: its group, and the group's
    next message is delivered after it (ESM-DLQ-2/4/5)."""
    queue, dlq = apart(fifo)
    backend = cluster
    await backend.create_queue(QueueSpec(dlq))
    await backend.create_queue(QueueSpec(queue))
    await backend.set_queue_attributes(queue, QueueSpec(queue, redrive_policy=RedrivePolicy(dlq, 2)))
    assert backend._refs[queue].dlq_mode == "r"

    def entry(body: str) -> SendEntry:
        if fifo:
            return SendEntry(body, message_group_id="g", message_deduplication_id=body)
        return SendEntry(body)

    # FIFO: "next" waits behind "poison" in its group; standard: sent once "poison" is poison
    await backend.send(queue, [entry("poison"), entry("next")] if fifo else [entry("poison")])
    first_receive = None
    for expected in (1, 2):
        (message,) = await backend.receive(queue)
        assert (message.body, message.receive_count) == ("poison", expected)
        first_receive = first_receive or message.attributes["ApproximateFirstReceiveTimestamp"]
        await backend.record_failures(queue, [FailureNote(message.receipt_handle, f"boom {expected}")])
        await release(backend, queue, message.receipt_handle)
    if not fifo:
        await backend.send(queue, [entry("next")])
    got = await backend.receive(queue, max_messages=10)
    assert [m.body for m in got] == ["next"]
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight) == (0, 1)
    (dead,) = await backend.receive(dlq, max_messages=10)
    assert (dead.message_id, dead.body, dead.receive_count) == (message.message_id, "poison", 3)
    assert dead.attributes["ApproximateFirstReceiveTimestamp"] == first_receive
    assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(queue)
    if fifo:
        assert dead.message_group_id == "g"
    await release(backend, dlq, dead.receipt_handle)
    (peeked,) = await backend.peek(dlq)
    assert peeked.last_error == "boom 2"


async def test_cluster_dead_letter_move_interrupted_is_finished_later_once(
    cluster: RedisBackend, clock: OffsetClock
) -> None:
    """The client dies between copying a leased poison message into the DLQ and deleting it from
    the source: the lease runs out, the next receive leases it again, the DLQ (which has that
    message id) does not take a second copy, and the source lets go of it."""
    queue, dlq = apart()
    backend = cluster
    await backend.create_queue(QueueSpec(dlq))
    await backend.create_queue(QueueSpec(queue, redrive_policy=None))
    await backend.set_queue_attributes(queue, QueueSpec(queue, redrive_policy=RedrivePolicy(dlq, 1)))
    await backend.send(queue, [SendEntry("poison")])
    (message,) = await backend.receive(queue)
    await release(backend, queue, message.receipt_handle)

    async def dies(*args: Any) -> Any:
        raise BackendUnavailable("the client died here")

    with pytest.MonkeyPatch.context() as patch:  # the delete of the source copy never happens
        patch.setattr(acks, "delete", dies)
        with pytest.raises(BackendUnavailable):
            await backend.receive(queue)
    assert (await backend.get_queue(dlq)).counts.visible == 1
    assert await backend.receive(queue) == []  # still leased
    clock.advance(31)
    assert await backend.receive(queue) == []  # leased again, copy skipped, deleted
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight) == (0, 0)
    assert (await backend.get_queue(dlq)).counts.visible == 1


async def test_cluster_dlq_in_another_slot_deleted_means_delivered(cluster: RedisBackend) -> None:
    """As with the atomic move: while the dead-letter queue does not exist, poison messages are
    delivered (nothing is lost)."""
    queue, dlq = apart()
    backend = cluster
    await backend.create_queue(QueueSpec(dlq))
    await backend.create_queue(QueueSpec(queue))
    await backend.set_queue_attributes(queue, QueueSpec(queue, redrive_policy=RedrivePolicy(dlq, 1)))
    await backend.send(queue, [SendEntry("poison")])
    (message,) = await backend.receive(queue)
    await release(backend, queue, message.receipt_handle)
    await backend.delete_queue(dlq)
    (again,) = await backend.receive(queue, wait_seconds=2)
    assert (again.body, again.receive_count) == ("poison", 2)

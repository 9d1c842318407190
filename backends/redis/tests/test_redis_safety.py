"""Hostile data and hostile clocks: corrupt envelopes are set aside (T16), deadlines come from
Redis's clock so a skewed worker cannot redeliver early (T14)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import msgpack
import pytest
import structlog

from qworker.backend import MessageAttributeValue, QueueSpec, SendEntry, VisibilityChange
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer


@pytest.fixture
async def backend(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    async with RedisBackend(redis_server.url) as backend:
        yield backend


def name(fifo: bool = False) -> str:
    return f"safe-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")


async def msgs_key(backend: RedisBackend, queue: str) -> bytes:
    await backend.get_queue(queue)
    return backend._refs[queue].keys.key("msgs")


async def reasons(backend: RedisBackend, queue: str) -> dict[str, str]:
    """Message id -> reason of the queue's quarantine."""
    return {q.message_id: q.reason for q in await backend.quarantined(queue)}


def nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]


CORRUPTIONS = {
    "not msgpack": b"\xc1\xc1\xc1 written by someone else",
    "deeply nested": nested(100_000),
    "ext type": msgpack.packb(msgpack.ExtType(42, b"boom")),
    "huge map header": b"\xdf\xff\xff\xff\xff",
    "wrong shape": msgpack.packb({"body": "a dict, not our array"}),
    "unknown version": msgpack.packb([2, "b", None, "m", None, None, None, None, "1", None]),
    "wrong field type": msgpack.packb([1, b"bytes body", None, "m", None, None, None, None, "1", None]),
    "pickle": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94.",
}


async def test_corrupt_envelopes_are_quarantined_while_others_flow(backend: RedisBackend) -> None:
    """T16: each undecodable record is set aside with a reason; the good ones are delivered."""
    queue = name()
    await backend.create_queue(QueueSpec(queue, visibility_timeout=600))
    good = [f"good-{i}" for i in range(5)]
    sent = await backend.send(
        queue, [SendEntry(b) for b in good] + [SendEntry(f"victim-{k}") for k in CORRUPTIONS]
    )
    victims = {r.message_id: kind for r, kind in zip(sent.successful[5:], CORRUPTIONS, strict=True)}
    key = await msgs_key(backend, queue)
    for message_id, kind in victims.items():
        await backend._call("HSET", key, message_id, CORRUPTIONS[kind])
    with structlog.testing.capture_logs() as logs:
        got = await backend.receive(queue, max_messages=20, wait_seconds=1)
    assert sorted(m.body for m in got) == good
    quarantined = await reasons(backend, queue)
    assert set(quarantined) == set(victims)
    assert all(reason for reason in quarantined.values())
    logged = {e["message_id"]: e["reason"] for e in logs if e["event"] == "redis.message_quarantined"}
    assert logged == quarantined
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight, counts.quarantined) == (0, 5, len(victims))
    assert backend.quarantine_tally.by_queue == {queue: len(victims)}


async def test_oversize_and_missing_records_are_set_aside_by_the_script(backend: RedisBackend) -> None:
    """T16: the receive script checks the size before anything decodes it; a missing envelope
    or an unreadable state string is set aside too. (A state exists once a message has been
    received, so the messages are received and released first.)"""
    queue = name()
    await backend.create_queue(QueueSpec(queue))
    sent = await backend.send(
        queue, [SendEntry("big"), SendEntry("gone"), SendEntry("bad-state"), SendEntry("ok")]
    )
    big, gone, bad, _ = (r.message_id for r in sent.successful)
    first = await backend.receive(queue, max_messages=10, wait_seconds=0)
    assert len(first) == 4
    release = [VisibilityChange(m.receipt_handle, 0) for m in first]
    assert await backend.change_visibility(queue, release) == []
    ref = backend._refs[queue]
    await backend._call("HSET", ref.keys.key("msgs"), big, b"\x00" * 1_200_000)
    await backend._call("HDEL", ref.keys.key("msgs"), gone)
    await backend._call("HSET", ref.keys.key("msgs"), "~" + gone, "|1|||||")
    await backend._call("HSET", ref.keys.key("msgs"), "~" + bad, "this is not a state")
    got = await backend.receive(queue, max_messages=10, wait_seconds=0)
    assert [m.body for m in got] == ["ok"]
    assert await reasons(backend, queue) == {big: "oversize", gone: "missing-envelope", bad: "bad-state"}
    assert (await backend.get_queue(queue)).counts.quarantined == 3


async def test_corrupt_fifo_head_does_not_block_its_group(backend: RedisBackend) -> None:
    """T16 + SQS-F-2: a corrupt message at the head of a group is set aside; the group moves on."""
    queue = name(fifo=True)
    await backend.create_queue(QueueSpec(queue, content_based_deduplication=True))
    sent = await backend.send(queue, [SendEntry(f"m{i}", message_group_id="g") for i in range(3)])
    key = await msgs_key(backend, queue)
    await backend._call("HSET", key, sent.successful[0].message_id, b"garbage")
    got = await backend.receive(queue, max_messages=10, wait_seconds=0)
    assert [m.body for m in got] == ["m1", "m2"]
    assert list(await reasons(backend, queue)) == [sent.successful[0].message_id]
    assert await backend.delete(queue, [m.receipt_handle for m in got]) == []
    assert (await backend.get_queue(queue)).counts.visible == 0


async def test_a_message_set_aside_for_its_state_is_restored_whole(backend: RedisBackend) -> None:
    """T16: a message the script set aside for an unreadable state string has a good envelope: a
    plain restore puts all of it back (attributes, trace header), with a fresh state."""
    queue = name()
    await backend.create_queue(QueueSpec(queue))
    attributes = {"k": MessageAttributeValue("String", "v")}
    sent = await backend.send(
        queue, [SendEntry("whole", message_attributes=attributes, trace_header="Root=1")]
    )
    victim = sent.successful[0].message_id
    (first,) = await backend.receive(queue, wait_seconds=0)
    assert await backend.change_visibility(queue, [VisibilityChange(first.receipt_handle, 0)]) == []
    await backend._call("HSET", await msgs_key(backend, queue), "~" + victim, "not a state")
    assert await backend.receive(queue, wait_seconds=0) == []
    assert await reasons(backend, queue) == {victim: "bad-state"}
    assert await backend.restore_quarantined(queue, [victim]) == []
    (back,) = await backend.receive(queue, wait_seconds=0)
    assert (back.message_id, back.body, back.message_attributes) == (victim, "whole", attributes)
    assert back.attributes["AWSTraceHeader"] == "Root=1" and back.receive_count == 1


async def test_restore_into_another_hash_slot_copies_then_removes(backend: RedisBackend) -> None:
    """T16: a destination outside the queue's hash slot is filled first and the quarantine entry
    removed after (at-least-once); a second restore of the same id, as after a crash between
    the two steps, is refused with MessageIdInUse instead of enqueueing it twice."""
    queue, other = name(), name()
    await backend.create_queue(QueueSpec(queue))
    await backend.create_queue(QueueSpec(other))
    sent = await backend.send(queue, [SendEntry("moving")])
    victim = sent.successful[0].message_id
    await backend._call("HSET", await msgs_key(backend, queue), victim, b"\xc1 garbage")
    assert await backend.receive(queue, wait_seconds=0) == []
    await backend.get_queue(other)
    assert backend._refs[queue].tag != backend._refs[other].tag
    quarantine_key = backend._refs[queue].keys.key("quarantine")
    kept = await backend._call("HGET", quarantine_key, victim)
    readable = msgpack.packb([1, "moving", None, "m", None, None, None, None, "1", None])
    await backend._call("HSET", quarantine_key, victim + "\0raw", readable)  # as if repaired by hand
    assert await backend.restore_quarantined(queue, [victim], other) == []
    assert await backend.quarantined(queue) == []
    assert (await backend.get_queue(queue)).counts.quarantined == 0
    # as if the removal had not happened (a crash between the two steps): restore again
    await backend._call("HSET", quarantine_key, victim, kept, victim + "\0raw", readable)
    await backend._call("HINCRBY", backend._refs[queue].keys.key("meta"), "qn", 1)
    (again,) = await backend.restore_quarantined(queue, [victim], other)
    assert again.code == "MessageIdInUse"
    (back,) = await backend.receive(other, max_messages=10, wait_seconds=0)
    assert (back.message_id, back.body) == (victim, "moving")


async def test_quarantine_count_of_an_older_queue_is_counted_once(backend: RedisBackend) -> None:
    """T16: the quarantine hash holds one or two fields a message (its raw envelope's); queues
    quarantined into before the count existed get it counted once, from the hash."""
    queue = name()
    await backend.create_queue(QueueSpec(queue))
    sent = await backend.send(queue, [SendEntry(f"m{i}") for i in range(3)])
    key = await msgs_key(backend, queue)
    for result in sent.successful[:2]:
        await backend._call("HSET", key, result.message_id, b"\xc1")
    assert await backend.receive(queue, max_messages=10, wait_seconds=0) != []
    meta = backend._refs[queue].keys.key("meta")
    await backend._call("HDEL", meta, "qn")  # what a queue made by an older qworker has
    assert await backend._call("HLEN", backend._refs[queue].keys.key("quarantine")) == 4
    assert (await backend.get_queue(queue)).counts.quarantined == 2
    assert await backend._call("HGET", meta, "qn") == b"2"
    assert await backend.drop_quarantined(queue, [sent.successful[0].message_id]) == 1
    assert (await backend.get_queue(queue)).counts.quarantined == 1


async def test_skewed_local_clock_cannot_redeliver_early(
    backend: RedisBackend, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T14: a worker whose clock runs an hour ahead (or behind) sees no early redelivery, and
    cannot extend a lease from its own clock: deadlines are Redis TIME + timeout."""
    queue = name()
    await backend.create_queue(QueueSpec(queue, visibility_timeout=1))
    await backend.send(queue, [SendEntry("leased")])
    (first,) = await backend.receive(queue, wait_seconds=0)
    real_time, real_ns = time.time, time.time_ns
    async with RedisBackend(redis_server.url) as skewed:
        for skew in (3600.0, -3600.0):
            monkeypatch.setattr(time, "time", lambda s=skew: real_time() + s)
            monkeypatch.setattr(time, "time_ns", lambda s=skew: real_ns() + int(s * 1e9))
            assert await skewed.receive(queue, max_messages=10, wait_seconds=0) == []
        monkeypatch.undo()
    ref = backend._refs[queue]
    deadline = float(await backend._call("ZSCORE", ref.keys.key("inflight"), first.message_id))
    seconds, micros = await backend._call("TIME")
    redis_now_ms = int(seconds) * 1000 + int(micros) // 1000
    assert 0 < deadline - redis_now_ms <= 1000
    await asyncio.sleep(1.1)
    (again,) = await backend.receive(queue, wait_seconds=2)
    assert (again.message_id, again.receive_count) == (first.message_id, 2)


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
@pytest.mark.parametrize("trace", [None, "Root=1-a-b"], ids=["no-trace", "trace"])
async def test_system_attributes_are_in_lambdas_order(
    backend: RedisBackend, fifo: bool, trace: str | None
) -> None:
    """EVT-4: received attributes come in the order qworker.backend.system_attributes gives, on
    each of the receive path's ways of building them (plain standard, plain FIFO, and with a
    trace header or a dead-letter source)."""
    from qworker.backend import RedrivePolicy, VisibilityChange, system_attributes

    dlq, source = name(fifo=fifo), name(fifo=fifo)
    await backend.create_queue(QueueSpec(dlq))
    await backend.create_queue(QueueSpec(source, redrive_policy=RedrivePolicy(dlq, 1)))
    group = {"message_group_id": "g", "message_deduplication_id": "d"} if fifo else {}
    await backend.send(source, [SendEntry("x", trace_header=trace, **group)])  # type: ignore[arg-type]
    (first,) = await backend.receive(source, wait_seconds=0)
    assert await backend.change_visibility(source, [VisibilityChange(first.receipt_handle, 0)]) == []
    assert await backend.receive(source, wait_seconds=0) == []
    (dead,) = await backend.receive(dlq, wait_seconds=1)
    for message in (first, dead):
        a = message.attributes
        expected = system_attributes(
            receive_count=int(a["ApproximateReceiveCount"]),
            sent_ms=int(a["SentTimestamp"]),
            first_receive_ms=int(a["ApproximateFirstReceiveTimestamp"]),
            sender_id=a["SenderId"],
            sequence_number=a.get("SequenceNumber"),
            group_id=a.get("MessageGroupId"),
            dedup_id=a.get("MessageDeduplicationId"),
            trace_header=trace,
            dead_letter_source_arn=a.get("DeadLetterQueueSourceArn"),
        )
        assert list(a.items()) == list(expected.items())
        assert ("SequenceNumber" in a) is fifo
    assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(source)

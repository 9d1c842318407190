"""ReceiveMessage: ``lua/receive-21.lua`` takes messages and puts them in flight; long polls
block in Redis (BLPOP on the queue's notify list), never in a polling loop.

Two hazards of a receive are guarded against with :mod:`qworker.safe_receive`: a receive
cancelled while its script ran gives what it took back at once, and a reply read late (a paused
worker) is renewed, fenced, before any handler sees it. On Redis Cluster, a dead-letter queue in
another hash slot is fed by the client (:func:`dead_letter_leased`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import structlog

from qworker import limits, randomness
from qworker.backend import BatchEntryError, ReceivedMessage, VisibilityChange
from qworker.errors import InvalidParameterValue, QueueDoesNotExist
from qworker.safe_receive import still_held
from qworker_redis import acks, codec
from qworker_redis.core import Core
from qworker_redis.fastlane import FastLane
from qworker_redis.messages import decode_reply
from qworker_redis.quarantine import set_aside
from qworker_redis.queues import QueueRef
from qworker_redis.scripts import SCRIPTS

log = structlog.get_logger("qworker.redis")

#: Redis Cluster, a DLQ in another hash slot that turned out to be gone: how long receives
#: deliver its poison messages (receive mode 'x') before trying the DLQ again
DLQ_GONE_SECONDS = 5.0


async def receive(
    core: Core,
    queue: str,
    max_messages: int = 1,
    wait_seconds: float | None = None,
    visibility_timeout: float | None = None,
) -> list[ReceivedMessage]:
    """ReceiveMessage: up to ``max_messages``, waiting up to ``wait_seconds`` (the queue's
    ReceiveMessageWaitTimeSeconds when None) for the first; returns as soon as any arrived."""
    limits.check_max_messages(max_messages)
    vt: str | int = ""
    if visibility_timeout is not None:
        error = limits.check_visibility_timeout(visibility_timeout)
        if error is not None:
            raise InvalidParameterValue(error)
        vt = round(visibility_timeout * 1000)
    if wait_seconds is not None and wait_seconds < 0:
        raise InvalidParameterValue(f"wait_seconds must not be negative, not {wait_seconds!r}")
    return await _Receive(core, queue, max_messages, vt).run(wait_seconds)


class _Receive:
    """One ReceiveMessage call: its receipt token, and the steps of its loop."""

    __slots__ = ("core", "max_messages", "queue", "token", "vt")

    def __init__(self, core: Core, queue: str, max_messages: int, vt: str | int) -> None:
        self.core = core
        self.queue = queue
        self.max_messages = max_messages
        self.vt = vt  #: visibility timeout in ms, "" for the queue's
        self.token = randomness.take(8).hex()

    async def run(self, wait_seconds: float | None) -> list[ReceivedMessage]:
        started = sent = time.monotonic()
        ref, reply = await self.once()
        # the queue's default wait, from the spec the script just confirmed current
        wait = ref.spec.receive_wait_time_seconds if wait_seconds is None else wait_seconds
        deadline = started + wait
        while True:
            if len(reply) > 2:
                # poison messages leased to be dead-lettered (cluster, DLQ in another slot) go
                # first, corrupt ones are set aside, and the lease is confirmed still ours
                if ref.dlq_mode == "r":
                    reply = await dead_letter_leased(self.core, ref, reply, self.token)
                if len(reply) > 2:
                    messages, corrupt = decode_reply(ref, reply, self.token)
                    if corrupt:
                        await set_aside(self.core, ref, corrupt, self.token)
                    visibility = ref.spec.visibility_timeout if self.vt == "" else int(self.vt) / 1000
                    messages = await still_held(messages, time.monotonic() - sent, visibility, self.renew)
                    if messages:
                        return messages
                # all of it was poison (moved), corrupt, or is no longer ours: look again at once
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                sent = time.monotonic()
                woken = await self.wait(ref, remaining, reply[1])
                if woken is not None:
                    reply = woken
                    continue
                # an error, a re-created queue, a changed spec: the normal path sorts it out
            sent = time.monotonic()
            ref, reply = await self.once()

    def args(self, ref: QueueRef) -> tuple[Any, ...]:
        mode = ref.dlq_mode
        if mode == "r" and self.core.dlq_gone.get(self.queue, 0.0) > time.monotonic():
            mode = "x"  # its DLQ (another hash slot) is gone: deliver, as a single node does
        return (ref.inc, self.core.offset_ms(), self.max_messages, self.vt, self.token, "r", ref.rev, mode)

    def taken(self, reply: list[Any]) -> list[str]:
        """Receipt handles of what a reply took (to give back when the caller is cancelled)."""
        ref = self.core.refs.get(self.queue)
        inc = ref.inc if ref is not None else ""
        return [f"{inc}:{reply[i].decode()}:{self.token}" for i in range(2, len(reply), 5)]

    async def release(self, handles: Sequence[str]) -> None:
        await acks.release(self.core, self.queue, handles)

    async def renew(self, changes: Sequence[VisibilityChange]) -> list[BatchEntryError]:
        return await acks.change_visibility(self.core, self.queue, changes)

    async def once(self) -> tuple[QueueRef, list[Any]]:
        """One receive script call, its messages given back if the caller is cancelled."""
        return await self.core.give_backs.take(
            self.core.run("receive", self.queue, self.args), lambda rr: self.taken(rr[1]), self.release
        )

    async def wait(self, ref: QueueRef, remaining: float, wake: int) -> list[Any] | None:
        """Long-poll until a send signals, ``remaining`` s pass or (``wake`` ms, -1: never) a
        delayed or in-flight message may be visible, and receive: the receive script's reply
        when it took something, else None."""
        core = self.core
        timeout = remaining if wake < 0 else min(remaining, wake / 1000 + 0.001)
        script = SCRIPTS["receive"]
        keys, head = core.script_call(script, ref)
        waiting: list[FastLane] = []  #: the lane of the long poll, while it waits
        args = self.args(ref)
        poll = core.transport.wait_then_eval(ref.keys.notify, timeout, script, keys, args, head, waiting)
        woken = await core.give_backs.take(
            poll,
            lambda r: self.taken(r) if r is not None and r[0] == 1 else [],
            self.release,
            functools.partial(core.transport.unblock, waiting),
        )
        return woken if woken is not None and woken[0] == 1 else None


#: a leased poison message: id, envelope, receive count, first receive ms, last error
Leased = tuple[str, bytes, int, bytes, bytes]


def _split_leased(reply: list[Any]) -> tuple[list[Any], list[Leased]]:
    """A receive reply without its leased poison messages (negative receive count), and them."""
    keep = reply[:2]
    leased: list[Leased] = []
    for i in range(2, len(reply), 5):
        if reply[i + 2] < 0:
            leased.append((reply[i].decode(), reply[i + 1], -reply[i + 2], reply[i + 3], reply[i + 4]))
        else:
            keep += reply[i : i + 5]
    return keep, leased


async def dead_letter_leased(core: Core, ref: QueueRef, reply: list[Any], token: str) -> list[Any]:
    """Redis Cluster, a DLQ in another hash slot: move the poison messages the receive script
    leased (negative receive count) into the DLQ, then delete them from ``ref``'s queue
    (fenced by the lease: at-least-once); returns the reply without them.

    When the DLQ is gone, the leases are given up (visible again at once) and, for a few
    seconds, receives deliver such messages instead (as the atomic move does without a DLQ).
    """
    keep, leased = _split_leased(reply)
    if not leased:
        return keep
    policy = ref.spec.redrive_policy
    assert policy is not None  # dlq_mode "r" comes from a RedrivePolicy
    moving: list[str] = []
    flat: list[Any] = []
    sent_ms: list[int] = []
    corrupt: list[tuple[str, str]] = []
    for message_id, env, count, first, error in leased:
        envelope = codec.decode(env)
        if type(envelope) is str:
            corrupt.append((message_id, envelope))
            continue
        flat += (message_id, env, count, first, error, envelope.group_id or "")
        sent_ms.append(int(envelope.sent_ms))
        moving.append(f"{ref.inc}:{message_id}:{token}")
    if corrupt:
        await set_aside(core, ref, corrupt, token)
    if not moving:
        return keep
    try:
        await core.run(
            "dead_letter",
            policy.dead_letter_queue,
            lambda d: (d.inc, core.offset_ms(), ref.name, len(moving), *flat, *sent_ms),
        )
    except QueueDoesNotExist:
        core.dlq_gone[ref.name] = time.monotonic() + DLQ_GONE_SECONDS
        log.warning("redis.dead_letter_queue_missing", queue=ref.name, dlq=policy.dead_letter_queue)
        await acks.release(core, ref.name, moving)
        return keep
    for failure in await acks.delete(core, ref.name, moving):  # lease lost: it may now be in both
        log.warning(
            "redis.dead_letter_lease_lost", queue=ref.name, receipt_handle=failure.id, code=failure.code
        )
    return keep

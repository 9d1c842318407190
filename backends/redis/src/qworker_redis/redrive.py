"""Redrive (SQS StartMessageMoveTask, ESM-DLQ-6): dead letters back to their source queue or to
a destination.

Each batch is leased from the DLQ like a receive that counts nothing (``lua/receive-21.lua``,
mode 't'), then enqueued as new messages (``lua/redrive-17.lua``). When the destination shares
the DLQ's hash slot (always for the queue a message came from, which adopted its DLQ's tag)
enqueue and removal are one script; otherwise the copy is made first and the DLQ copy deleted
after: at-least-once, never lost. What cannot be moved is made visible in the DLQ again.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from qworker.backend import RedriveResult
from qworker.errors import InvalidParameterValue, QueueDoesNotExist
from qworker_redis import acks, admin, codec
from qworker_redis.core import Core
from qworker_redis.quarantine import set_aside
from qworker_redis.queues import QueueRef
from qworker_redis.scripts import SCRIPTS, ScriptError

#: how long redrive leases the dead letters it is moving (they come back if it dies)
REDRIVE_LEASE_MS = 60_000
#: dead letters per batch
BATCH = 100

#: a dead letter to move: its id in the DLQ, its envelope, the queue it came from ("" unknown)
Item = tuple[str, codec.Envelope, str]


async def redrive(
    core: Core, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
) -> RedriveResult:
    """Move the dead letters back; (moved, failed) counts."""
    dlq = await core.ref(dead_letter_queue)
    if destination is not None:
        target = await core.ref(destination)
        if target.fifo != dlq.fifo:
            raise InvalidParameterValue(
                "The destination queue must be of the same type as the dead-letter queue."
            )
        if destination == dead_letter_queue:
            raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
    if max_per_second is not None and max_per_second < 1:
        raise InvalidParameterValue(f"max_per_second must be at least 1, not {max_per_second}")
    budget = (await admin.get_queue(core, dead_letter_queue)).counts.visible
    moved = failed = 0
    unmovable: list[str] = []
    started = time.monotonic()
    token = os.urandom(8).hex()
    while (done := moved + failed + len(unmovable)) < budget:
        batch = min(budget - done, BATCH)
        if max_per_second:
            batch = min(batch, max(1, max_per_second // 10))
            await asyncio.sleep(max(0.0, started + (done + batch - 1) / max_per_second - time.monotonic()))
        dlq, reply = await core.run(
            "receive",
            dead_letter_queue,
            lambda r, n=batch: (r.inc, core.offset_ms(), n, REDRIVE_LEASE_MS, token, "t", "", ""),
        )
        if len(reply) <= 2:
            break
        by_target, corrupt, stray = _sort(dlq, reply, token, destination)
        unmovable += stray
        if corrupt:
            await set_aside(core, dlq, corrupt, token)
            failed += len(corrupt)
        for name, items in by_target.items():
            try:
                target = await core.ref(name)
            except QueueDoesNotExist:
                unmovable += [f"{dlq.inc}:{mid}:{token}" for mid, _, _ in items]
                continue
            count = await _redrive_into(core, dlq, target, items, token)
            moved += count
            failed += len(items) - count
    if unmovable:  # make them visible again in the DLQ now rather than after the lease
        await acks.release(core, dead_letter_queue, unmovable)
        failed += len(unmovable)
    return RedriveResult(moved, failed)


def _sort(
    dlq: QueueRef, reply: list[Any], token: str, destination: str | None
) -> tuple[dict[str, list[Item]], list[tuple[str, str]], list[str]]:
    """A leased batch by destination queue; the corrupt ones; handles of those with nowhere to go."""
    by_target: dict[str, list[Item]] = {}
    corrupt: list[tuple[str, str]] = []
    unmovable: list[str] = []
    for i in range(2, len(reply), 5):
        message_id = reply[i].decode()
        envelope = codec.decode(reply[i + 1])
        if type(envelope) is str:
            corrupt.append((message_id, envelope))
            continue
        src = reply[i + 4].decode()
        name = destination or src
        if not name:
            unmovable.append(f"{dlq.inc}:{message_id}:{token}")
            continue
        by_target.setdefault(name, []).append((message_id, envelope, src))
    return by_target, corrupt, unmovable


async def _redrive_into(core: Core, dlq: QueueRef, target: QueueRef, items: list[Item], token: str) -> int:
    """Enqueue ``items`` in ``target`` (and, same slot, remove them from the DLQ in the same
    script); how many were moved."""
    same_slot = target.tag == dlq.tag
    args: list[Any] = []
    for message_id, envelope, src in items:
        dedup = envelope.dedup_id
        if dlq.fifo and src:
            dedup = message_id
        prefix = codec.encode_prefix(
            envelope.body,
            envelope.attributes,
            envelope.md5_of_body,
            envelope.md5_of_attributes,
            envelope.group_id,
            dedup,
            envelope.trace_header,
        )
        args += (core.ids.next(), prefix, envelope.group_id or "", message_id, token)
    keys = SCRIPTS["redrive"].keys_for(Q=target.keys, S=dlq.keys if same_slot else target.keys)
    reply = await core.eval(
        "redrive", keys, [target.inc, dlq.inc, core.offset_ms(), "1" if same_slot else "0", len(items), *args]
    )
    if reply[0] < 0:
        raise QueueDoesNotExist(target.name if reply[0] == ScriptError.QUEUE_DOES_NOT_EXIST else dlq.name)
    moved = sum(1 for new_id in reply[1:] if new_id)
    if not same_slot:
        await acks.delete(core, dlq.name, [f"{dlq.inc}:{mid}:{token}" for mid, _, _ in items])
    return moved

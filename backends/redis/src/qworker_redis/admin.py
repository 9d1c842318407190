"""Queue administration: CreateQueue, GetQueueAttributes, SetQueueAttributes, tags, ListQueues,
PurgeQueue, DeleteQueue.

A queue is a registry entry (the global HASH, another hash slot on Redis Cluster) plus its own
keys; see :mod:`qworker_redis.keys` for the layout and how creates and deletes of one name by
several clients stay consistent (incarnations, tombstones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qworker import arn, limits
from qworker.backend import QueueCounts, QueueInfo, QueueSpec
from qworker.errors import (
    BackendError,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
)
from qworker_redis.core import Core
from qworker_redis.queues import QueueRef, meta_fields, spec_blob
from qworker_redis.scripts import SCRIPTS, ScriptError

#: how often create_queue looks again when deletes of the same name keep getting in its way
_CREATE_ATTEMPTS = 10
#: Redis Cluster: how long a deleted incarnation's tombstone fences off a late create of it
_TOMBSTONE_MS = 24 * 3600 * 1000


def _no_dead_letter_target(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist: {name!r}."
    )


async def create_queue(core: Core, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
    """SQS CreateQueue; ``tags`` are kept in the registry entry with the spec, so a client that
    finishes a half-made create (Redis Cluster) makes them too; an existing queue keeps its
    tags, and is compared with its current attributes (after any SetQueueAttributes)."""
    limits.validate_queue_spec(spec)
    initial = limits.check_tags(tags or {})
    for _ in range(_CREATE_ATTEMPTS):  # repeated only while deletes of the name interfere
        raw = await core.call("HGET", core.registry, spec.name)
        if raw is None:
            tag = spec.name
            policy = spec.redrive_policy
            if policy is not None:
                dlq_raw = await core.call("HGET", core.registry, policy.dead_letter_queue)
                if dlq_raw is None:
                    raise _no_dead_letter_target(policy.dead_letter_queue)
                # share the DLQ's hash slot, so dead-lettering and redrive are one atomic script
                tag = QueueRef.from_registration(dlq_raw, core.prefix).tag
            inc = str(await core.call("INCR", core.incarnations))
            ref = QueueRef.build(spec, tag, inc, core.prefix, cluster=core.cluster, tags=initial)
        else:
            ref = await core.current(QueueRef.from_registration(raw, core.prefix, cluster=core.cluster))
            if ref.spec != spec:
                raise QueueNameExists(
                    f"A queue named {spec.name!r} already exists with different attributes."
                )
        # register it; or confirm the existing one (idempotent; finishes a create left half-done)
        if await core.make(ref, new=raw is None):
            core.refs[spec.name] = ref
            return
        # another client created or deleted the queue since we looked: look again
    raise BackendError(f"Queue {spec.name!r} was deleted while being created; try again")


async def get_queue(core: Core, queue: str) -> QueueInfo:
    """SQS GetQueueAttributes: the current spec, approximate counts, times."""
    # on a cluster a cached registration may be of an incarnation whose delete has un-listed
    # it and not yet removed its keys: read the registry, so this agrees with list_queues
    ref, reply = await core.run(
        "counts", queue, lambda r: (r.inc, core.offset_ms(), r.rev), fresh=core.cluster
    )
    if reply[8]:  # the spec changed since this client read it
        ref = core.respec(ref, reply[7], reply[8])
    counts = QueueCounts(visible=reply[1], in_flight=reply[2], delayed=reply[3], quarantined=reply[6])
    return QueueInfo(ref.spec, counts, arn.queue_arn(queue), reply[4], reply[5])


async def set_queue_attributes(core: Core, queue: str, spec: QueueSpec) -> None:
    """SQS SetQueueAttributes: one script rewrites the meta HASH and bumps its revision; see
    :mod:`qworker_redis.keys` for how every client then sees the new spec at its next call
    (and how a DLQ in another hash slot of a cluster is reached)."""
    limits.check_spec_change(queue, spec)
    await core.ref(queue, refresh=True)
    dlq_tag = None
    policy = spec.redrive_policy
    if policy is not None:
        try:
            dlq_tag = (await core.ref(policy.dead_letter_queue, refresh=True)).tag
        except QueueDoesNotExist:
            raise _no_dead_letter_target(policy.dead_letter_queue) from None
    blob = spec_blob(spec, dlq_tag)
    ref, reply = await core.run(
        "configure", queue, lambda r: (r.inc, core.offset_ms(), blob, *meta_fields(spec))
    )
    core.adopt(ref.respec(reply[1].decode(), blob, cluster=core.cluster))


async def tag_queue(core: Core, queue: str, tags: Mapping[str, str]) -> None:
    limits.check_tags(tags)
    pairs = [item for pair in tags.items() for item in pair]
    _, reply = await core.run("tags", queue, lambda r: (r.inc, "add", limits.MAX_TAGS, *pairs))
    if reply[0] == ScriptError.TOO_MANY_TAGS:
        raise InvalidParameterValue(
            f"Too many tags added for queue {queue}: a queue can have at most {limits.MAX_TAGS} tags "
            f"({reply[1]} asked for)."
        )


async def untag_queue(core: Core, queue: str, keys: Sequence[str]) -> None:
    doomed = limits.check_tag_keys(keys)
    await core.run("tags", queue, lambda r: (r.inc, "remove", *doomed))


async def queue_tags(core: Core, queue: str) -> dict[str, str]:
    _, reply = await core.run("tags", queue, lambda r: (r.inc, "list"))
    return {reply[i].decode(): reply[i + 1].decode() for i in range(1, len(reply), 2)}


async def list_queues(core: Core, prefix: str = "") -> list[str]:
    names = [name.decode() for name in await core.call("HKEYS", core.registry)]
    return sorted(name for name in names if name.startswith(prefix))


async def purge_queue(core: Core, queue: str) -> None:
    """SQS PurgeQueue; the last purge's time is in the meta HASH, so every client sees it
    (one purge per queue every 60 s: PurgeQueueInProgress)."""
    _, reply = await core.run("purge", queue, lambda r: (r.inc, core.offset_ms()))
    if reply[0] == ScriptError.PURGE_IN_PROGRESS:
        raise PurgeQueueInProgress(queue, reply[1] / 1000)


async def delete_queue(core: Core, queue: str) -> None:
    """Delete the incarnation of ``queue`` the registry holds now, and only that one.

    Single node: one script removes the registry entry and the keys, if the entry is still
    the one read here. Redis Cluster (the registry in another hash slot): the registry entry
    is removed first, compared the same way (from then on the queue is not listed, and
    ``get_queue`` and creates agree), then that incarnation's keys, by a script that leaves
    a newer incarnation alone; until that second step, a client holding a cached
    registration can still use the doomed incarnation, as SQS allows during a delete.
    """
    core.refs.pop(queue, None)
    raw = await core.call("HGET", core.registry, queue)
    if raw is None:
        raise QueueDoesNotExist(queue)
    ref = QueueRef.from_registration(raw, core.prefix)
    registry = {"registry": core.registry.encode()}
    if not core.cluster:
        keys = SCRIPTS["unregister"].keys_for(Q=ref.keys, G=registry)
        reply = await core.eval("unregister", keys, [queue, raw, ref.inc])
    else:
        reply = await core.eval("forget", SCRIPTS["forget"].keys_for(G=registry), [queue, raw])
        if reply[0] == 1:
            await core.eval("drop", SCRIPTS["drop"].keys_for(Q=ref.keys), [ref.inc, _TOMBSTONE_MS])
    if reply[0] != 1:
        # deleted (and maybe created again) by another client since we looked: our delete
        # happened while it did not exist
        raise QueueDoesNotExist(queue)

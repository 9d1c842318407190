"""RedisBackend: SQS semantics on Redis, every state change one atomic Lua script.

The Python side validates input (:mod:`qworker.limits`), packs envelopes, calls scripts by SHA
and decodes what they return; it never reads and then writes. Deadlines, SentTimestamp and
receive times come from Redis's clock (``TIME`` inside the scripts), so workers with skewed
clocks cannot redeliver early. See :mod:`qworker_redis.keys` for the key layout and
``lua/*.lua`` for each operation.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    NoPermissionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from qworker import arn, digest, limits
from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    BaseBackend,
    BatchEntryError,
    Capabilities,
    FailureNote,
    PeekedMessage,
    QuarantinedMessage,
    QuarantineTally,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    SendResult,
    VisibilityChange,
    system_attributes,
)
from qworker.errors import (
    BackendError,
    BackendUnavailable,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
)
from qworker.quarantine import Restore, check_destination, plan_restore
from qworker.redaction import redact_text
from qworker.safe_receive import GiveBacks, still_held
from qworker_redis import codec
from qworker_redis.connection import make_client, parse_url
from qworker_redis.fastlane import FastLane, WaitLanes, pack_command
from qworker_redis.keys import incarnation_key, record_keys, registry_key
from qworker_redis.queues import QueueRef, meta_fields, spec_blob
from qworker_redis.scripts import ENTRY_CODES, SCRIPTS, Script, ScriptError, pack_args, pack_head

log = structlog.get_logger("qworker.redis")

_RETRYABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
_FATAL = (AuthenticationError, AuthenticationWrongNumberOfArgsError, NoPermissionError)
#: entries per script call; bigger batches are split (FIFO order is kept across the calls)
_SEND_CHUNK = 1000
_SEND_CHUNK_BYTES = 4 * 1024 * 1024
#: how long redrive leases the dead letters it is moving (they come back if it dies)
_REDRIVE_LEASE_MS = 60_000
_MAX_ERROR_TEXT = 4096
#: how often create_queue looks again when deletes of the same name keep getting in its way
_CREATE_ATTEMPTS = 10
#: Redis Cluster: how long a deleted incarnation's tombstone fences off a late create of it
_TOMBSTONE_MS = 24 * 3600 * 1000
_ENTRY_MESSAGES = {
    1: "The receipt handle is not valid.",
    2: "The message was received again since this receipt handle was issued.",
    3: "The message is not in flight.",
    5: "Value for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the "
    "message is beyond the limit [43200 seconds]",
}
_PEEK_STATES = {b"i": "in_flight", b"d": "delayed", b"v": "visible"}
#: Redis Cluster, a DLQ in another hash slot that turned out to be gone: how long receives
#: deliver its poison messages (receive mode 'x') before trying the DLQ again
_DLQ_GONE_SECONDS = 5.0


class _SpecChanged(Exception):  # a signal inside send(), never raised to callers
    """A send script refused: the queue's attributes changed since the entries were validated."""

    def __init__(self, ref: QueueRef) -> None:
        super().__init__(ref.name)
        self.ref = ref


@dataclass(slots=True)
class _SplitHandles:
    """Receipt handles of one queue incarnation split for the delete script."""

    pairs: list[str]  #: message id, token, message id, token, ...
    sent: list[int]  #: the handle index of each pair
    invalid: list[int]  #: indexes of handles that are not of this incarnation or malformed
    repeated: bool  #: some message id appears twice


def _split_handles(inc: str, handles: Sequence[str]) -> _SplitHandles:
    """Split ``INCARNATION:MESSAGE-ID:TOKEN`` handles (built in ``_messages``) in Python, not in
    Lua: per handle, slicing here is cheaper than the script's string work, and Redis's single
    thread is the resource every worker shares."""
    out = _SplitHandles([], [], [], False)
    prefix = inc + ":"
    start = len(prefix)
    size = start + 53  # 36-character id, ':', 16-digit token
    ids: set[str] = set()
    for index, handle in enumerate(handles):
        if len(handle) != size or not handle.startswith(prefix) or handle[start + 36] != ":":
            out.invalid.append(index)
            continue
        message_id = handle[start : start + 36]
        out.pairs += (message_id, handle[start + 37 :])
        out.sent.append(index)
        ids.add(message_id)
    out.repeated = len(ids) < len(out.sent)
    return out


class RedisBackend(BaseBackend):
    """The ``redis://``, ``rediss://`` and ``redis+cluster://`` backend.

    ``clock_offset`` is a test hook (never read from a URL): seconds added to Redis's clock in
    every script, so a test can jump past the 5-minute deduplication window or the retention
    period. Production leaves it ``None`` (offset 0).
    """

    capabilities = Capabilities(
        max_receive_batch=10_000,
        peek=True,
        fenced_receipts=True,
        records_failures=True,
        timeout_resolution=0.001,
        delete_by_id=True,
        quarantine=True,
    )

    def __init__(
        self, url: str = "redis://localhost:6379/0", *, clock_offset: Callable[[], float] | None = None
    ):
        self._url = url
        self._settings = parse_url(url)
        self.give_backs = GiveBacks()  #: receives cut short by a cancellation, giving back
        self._clock_offset = clock_offset
        self._client: Redis | RedisCluster | None = None
        self._refs: dict[str, QueueRef] = {}
        self._ids = codec.MessageIds()
        self._registry = registry_key(self._settings.prefix)
        self._outage_logged = False
        self._cluster = self._settings.cluster
        #: single node: script calls go through one pipelined connection (see fastlane.py)
        self._lane: FastLane | None = None
        self._wait_lanes: WaitLanes | None = None
        #: messages this object set aside, by queue (the worker's quarantine counter)
        self.quarantine_tally = QuarantineTally()
        #: queue -> monotonic time until which its (cross-slot) DLQ is taken to be gone
        self._dlq_gone: dict[str, float] = {}

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(url)

    def reopened(self) -> RedisBackend:
        return type(self)(self._url, clock_offset=self._clock_offset)

    @property
    def display_url(self) -> str:
        return self._settings.display_url

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._client is not None:
            return
        client = make_client(self._settings)
        try:
            async with asyncio.timeout(self._settings.socket_connect_timeout + self._settings.socket_timeout):
                if isinstance(client, RedisCluster):
                    await client.initialize()
                await client.execute_command("PING")
        except (RedisError, RedisClusterException, *_RETRYABLE) as exc:
            # RedisClusterException ("cannot be connected": no node answered, or every node
            # refused the credentials) is no RedisError: without it here a cluster with a wrong
            # password ended the CLI with "internal error" instead of exit 3
            await client.aclose()
            raise BackendUnavailable(
                f"Cannot connect to Redis at {self.display_url}: {self._safe(exc)}"
            ) from None
        self._client = client
        if not self._cluster:
            self._lane = FastLane(self._settings)
            self._wait_lanes = WaitLanes(self._settings)
        await self._check_server()

    async def _check_server(self) -> None:
        """Warn when the server may evict keys: eviction silently deletes queued messages."""
        client = self._require()
        try:
            if isinstance(client, RedisCluster):
                replies = [
                    await client.execute_command("CONFIG", "GET", "maxmemory-policy", target_nodes=node)
                    for node in client.get_primaries()
                ]
            else:
                replies = [await client.execute_command("CONFIG", "GET", "maxmemory-policy")]
        except RedisError as exc:  # CONFIG may be renamed or refused by an ACL: say so, carry on
            log.info("redis.config_unreadable", url=self.display_url, error=self._safe(exc))
            return
        for reply in replies:
            policy = _config_value(reply)
            if policy and policy != "noeviction":
                log.warning(
                    "redis.maxmemory_policy_not_noeviction",
                    url=self.display_url,
                    policy=policy,
                    advice="set maxmemory-policy noeviction: with eviction Redis may delete queued messages",
                )

    async def close(self) -> None:
        await self.give_backs.wait()  # receives cut short by a stop give their messages back first
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.close()
        wait_lanes, self._wait_lanes = self._wait_lanes, None
        if wait_lanes is not None:
            await wait_lanes.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _require(self) -> Redis | RedisCluster:
        if self._client is None:
            raise BackendError("RedisBackend is not connected: use `async with backend:` or await connect()")
        return self._client

    def _safe(self, exc: BaseException) -> str:
        """The exception's text, redacted: URLs, and the password itself wherever it appears."""
        return redact_text(str(exc) or type(exc).__name__, (self._settings.password,))

    def _offset_ms(self) -> int:
        return 0 if self._clock_offset is None else round(self._clock_offset() * 1000)

    async def _call(self, *args: Any, **kwargs: Any) -> Any:
        """One command through redis-py, with the backend's reconnect policy (:meth:`_retrying`)."""
        client = self._require()
        return await self._retrying(lambda: client.execute_command(*args, **kwargs))

    async def _retrying(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``operation``, reconnecting with capped, jittered exponential back-off for up to
        ``retry_timeout`` seconds; then BackendUnavailable. A script that may have run before the
        connection dropped is run again: sends are at-least-once (FIFO sends dedupe)."""
        deadline = 0.0
        attempt = 0
        while True:
            try:
                result = await operation()
            except _FATAL as exc:
                raise BackendUnavailable(
                    f"Redis at {self.display_url} refused us: {self._safe(exc)}"
                ) from None
            except _RETRYABLE as exc:
                now = time.monotonic()
                if not deadline:
                    deadline = now + self._settings.retry_timeout
                if now >= deadline:
                    raise BackendUnavailable(
                        f"Redis at {self.display_url} is unavailable: {self._safe(exc)}"
                    ) from None
                if not self._outage_logged:
                    self._outage_logged = True
                    log.warning("redis.reconnecting", url=self.display_url, error=self._safe(exc))
                delay = min(2.0, 0.05 * 2**attempt)
                attempt += 1
                await asyncio.sleep(min(deadline - now, delay / 2 + random.random() * delay / 2))
                continue
            if self._outage_logged:
                self._outage_logged = False
                log.info("redis.reconnected", url=self.display_url)
            return result

    async def _eval(
        self, script: Script, keys: Sequence[bytes], args: Sequence[Any], head: bytes | None = None
    ) -> Any:
        """EVALSHA ``script``; on NOSCRIPT (a new or restarted server) load it and run again.

        On a single node the call goes through the pipelined :class:`FastLane`; on a cluster
        through redis-py, which routes by key slot and follows MOVED/ASK. ``head`` is the
        packed ``EVALSHA sha numkeys KEYS...`` prefix, cached per queue."""
        try:
            if self._cluster:
                try:
                    return await self._call("EVALSHA", script.sha, script.numkeys, *keys, *args)
                except NoScriptError:  # EVAL caches it on that node too
                    return await self._call("EVAL", script.source, script.numkeys, *keys, *args)
            lane = self._lane
            if lane is None:
                raise BackendError(
                    "RedisBackend is not connected: use `async with backend:` or await connect()"
                )
            if head is None:
                head = pack_head(script, keys)
            payload = pack_args(head, 3 + len(keys), args)
            try:
                return await self._retrying(lambda: lane.execute(payload))
            except NoScriptError:
                await self._call("SCRIPT", "LOAD", script.source)
                return await self._retrying(lambda: lane.execute(payload))
        except ResponseError as exc:
            raise BackendError(f"Redis script {script.name} failed: {self._safe(exc)}") from None

    # -- queue registry -------------------------------------------------------------------------

    async def _ref(self, queue: str, refresh: bool = False) -> QueueRef:
        """The cached registration of ``queue``, or (``refresh``, or none cached) the registry's.
        A refresh that finds the registration cached keeps the cached ref, whose spec revision
        may be newer than the registry entry's (which is the spec at creation)."""
        cached = self._refs.get(queue)
        if cached is not None and not refresh:
            return cached
        raw = await self._call("HGET", self._registry, queue)
        if raw is None:
            self._refs.pop(queue, None)
            raise QueueDoesNotExist(queue)
        if cached is not None and cached.raw == raw:
            return cached
        ref = self._refs[queue] = QueueRef.from_registration(
            raw, self._settings.prefix, cluster=self._cluster
        )
        return ref

    def _adopt(self, ref: QueueRef) -> QueueRef:
        """Cache ``ref`` (a newer spec revision of a queue) unless the cache moved on to another
        incarnation meanwhile; returns it."""
        cached = self._refs.get(ref.name)
        if cached is None or cached.inc == ref.inc:
            self._refs[ref.name] = ref
        return ref

    def _respec(self, ref: QueueRef, rev: Any, blob: Any) -> QueueRef:
        """``ref`` at the spec revision a script reported (``{-3, rev, spec}`` or counts)."""
        text = rev.decode() if isinstance(rev, bytes) else str(rev)
        return self._adopt(ref.respec(text, blob or b"", cluster=self._cluster))

    async def _current(self, ref: QueueRef) -> QueueRef:
        """``ref`` with the queue's current spec (one HMGET on its meta HASH). A queue gone or
        created again is left to the next script call to find out."""
        inc, rev, blob = await self._call("HMGET", ref.keys.all[0], "inc", "rev", "spec")
        if inc is None or inc.decode() != ref.inc:
            return ref
        text = rev.decode() if rev else "0"
        return ref if text == ref.rev else self._respec(ref, text, blob)

    async def _run(
        self,
        name: str,
        queue: str,
        args: Callable[[QueueRef], Sequence[Any]],
        *,
        with_dlq: bool = False,
        fresh: bool = False,
        on_stale_spec: Literal["retry", "raise"] = "retry",
    ) -> tuple[QueueRef, list[Any]]:
        """Run a per-queue script; on "no such queue" reload the registration (the cache may
        predate a delete + create) and retry. When the registry names the very incarnation the
        script did not find, a create registered it and has not made its keys yet (Redis Cluster,
        where the two are separate steps, or a create an older qworker left half-done): finish
        that create, fenced, so whatever lists the queue can also use it. ``fresh``: read the
        registration first instead of trusting the cache. A script that says the cached spec
        is behind (``STALE_SPEC``: send, receive) did nothing: adopt the new spec and call again
        (``args`` is called again with it), or raise :class:`_SpecChanged` (``"raise"``)."""
        script = SCRIPTS[name]
        ref = await self._ref(queue, refresh=fresh)
        missing = 0
        while True:
            keys = ref.receive_keys if with_dlq else ref.keys.all
            head = ref.heads.get(name)
            if head is None:
                head = ref.heads[name] = pack_head(script, keys)
            reply = await self._eval(script, keys, args(ref), head)
            code = reply[0]
            if code == ScriptError.STALE_SPEC:
                ref = self._respec(ref, reply[1], reply[2])
                if on_stale_spec == "raise":
                    raise _SpecChanged(ref)
                continue
            if code != ScriptError.QUEUE_DOES_NOT_EXIST:
                return ref, reply
            missing += 1
            if missing >= 3:
                break
            stale = ref.inc
            ref = await self._ref(queue, refresh=True)
            if ref.inc == stale and not await self._make(ref, new=False):
                break
        self._refs.pop(queue, None)
        raise QueueDoesNotExist(queue)

    async def _make(self, ref: QueueRef, *, new: bool) -> bool:
        """Register ``ref`` (``new``) or confirm the registry still holds it, and make its keys.

        Single node: one script does both (``register``), so the registry and the queue's keys
        never disagree. Redis Cluster: the registry is in another hash slot, so the registry
        entry is added first (HSETNX) and the keys made after by a script fenced by incarnation
        (``create``), which refuses when a newer incarnation or a delete of this one got there
        first. False when the registration is not (or no longer) the one in the registry."""
        fields: list[Any] = [self._offset_ms(), *meta_fields(ref.spec)]
        for key, value in ref.initial_tags:  # tags given at creation (SQS CreateQueue tags)
            fields += (f"tag:{key}", value)
        if not self._cluster:
            keys = (*ref.keys.all, self._registry.encode())
            reply = await self._eval(
                SCRIPTS["register"], keys, [ref.name, ref.raw, "new" if new else "same", ref.inc, *fields]
            )
            return bool(reply[0] == 1)
        if new and not await self._call("HSETNX", self._registry, ref.name, ref.raw):
            return False
        reply = await self._eval(SCRIPTS["create"], ref.keys.all, [ref.inc, *fields])
        return bool(reply[0] == 1)

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        """SQS CreateQueue; ``tags`` are kept in the registry entry with the spec, so a client that
        finishes a half-made create (Redis Cluster) makes them too; an existing queue keeps its
        tags, and is compared with its current attributes (after any SetQueueAttributes)."""
        limits.validate_queue_spec(spec)
        initial = limits.check_tags(tags or {})
        for _ in range(_CREATE_ATTEMPTS):  # repeated only while deletes of the name interfere
            raw = await self._call("HGET", self._registry, spec.name)
            if raw is None:
                tag = spec.name
                policy = spec.redrive_policy
                if policy is not None:
                    dlq_raw = await self._call("HGET", self._registry, policy.dead_letter_queue)
                    if dlq_raw is None:
                        raise InvalidParameterValue(
                            "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does "
                            f"not exist: {policy.dead_letter_queue!r}."
                        )
                    # share the DLQ's hash slot, so dead-lettering and redrive are one atomic script
                    tag = QueueRef.from_registration(dlq_raw, self._settings.prefix).tag
                inc = str(await self._call("INCR", incarnation_key(self._settings.prefix)))
                ref = QueueRef.build(
                    spec, tag, inc, self._settings.prefix, cluster=self._cluster, tags=initial
                )
            else:
                ref = await self._current(
                    QueueRef.from_registration(raw, self._settings.prefix, cluster=self._cluster)
                )
                if ref.spec != spec:
                    raise QueueNameExists(
                        f"A queue named {spec.name!r} already exists with different attributes."
                    )
            # register it; or confirm the existing one (idempotent; finishes a create left half-done)
            if await self._make(ref, new=raw is None):
                self._refs[spec.name] = ref
                return
            # another client created or deleted the queue since we looked: look again
        raise BackendError(f"Queue {spec.name!r} was deleted while being created; try again")

    async def get_queue(self, queue: str) -> QueueInfo:
        # on a cluster a cached registration may be of an incarnation whose delete has un-listed
        # it and not yet removed its keys: read the registry, so this agrees with list_queues
        ref, reply = await self._run(
            "counts", queue, lambda r: (r.inc, self._offset_ms(), r.rev), fresh=self._cluster
        )
        if reply[8]:  # the spec changed since this client read it
            ref = self._respec(ref, reply[7], reply[8])
        counts = QueueCounts(visible=reply[1], in_flight=reply[2], delayed=reply[3], quarantined=reply[6])
        return QueueInfo(ref.spec, counts, self.queue_arn(queue), reply[4], reply[5])

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        """SQS SetQueueAttributes: one script rewrites the meta HASH and bumps its revision; see
        :mod:`qworker_redis.keys` for how every client then sees the new spec at its next call
        (and how a DLQ in another hash slot of a cluster is reached)."""
        limits.check_spec_change(queue, spec)
        ref = await self._ref(queue, refresh=True)
        dlq_tag = None
        policy = spec.redrive_policy
        if policy is not None:
            try:
                dlq_tag = (await self._ref(policy.dead_letter_queue, refresh=True)).tag
            except QueueDoesNotExist:
                raise InvalidParameterValue(
                    "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not "
                    f"exist: {policy.dead_letter_queue!r}."
                ) from None
        blob = spec_blob(spec, dlq_tag)
        ref, reply = await self._run(
            "configure", queue, lambda r: (r.inc, self._offset_ms(), blob, *meta_fields(spec))
        )
        self._adopt(ref.respec(reply[1].decode(), blob, cluster=self._cluster))

    # -- tags -----------------------------------------------------------------------------------

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        limits.check_tags(tags)
        pairs = [item for pair in tags.items() for item in pair]
        _, reply = await self._run("tags", queue, lambda r: (r.inc, "add", limits.MAX_TAGS, *pairs))
        if reply[0] == ScriptError.TOO_MANY_TAGS:
            raise InvalidParameterValue(
                f"Too many tags added for queue {queue}: a queue can have at most {limits.MAX_TAGS} tags "
                f"({reply[1]} asked for)."
            )

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        doomed = limits.check_tag_keys(keys)
        await self._run("tags", queue, lambda r: (r.inc, "remove", *doomed))

    async def queue_tags(self, queue: str) -> dict[str, str]:
        _, reply = await self._run("tags", queue, lambda r: (r.inc, "list"))
        return {reply[i].decode(): reply[i + 1].decode() for i in range(1, len(reply), 2)}

    async def list_queues(self, prefix: str = "") -> list[str]:
        names = [name.decode() for name in await self._call("HKEYS", self._registry)]
        return sorted(name for name in names if name.startswith(prefix))

    async def purge_queue(self, queue: str) -> None:
        """SQS PurgeQueue; the last purge's time is in the meta HASH, so every client sees it
        (one purge per queue every 60 s: PurgeQueueInProgress)."""
        _, reply = await self._run("purge", queue, lambda r: (r.inc, self._offset_ms()))
        if reply[0] == ScriptError.PURGE_IN_PROGRESS:
            raise PurgeQueueInProgress(queue, reply[1] / 1000)

    async def delete_queue(self, queue: str) -> None:
        """Delete the incarnation of ``queue`` the registry holds now, and only that one.

        Single node: one script removes the registry entry and the keys, if the entry is still
        the one read here. Redis Cluster (the registry in another hash slot): the registry entry
        is removed first, compared the same way (from then on the queue is not listed, and
        ``get_queue`` and creates agree), then that incarnation's keys, by a script that leaves
        a newer incarnation alone; until that second step, a client holding a cached
        registration can still use the doomed incarnation, as SQS allows during a delete.
        """
        self._refs.pop(queue, None)
        raw = await self._call("HGET", self._registry, queue)
        if raw is None:
            raise QueueDoesNotExist(queue)
        ref = QueueRef.from_registration(raw, self._settings.prefix)
        registry = self._registry.encode()
        if not self._cluster:
            reply = await self._eval(SCRIPTS["unregister"], (*ref.keys.all, registry), [queue, raw, ref.inc])
        else:
            reply = await self._eval(SCRIPTS["forget"], (registry,), [queue, raw])
            if reply[0] == 1:
                await self._eval(SCRIPTS["drop"], ref.keys.all, [ref.inc, _TOMBSTONE_MS])
        if reply[0] != 1:
            # deleted (and maybe created again) by another client since we looked: our delete
            # happened while it did not exist
            raise QueueDoesNotExist(queue)

    # -- send -----------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        """SendMessageBatch, validated against this client's copy of the queue's spec.

        The copy is never acted on stale: the send script is given its revision and sends nothing
        when the queue's attributes changed since (the entries are validated again against the
        new spec and sent), and before entries are reported failed, the revision is confirmed
        (one HMGET), so an entry the new attributes allow is not refused by an old copy."""
        entries = list(entries)
        ids = limits.entry_ids(entries)
        ref = await self._ref(queue)
        pending = list(zip(ids, entries, strict=True))  # not sent yet
        successful: list[SendResult] = []
        confirmed = False
        while True:
            failed, chunks = self._prepare(ref.spec, pending)
            if failed and not confirmed:
                confirmed = True
                current = await self._current(ref)
                if current.rev != ref.rev:
                    ref = current
                    continue
            try:
                for chunk_args, chunk_meta in chunks:
                    ref, reply = await self._run(
                        "send",
                        queue,
                        lambda r, a=chunk_args, n=len(chunk_meta): (r.inc, self._offset_ms(), r.rev, n, *a),
                        on_stale_spec="raise",
                    )
                    for k, (entry_id, md5_body, md5_attributes) in enumerate(chunk_meta):
                        sequence = reply[2 + 2 * k]
                        successful.append(
                            SendResult(
                                entry_id,
                                reply[1 + 2 * k].decode(),
                                md5_body,
                                md5_attributes,
                                sequence.decode() if sequence else None,
                            )
                        )
                    sent = {entry_id for entry_id, _, _ in chunk_meta}
                    pending = [item for item in pending if item[0] not in sent]
            except _SpecChanged as changed:
                ref = changed.ref
                confirmed = True  # the script just gave the current revision
                continue
            return SendBatchResult(successful, failed)

    def _prepare(
        self, spec: QueueSpec, pending: list[tuple[str, SendEntry]]
    ) -> tuple[list[BatchEntryError], list[tuple[list[Any], list[tuple[str, str, str | None]]]]]:
        """Validate entries against ``spec``: the failed ones, and the send script's arguments
        for the others, in chunks."""
        fifo = spec.fifo
        failed: list[BatchEntryError] = []
        chunks: list[tuple[list[Any], list[tuple[str, str, str | None]]]] = []
        args: list[Any] = []
        meta: list[tuple[str, str, str | None]] = []
        size = 0
        for entry_id, entry in pending:
            error = limits.check_send_entry(entry, entry_id, spec)
            if error is not None:
                failed.append(error)
                continue
            md5_body = digest.md5_of_body(entry.body)
            attributes = entry.message_attributes
            md5_attributes = digest.md5_of_message_attributes(attributes) if attributes else None
            dedup = None
            if fifo:
                dedup = entry.message_deduplication_id or digest.content_deduplication_id(entry.body)
            prefix = codec.encode_prefix(
                entry.body,
                attributes,
                md5_body,
                md5_attributes,
                entry.message_group_id,
                dedup,
                entry.trace_header,
            )
            delay = "" if entry.delay_seconds is None else entry.delay_seconds * 1000
            args += (self._ids.next(), prefix, delay, entry.message_group_id or "", dedup or "")
            meta.append((entry_id, md5_body, md5_attributes))
            size += len(prefix)
            if len(meta) >= _SEND_CHUNK or size >= _SEND_CHUNK_BYTES:
                chunks.append((args, meta))
                args, meta, size = [], [], 0
        if meta:
            chunks.append((args, meta))
        return failed, chunks

    # -- receive --------------------------------------------------------------------------------

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        limits.check_max_messages(max_messages)
        vt: str | int = ""
        if visibility_timeout is not None:
            error = limits.check_visibility_timeout(visibility_timeout)
            if error is not None:
                raise InvalidParameterValue(error)
            vt = round(visibility_timeout * 1000)
        if wait_seconds is not None and wait_seconds < 0:
            raise InvalidParameterValue(f"wait_seconds must not be negative, not {wait_seconds!r}")
        token = os.urandom(8).hex()
        started = time.monotonic()

        def args(r: QueueRef) -> tuple[Any, ...]:
            mode = r.dlq_mode
            if mode == "r" and self._dlq_gone.get(queue, 0.0) > time.monotonic():
                mode = "x"  # its DLQ (another hash slot) is gone: deliver, as a single node does
            return (r.inc, self._offset_ms(), max_messages, vt, token, "r", r.rev, mode)

        def taken(reply: list[Any]) -> list[str]:  # receipt handles of what a reply took
            inc = self._refs[queue].inc if queue in self._refs else ""
            return [f"{inc}:{reply[i].decode()}:{token}" for i in range(2, len(reply), 5)]

        async def release(handles: Sequence[str]) -> None:
            await self.change_visibility(queue, [VisibilityChange(h, 0) for h in handles])

        async def receive_now() -> tuple[QueueRef, list[Any]]:
            return await self.give_backs.take(
                self._run("receive", queue, args, with_dlq=True), lambda rr: taken(rr[1]), release
            )

        visibility = (vt / 1000) if vt != "" else None

        async def renew(changes: Sequence[VisibilityChange]) -> list[BatchEntryError]:
            return await self.change_visibility(queue, changes)

        sent = time.monotonic()
        ref, reply = await receive_now()
        # the queue's default wait, from the spec the script just confirmed current
        wait = ref.spec.receive_wait_time_seconds if wait_seconds is None else wait_seconds
        deadline = started + wait
        while True:
            if ref.dlq_mode == "r" and len(reply) > 2:
                reply = await self._dead_letter_leased(ref, reply, token)
                if len(reply) <= 2:  # all of them were poison, now moved: look again at once
                    sent = time.monotonic()
                    ref, reply = await receive_now()
                    continue
            if len(reply) > 2:
                messages = await self._messages(ref, reply, token)
                messages = await still_held(
                    messages,
                    time.monotonic() - sent,
                    ref.spec.visibility_timeout if visibility is None else visibility,
                    renew,
                )
                if messages:
                    return messages
                sent = time.monotonic()
                ref, reply = await receive_now()
                continue  # everything taken was corrupt or is no longer ours: look again at once
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            wake = reply[1]
            timeout = remaining if wake < 0 else min(remaining, wake / 1000 + 0.001)
            sent = time.monotonic()
            waiting: list[FastLane] = []  #: the lane of the long poll, while it waits
            woken = await self.give_backs.take(
                self._wait_then_receive(ref, timeout, args(ref), waiting),
                lambda r: taken(r) if r is not None and r[0] == 1 else [],
                release,
                functools.partial(self._unblock, waiting),
            )
            if woken is not None and woken[0] == 1:
                reply = woken
            else:  # an error, a re-created queue, a changed spec: the normal path sorts it out
                sent = time.monotonic()
                ref, reply = await receive_now()

    async def _dead_letter_leased(self, ref: QueueRef, reply: list[Any], token: str) -> list[Any]:
        """Redis Cluster, a DLQ in another hash slot: move the poison messages the receive script
        leased (negative receive count) into the DLQ, then delete them from ``ref``'s queue
        (fenced by the lease: at-least-once); returns the reply without them.

        When the DLQ is gone, the leases are given up (visible again at once) and, for a few
        seconds, receives deliver such messages instead (as the atomic move does without a DLQ).
        """
        keep = reply[:2]
        leased: list[tuple[str, bytes, int, bytes, bytes]] = []
        for i in range(2, len(reply), 5):
            if reply[i + 2] < 0:
                leased.append((reply[i].decode(), reply[i + 1], -reply[i + 2], reply[i + 3], reply[i + 4]))
            else:
                keep += reply[i : i + 5]
        if not leased:
            return keep
        handles = [f"{ref.inc}:{message_id}:{token}" for message_id, *_ in leased]
        policy = ref.spec.redrive_policy
        assert policy is not None  # dlq_mode "r" comes from a RedrivePolicy
        moving: list[str] = []
        flat: list[Any] = []
        sent_ms: list[int] = []
        corrupt: list[tuple[str, str]] = []
        for (message_id, env, count, first, error), handle in zip(leased, handles, strict=True):
            envelope = codec.decode(env)
            if type(envelope) is str:
                corrupt.append((message_id, envelope))
                continue
            flat += (message_id, env, count, first, error, envelope.group_id or "")
            sent_ms.append(int(envelope.sent_ms))
            moving.append(handle)
        if corrupt:
            await self._quarantine(ref, corrupt, token)
        if not moving:
            return keep
        try:
            await self._run(
                "dead_letter",
                policy.dead_letter_queue,
                lambda d: (d.inc, self._offset_ms(), ref.name, len(moving), *flat, *sent_ms),
            )
        except QueueDoesNotExist:
            self._dlq_gone[ref.name] = time.monotonic() + _DLQ_GONE_SECONDS
            log.warning("redis.dead_letter_queue_missing", queue=ref.name, dlq=policy.dead_letter_queue)
            await self.change_visibility(ref.name, [VisibilityChange(h, 0) for h in moving])
            return keep
        for failure in await self.delete(ref.name, moving):  # lease lost: it may now be in both
            log.warning(
                "redis.dead_letter_lease_lost", queue=ref.name, receipt_handle=failure.id, code=failure.code
            )
        return keep

    async def _unblock(self, waiting: list[FastLane]) -> None:
        """End a long poll's BLPOP now (a receive cancelled at shutdown): ``CLIENT UNBLOCK`` from
        the shared lane makes it return as if its wait had ended, the receive script behind it
        runs, and what it takes is given back; without this, the exit waits for the poll."""
        lane = self._lane
        client_id = waiting[0].client_id if waiting else None
        if lane is not None and client_id is not None:
            await lane.execute(pack_command([b"CLIENT", b"UNBLOCK", client_id]))

    async def _wait_then_receive(
        self, ref: QueueRef, timeout: float, args: Sequence[Any], waiting: list[FastLane] | None = None
    ) -> list[Any] | None:
        """Long-poll, then receive, in one round trip: ``BLPOP`` on the queue's notify list and
        the receive script, pipelined on one connection. Redis runs the script as soon as the
        BLPOP returns (a send woke it, or the wait ended), so a waiting receiver gets a new
        message one round trip after the send, not two. Returns the script's reply, or ``None``
        when the caller should receive the normal way (cluster, NOSCRIPT, an error)."""
        lanes = self._wait_lanes
        if self._cluster or lanes is None:
            await self._wait(ref, timeout)
            return None
        read_timeout = self._settings.socket_timeout
        timeout = max(0.001, min(timeout, max(min(1.0, read_timeout / 2), read_timeout - 2)))
        script = SCRIPTS["receive"]
        head = ref.heads.get("receive")
        if head is None:
            head = ref.heads["receive"] = pack_head(script, ref.receive_keys)
        payload = pack_command([b"BLPOP", ref.keys.notify, b"%.3f" % timeout]) + pack_args(
            head, 3 + len(ref.receive_keys), args
        )
        lane = lanes.borrow()
        if waiting is not None:
            waiting.append(lane)
        try:
            _, reply = await lane.execute_many(payload, 2)
        except _RETRYABLE:
            await asyncio.sleep(min(timeout, 0.1))
            return None
        finally:
            if waiting is not None:
                waiting.clear()
            await lanes.give_back(lane)
        if isinstance(reply, Exception):
            return None
        return reply

    async def _wait(self, ref: QueueRef, timeout: float) -> None:
        """Block on the queue's notify list (BLPOP) until a script signals or ``timeout`` passes.

        Idle receivers cost one BLPOP per wait (at most ``socket_timeout`` - 2 s each), never a
        polling loop. Errors end the wait early; the next script call reports a lasting outage.
        """
        client = self._require()
        read_timeout = self._settings.socket_timeout
        # stay well below the socket's read timeout, or redis-py drops the connection each wait
        timeout = max(0.001, min(timeout, max(min(1.0, read_timeout / 2), read_timeout - 2)))
        try:
            await client.execute_command("BLPOP", ref.keys.notify, f"{timeout:.3f}")
        except _RETRYABLE:
            await asyncio.sleep(min(timeout, 0.1))

    async def _messages(self, ref: QueueRef, reply: list[Any], token: str) -> list[ReceivedMessage]:
        # The receive hot path, a couple of microseconds a message: names are hoisted into locals,
        # the reply is read five items at a time, and the common case (no dead-letter source, no
        # trace header) builds its attributes in one dict display.
        out: list[ReceivedMessage] = []
        corrupt: list[tuple[str, str]] = []
        fifo = ref.fifo
        sender = arn.account_id()
        decode = codec.decode_fields
        message = ReceivedMessage
        handle_prefix, handle_suffix = f"{ref.inc}:", f":{token}"  # receipt handle around the id
        source_arns: dict[bytes, str] = {}  # a dead-letter queue's batch has few source queues
        items = iter(reply[2:])  # two header items, then five per message: taken five at a time
        for raw_id, data, count, first_ms, src in zip(items, items, items, items, items, strict=False):
            message_id = raw_id.decode()
            fields = decode(data)
            if type(fields) is str:
                corrupt.append((message_id, fields))
                continue
            body, attributes, md5_of_body, md5_of_attributes, group_id, dedup_id, trace, sent_ms, sequence = (
                fields
            )
            # Lambda's order (qworker.backend.system_attributes), built inline; every branch keeps it
            if src or trace is not None:
                attrs = {}
                if src:
                    source = source_arns.get(src)
                    if source is None:
                        source = source_arns[src] = arn.queue_arn(src.decode())
                    attrs["DeadLetterQueueSourceArn"] = source
                attrs["ApproximateReceiveCount"] = str(count)
                if trace is not None:
                    attrs["AWSTraceHeader"] = trace
                attrs["SentTimestamp"] = sent_ms
                if fifo:
                    attrs["SequenceNumber"] = sequence
                    attrs["MessageGroupId"] = group_id
                attrs["SenderId"] = sender
                if fifo:
                    # a FIFO dead-letter queue's messages take their message id as dedup id
                    attrs["MessageDeduplicationId"] = message_id if src else dedup_id
                attrs["ApproximateFirstReceiveTimestamp"] = first_ms.decode()
            elif fifo:
                attrs = {
                    "ApproximateReceiveCount": str(count),
                    "SentTimestamp": sent_ms,
                    "SequenceNumber": sequence,
                    "MessageGroupId": group_id,
                    "SenderId": sender,
                    "MessageDeduplicationId": dedup_id,
                    "ApproximateFirstReceiveTimestamp": first_ms.decode(),
                }
            else:
                attrs = {
                    "ApproximateReceiveCount": str(count),
                    "SentTimestamp": sent_ms,
                    "SenderId": sender,
                    "ApproximateFirstReceiveTimestamp": first_ms.decode(),
                }
            out.append(
                message(
                    message_id,
                    f"{handle_prefix}{message_id}{handle_suffix}",
                    body,
                    md5_of_body,
                    attrs,
                    attributes,
                    md5_of_attributes,
                )
            )
        if corrupt:
            await self._quarantine(ref, corrupt, token)
        return out

    async def _quarantine(self, ref: QueueRef, corrupt: list[tuple[str, str]], token: str) -> None:
        """Set undecodable messages aside (T16) so they never block the queue or crash a worker."""
        args: list[Any] = [ref.inc, self._offset_ms()]
        for message_id, reason in corrupt:
            args += (message_id, token, reason)
            log.warning(
                "redis.message_quarantined",
                queue=ref.name,
                message_id=message_id,
                reason=reason,
                key=ref.keys.key("quarantine").decode(),
            )
        reply = await self._eval(SCRIPTS["quarantine"], ref.keys.all, args)
        if reply[0] == 1 and reply[1]:
            self.quarantine_tally.add(ref.name, reply[1])

    # -- delete / change visibility -------------------------------------------------------------

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        handles = list(receipt_handles)
        if not handles:
            return []
        split: list[_SplitHandles] = []

        def args(r: QueueRef) -> list[Any]:
            split[:] = [_split_handles(r.inc, handles)]
            return [r.inc, 0, "1" if split[0].repeated else "", *split[0].pairs]

        _, reply = await self._run("delete", queue, args)
        done = split[0]  # what the last attempt sent (a re-created queue means a new incarnation)
        failed = [(index, 1) for index in done.invalid]
        failed += ((done.sent[reply[i] - 1], reply[i + 1]) for i in range(1, len(reply), 2))
        failed.sort()
        return [BatchEntryError(handles[i], ENTRY_CODES[code], _ENTRY_MESSAGES[code]) for i, code in failed]

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        changes = list(changes)
        if not changes:
            return []
        args: list[Any] = []
        errors: list[str | None] = []
        for change in changes:
            error = limits.check_visibility_timeout(change.visibility_timeout)
            errors.append(error)
            args += (change.receipt_handle, -1 if error else round(change.visibility_timeout * 1000))
        _, reply = await self._run("change_visibility", queue, lambda r: (r.inc, self._offset_ms(), *args))
        failed = []
        for i in range(1, len(reply), 2):
            index, code = reply[i] - 1, reply[i + 1]
            message = errors[index] if code == 4 else _ENTRY_MESSAGES[code]
            failed.append(BatchEntryError(changes[index].receipt_handle, ENTRY_CODES[code], message or ""))
        return failed

    # -- redrive --------------------------------------------------------------------------------

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        """Move dead letters back (ESM-DLQ-6).

        Each batch is leased from the DLQ like a receive that counts nothing, then enqueued as new
        messages. When the destination shares the DLQ's hash slot (always for the queue a message
        came from, which adopted its DLQ's tag) enqueue and removal are one script; otherwise the
        copy is made first and the DLQ copy deleted after: at-least-once, never lost.
        """
        dlq = await self._ref(dead_letter_queue)
        if destination is not None:
            target = await self._ref(destination)
            if target.fifo != dlq.fifo:
                raise InvalidParameterValue(
                    "The destination queue must be of the same type as the dead-letter queue."
                )
            if destination == dead_letter_queue:
                raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
        if max_per_second is not None and max_per_second < 1:
            raise InvalidParameterValue(f"max_per_second must be at least 1, not {max_per_second}")
        budget = (await self.get_queue(dead_letter_queue)).counts.visible
        moved = failed = 0
        unmovable: list[str] = []
        started = time.monotonic()
        token = os.urandom(8).hex()
        while moved + failed + len(unmovable) < budget:
            batch = min(budget - moved - failed - len(unmovable), 100)
            if max_per_second:
                batch = min(batch, max(1, max_per_second // 10))
                index = moved + failed + len(unmovable) + batch - 1
                await asyncio.sleep(max(0.0, started + index / max_per_second - time.monotonic()))
            dlq, reply = await self._run(
                "receive",
                dead_letter_queue,
                lambda r, n=batch: (r.inc, self._offset_ms(), n, _REDRIVE_LEASE_MS, token, "t", "", ""),
                with_dlq=True,
            )
            if len(reply) <= 2:
                break
            by_target: dict[str, list[tuple[str, codec.Envelope, str]]] = {}
            corrupt = []
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
            if corrupt:
                await self._quarantine(dlq, corrupt, token)
                failed += len(corrupt)
            for name, items in by_target.items():
                try:
                    target = await self._ref(name)
                except QueueDoesNotExist:
                    unmovable += [f"{dlq.inc}:{mid}:{token}" for mid, _, _ in items]
                    continue
                done = await self._redrive_into(dlq, target, items, token)
                moved += done
                failed += len(items) - done
        if unmovable:  # make them visible again in the DLQ now rather than after the lease
            await self.change_visibility(dead_letter_queue, [VisibilityChange(h, 0) for h in unmovable])
            failed += len(unmovable)
        return RedriveResult(moved, failed)

    async def _redrive_into(
        self, dlq: QueueRef, target: QueueRef, items: list[tuple[str, codec.Envelope, str]], token: str
    ) -> int:
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
            args += (self._ids.next(), prefix, envelope.group_id or "", message_id, token)
        keys = target.keys.all + (dlq.keys.all if same_slot else target.keys.all)
        reply = await self._eval(
            SCRIPTS["redrive"],
            keys,
            [target.inc, dlq.inc, self._offset_ms(), "1" if same_slot else "0", len(items), *args],
        )
        if reply[0] < 0:
            raise QueueDoesNotExist(target.name if reply[0] == ScriptError.QUEUE_DOES_NOT_EXIST else dlq.name)
        done = sum(1 for new_id in reply[1:] if new_id)
        if not same_slot:
            await self.delete(dlq.name, [f"{dlq.inc}:{mid}:{token}" for mid, _, _ in items])
        return done

    # -- peek, failure notes --------------------------------------------------------------------

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        ref, reply = await self._run("peek", queue, lambda r: (r.inc, self._offset_ms(), max_messages))
        out = []
        sender = arn.account_id()
        for i in range(1, len(reply), 6):
            message_id = reply[i].decode()
            envelope = codec.decode(reply[i + 1] or None)
            _, count, first, _, _, src, _ = (reply[i + 2].decode().split("|", 6) + [""] * 7)[:7]
            last_error = reply[i + 3].decode("utf-8", "replace") or None
            if type(envelope) is str:
                body, attributes, message_attributes = "", {}, {}
                last_error = f"corrupt envelope ({envelope}); it will be quarantined when received"
                visible_at = reply[i + 5]
            else:
                body, message_attributes = envelope.body, envelope.attributes
                attributes = system_attributes(
                    receive_count=int(count or 0),
                    sent_ms=int(envelope.sent_ms),
                    first_receive_ms=int(first or 0),
                    sender_id=sender,
                    sequence_number=envelope.sequence_number,
                    group_id=envelope.group_id if ref.fifo else None,
                    dedup_id=(message_id if src else envelope.dedup_id) if ref.fifo else None,
                    trace_header=envelope.trace_header,
                    dead_letter_source_arn=arn.queue_arn(src) if src else None,
                )
                visible_at = reply[i + 5] or int(envelope.sent_ms)
            out.append(
                PeekedMessage(
                    message_id=message_id,
                    body=body,
                    attributes=attributes,
                    message_attributes=message_attributes,
                    state=_PEEK_STATES[reply[i + 4]],  # type: ignore[arg-type]
                    visible_at=visible_at,
                    last_error=last_error,
                )
            )
        return out

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        args: list[Any] = []
        for note in notes:
            args += (note.receipt_handle, note.error[:_MAX_ERROR_TEXT])
        if args:
            await self._run("record_failures", queue, lambda r: (r.inc, *args))

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        if not message_ids:
            await self._ref(queue)  # QueueDoesNotExist all the same
            return []
        _, reply = await self._run("delete_by_id", queue, lambda r: (r.inc, *message_ids))
        return [item.decode() for item in reply[1:]]

    # -- quarantine (RELIABILITY T16) -----------------------------------------------------------

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        """The queue's quarantined messages, oldest first (see the protocol). The receive script
        sets aside what it can judge without decoding (oversize, missing envelope, unreadable
        state: ``bad-state``); the client what does not decode (``undecodable:...``,
        ``unknown-format``, ``bad-field-type``, ``bad-attributes``)."""
        limits.check_max_messages(max_messages)
        _, reply = await self._run(
            "quarantine_list", queue, lambda r: (r.inc, max_messages, QUARANTINE_PREVIEW_BYTES)
        )
        out = []
        for i in range(2, len(reply), 4):
            reason, at = [*reply[i + 1].decode("utf-8", "replace").split("|", 2), ""][:2]
            out.append(
                QuarantinedMessage(
                    message_id=reply[i].decode("utf-8", "replace"),
                    reason=reason,
                    quarantined_at=int(at) if at.isdigit() else 0,
                    raw_preview=bytes(reply[i + 2]),
                    raw_size=int(reply[i + 3]),
                )
            )
        return out

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        """Put quarantined messages back (see the protocol). When the destination shares the
        queue's hash slot (the queue itself, its dead-letter queue) enqueueing and leaving the
        quarantine are one script; otherwise the copy is made first and the quarantine entry
        removed after (at-least-once; a restore run twice finds the id already there)."""
        source = await self._ref(queue)
        target = await self._ref(destination) if destination is not None else source
        check_destination(source.spec, target.spec)
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return []
        key = source.keys.key("quarantine")
        values = await self._call("HMGET", key, *(f for i in ids for f in (i, i + "\0raw")))
        failed: list[BatchEntryError] = []
        plans: list[tuple[str, Restore]] = []
        for index, message_id in enumerate(ids):
            info, raw = values[2 * index], values[2 * index + 1]
            if info is None:
                failed.append(_not_quarantined(message_id, queue))
                continue
            state = info.split(b"|", 2)[2] if info.count(b"|") >= 2 else b""
            plan = plan_restore(
                source.spec, target.spec, message_id, codec.readable(message_id, raw, state), body_only
            )
            if isinstance(plan, BatchEntryError):
                failed.append(plan)
            else:
                plans.append((message_id, plan))
        if not plans:
            return failed
        same_slot = target.tag == source.tag
        args: list[Any] = []
        for _, plan in plans:
            entry = plan.entry
            attributes = dict(entry.message_attributes)
            prefix = codec.encode_prefix(
                entry.body,
                attributes,
                digest.md5_of_body(entry.body),
                digest.md5_of_message_attributes(attributes) if attributes else None,
                entry.message_group_id,
                entry.message_deduplication_id,
                entry.trace_header,
            )
            args += (plan.message_id, prefix, entry.message_group_id or "", plan.dead_letter_source or "")
        reply = await self._eval(
            SCRIPTS["restore"],
            target.keys.all + (source.keys.all if same_slot else target.keys.all),
            [target.inc, source.inc, self._offset_ms(), "1" if same_slot else "0", len(plans), *args],
        )
        if reply[0] < 0:
            raise QueueDoesNotExist(target.name if reply[0] == ScriptError.QUEUE_DOES_NOT_EXIST else queue)
        restored = []
        for (message_id, plan), code in zip(plans, reply[1:], strict=True):
            if code == 1:
                restored.append(message_id)
            elif code == 0:
                failed.append(_not_quarantined(message_id, queue))
            else:
                failed.append(
                    BatchEntryError(
                        message_id,
                        "MessageIdInUse",
                        f"{target.name!r} already holds a message with id {plan.message_id}: it stays "
                        "in quarantine (was it restored already?).",
                    )
                )
        if restored and not same_slot:
            await self._run("unquarantine", queue, lambda r: (r.inc, "0", *restored))
        return failed

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        if message_ids is None:
            _, reply = await self._run("unquarantine", queue, lambda r: (r.inc, "1"))
        else:
            ids = list(dict.fromkeys(message_ids))
            if not ids:
                return 0
            _, reply = await self._run("unquarantine", queue, lambda r: (r.inc, "0", *ids))
        return int(reply[1])

    # -- inspection helpers (CLI, tests) --------------------------------------------------------

    # -- the shared record store ----------------------------------------------------------------

    async def _records(self, kind: str, *args: Any) -> list[Any]:
        keys = record_keys(kind, self._settings.prefix)
        return await self._eval(SCRIPTS["records"], keys, [args[0], self._offset_ms(), *args[1:]])

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        text = limits.check_record(kind, key, value, ttl_seconds)
        ttl = "" if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        await self._records(kind, "put", key, text, ttl)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        limits.check_record(kind, key)
        reply = await self._records(kind, "get", key)
        return json.loads(reply[1]) if reply[0] == 1 else None

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        limits.check_record(kind, "-")
        reply = await self._records(kind, "list", "")
        return {reply[i].decode(): json.loads(reply[i + 1]) for i in range(1, len(reply), 2)}

    async def delete_record(self, kind: str, key: str) -> bool:
        limits.check_record(kind, key)
        return bool((await self._records(kind, "del", key))[0] == 1)

    def ready_list_key(self, queue: str) -> str:
        """The key a KEDA ``redis`` scaler should count with LLEN (standard queues; queue must be
        known to this process, e.g. after ``get_queue``)."""
        return self._refs[queue].keys.ready.decode()


def _not_quarantined(message_id: str, queue: str) -> BatchEntryError:
    return BatchEntryError(
        message_id, QUARANTINE_NOT_FOUND, f"No message {message_id!r} in the quarantine of {queue!r}."
    )


def _config_value(reply: Any) -> str | None:
    if isinstance(reply, dict):
        value = next(iter(reply.values()), None)
    elif isinstance(reply, list | tuple) and len(reply) >= 2:
        value = reply[1]
    else:
        return None
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["RedisBackend"]

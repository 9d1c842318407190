"""What every Redis operation shares: the transport, the cached queue registrations, and the
runner of per-queue scripts that keeps a client's cache honest.

The operation modules (:mod:`~qworker_redis.send`, :mod:`~qworker_redis.receive`,
:mod:`~qworker_redis.acks`, ...) are functions of a :class:`Core`; :class:`~qworker_redis.
backend.RedisBackend` owns one and is their public face. The Python side validates input,
packs envelopes, calls scripts by SHA and decodes what they return; it never reads and then
writes. Deadlines, SentTimestamp and receive times come from Redis's clock (``TIME`` inside the
scripts), so workers with skewed clocks cannot redeliver early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from qworker.backend import QuarantineTally
from qworker.errors import QueueDoesNotExist
from qworker.safe_receive import GiveBacks
from qworker_redis import codec
from qworker_redis.connection import Settings
from qworker_redis.fastlane import pack_head
from qworker_redis.keys import incarnation_key, registry_key
from qworker_redis.queues import QueueRef, meta_fields
from qworker_redis.scripts import SCRIPTS, Script, ScriptError
from qworker_redis.transport import Transport


class SpecChanged(Exception):  # a signal inside send(), never raised to callers
    """A send script refused: the queue's attributes changed since the entries were validated."""

    def __init__(self, ref: QueueRef) -> None:
        super().__init__(ref.name)
        self.ref = ref


class Core:
    """One backend object's state: its transport, its registrations cache, its clock offset."""

    def __init__(self, settings: Settings, clock_offset: Callable[[], float] | None) -> None:
        self.settings = settings
        self.transport = Transport(settings)
        self.cluster = settings.cluster
        self.prefix = settings.prefix
        self.registry = registry_key(settings.prefix)
        self.incarnations = incarnation_key(settings.prefix)
        self.clock_offset = clock_offset
        self.refs: dict[str, QueueRef] = {}
        self.ids = codec.MessageIds()
        self.give_backs = GiveBacks()  #: receives cut short by a cancellation, giving back
        #: messages this object set aside, by queue (the worker's quarantine counter)
        self.quarantine_tally = QuarantineTally()
        #: queue -> monotonic time until which its (cross-slot) DLQ is taken to be gone
        self.dlq_gone: dict[str, float] = {}

    def offset_ms(self) -> int:
        """The test clock offset every script adds to Redis's clock (0 in production)."""
        return 0 if self.clock_offset is None else round(self.clock_offset() * 1000)

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        """One plain command (redis-py), with the transport's retries."""
        return await self.transport.call(*args, **kwargs)

    async def eval(self, name: str, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        """Run script ``name`` with these KEYS (a call that is not about one cached queue)."""
        return await self.transport.eval(SCRIPTS[name], keys, args)

    # -- queue registrations --------------------------------------------------------------------

    async def ref(self, queue: str, refresh: bool = False) -> QueueRef:
        """The cached registration of ``queue``, or (``refresh``, or none cached) the registry's.
        A refresh that finds the registration cached keeps the cached ref, whose spec revision
        may be newer than the registry entry's (which is the spec at creation)."""
        cached = self.refs.get(queue)
        if cached is not None and not refresh:
            return cached
        raw = await self.call("HGET", self.registry, queue)
        if raw is None:
            self.refs.pop(queue, None)
            raise QueueDoesNotExist(queue)
        if cached is not None and cached.raw == raw:
            return cached
        ref = self.refs[queue] = QueueRef.from_registration(raw, self.prefix, cluster=self.cluster)
        return ref

    def adopt(self, ref: QueueRef) -> QueueRef:
        """Cache ``ref`` (a newer spec revision of a queue) unless the cache moved on to another
        incarnation meanwhile; returns it."""
        cached = self.refs.get(ref.name)
        if cached is None or cached.inc == ref.inc:
            self.refs[ref.name] = ref
        return ref

    def respec(self, ref: QueueRef, rev: Any, blob: Any) -> QueueRef:
        """``ref`` at the spec revision a script reported (``{-3, rev, spec}`` or counts)."""
        text = rev.decode() if isinstance(rev, bytes) else str(rev)
        return self.adopt(ref.respec(text, blob or b"", cluster=self.cluster))

    async def current(self, ref: QueueRef) -> QueueRef:
        """``ref`` with the queue's current spec (one HMGET on its meta HASH). A queue gone or
        created again is left to the next script call to find out."""
        inc, rev, blob = await self.call("HMGET", ref.keys.key("meta"), "inc", "rev", "spec")
        if inc is None or inc.decode() != ref.inc:
            return ref
        text = rev.decode() if rev else "0"
        return ref if text == ref.rev else self.respec(ref, text, blob)

    # -- per-queue scripts ----------------------------------------------------------------------

    @staticmethod
    def script_call(script: Script, ref: QueueRef) -> tuple[tuple[bytes, ...], bytes]:
        """The KEYS of ``script`` on ``ref`` (Q: the queue, D: its dead-letter queue) and the
        packed head of the call, cached on ``ref``."""
        call = ref.calls.get(script.name)
        if call is None:
            keys = script.keys_for(Q=ref.keys, D=ref.dlq_keys)
            call = ref.calls[script.name] = (keys, pack_head(script.sha, keys))
        return call

    async def run(
        self,
        name: str,
        queue: str,
        args: Callable[[QueueRef], Sequence[Any]],
        *,
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
        (``args`` is called again with it), or raise :class:`SpecChanged` (``"raise"``)."""
        script = SCRIPTS[name]
        ref = await self.ref(queue, refresh=fresh)
        missing = 0
        while True:
            call = ref.calls.get(name)  # the hot path: the cached KEYS and head, no call
            keys, head = call if call is not None else self.script_call(script, ref)
            reply = await self.transport.eval(script, keys, args(ref), head)
            code = reply[0]
            if code == ScriptError.STALE_SPEC:
                ref = self.respec(ref, reply[1], reply[2])
                if on_stale_spec == "raise":
                    raise SpecChanged(ref)
                continue
            if code != ScriptError.QUEUE_DOES_NOT_EXIST:
                return ref, reply
            missing += 1
            if missing >= 3:
                break
            stale = ref.inc
            ref = await self.ref(queue, refresh=True)
            if ref.inc == stale and not await self.make(ref, new=False):
                break
        self.refs.pop(queue, None)
        raise QueueDoesNotExist(queue)

    async def make(self, ref: QueueRef, *, new: bool) -> bool:
        """Register ``ref`` (``new``) or confirm the registry still holds it, and make its keys.

        Single node: one script does both (``register``), so the registry and the queue's keys
        never disagree. Redis Cluster: the registry is in another hash slot, so the registry
        entry is added first (HSETNX) and the keys made after by a script fenced by incarnation
        (``create``), which refuses when a newer incarnation or a delete of this one got there
        first. False when the registration is not (or no longer) the one in the registry."""
        fields: list[Any] = [self.offset_ms(), *meta_fields(ref.spec)]
        for key, value in ref.initial_tags:  # tags given at creation (SQS CreateQueue tags)
            fields += (f"tag:{key}", value)
        if not self.cluster:
            script = SCRIPTS["register"]
            keys = script.keys_for(Q=ref.keys, G={"registry": self.registry.encode()})
            reply = await self.transport.eval(
                script, keys, [ref.name, ref.raw, "new" if new else "same", ref.inc, *fields]
            )
            return bool(reply[0] == 1)
        if new and not await self.call("HSETNX", self.registry, ref.name, ref.raw):
            return False
        script = SCRIPTS["create"]
        reply = await self.transport.eval(script, script.keys_for(Q=ref.keys), [ref.inc, *fields])
        return bool(reply[0] == 1)

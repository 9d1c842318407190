"""Queue registrations: how a queue's spec, hash tag and incarnation are stored and cached.

A client caches each queue as a :class:`QueueRef`. The registry entry (tag, incarnation, the
spec at creation, the tags given at creation) never changes; later attribute changes live in the
queue's meta HASH (``rev`` and ``spec``, see :mod:`qworker_redis.keys`), and the scripts tell a
client whose revision is behind (:meth:`QueueRef.respec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack

from qworker.backend import QueueSpec, RedrivePolicy
from qworker_redis.keys import QueueKeys


def spec_to_dict(spec: QueueSpec) -> dict[str, Any]:
    """A QueueSpec as plain msgpack-able values."""
    policy = spec.redrive_policy
    return {
        "name": spec.name,
        "visibility_timeout": spec.visibility_timeout,
        "message_retention_period": spec.message_retention_period,
        "delay_seconds": spec.delay_seconds,
        "maximum_message_size": spec.maximum_message_size,
        "receive_wait_time_seconds": spec.receive_wait_time_seconds,
        "redrive_policy": None
        if policy is None
        else {"dead_letter_queue": policy.dead_letter_queue, "max_receive_count": policy.max_receive_count},
        "content_based_deduplication": spec.content_based_deduplication,
        "deduplication_scope": spec.deduplication_scope,
        **(
            {"extra_attributes": [list(pair) for pair in spec.extra_attributes]}
            if spec.extra_attributes
            else {}
        ),
    }


def spec_from_dict(data: dict[str, Any]) -> QueueSpec:
    policy = data.get("redrive_policy")
    return QueueSpec(
        name=data["name"],
        visibility_timeout=data["visibility_timeout"],
        message_retention_period=data["message_retention_period"],
        delay_seconds=data["delay_seconds"],
        maximum_message_size=data["maximum_message_size"],
        receive_wait_time_seconds=data["receive_wait_time_seconds"],
        redrive_policy=None if policy is None else RedrivePolicy(**policy),
        content_based_deduplication=data["content_based_deduplication"],
        deduplication_scope=data["deduplication_scope"],
        extra_attributes=tuple((name, value) for name, value in data.get("extra_attributes", ())),
    )


def spec_blob(spec: QueueSpec, dlq_tag: str | None) -> bytes:
    """The meta HASH's ``spec`` field: the spec and its dead-letter queue's hash tag."""
    return msgpack.packb({"spec": spec_to_dict(spec), "dlqtag": dlq_tag})


def spec_from_blob(blob: bytes) -> tuple[QueueSpec, str | None]:
    data = msgpack.unpackb(blob, raw=False)
    return spec_from_dict(data["spec"]), data.get("dlqtag")


def meta_fields(spec: QueueSpec) -> list[str | int]:
    """The attributes the scripts read from the queue's meta HASH (times in ms)."""
    policy = spec.redrive_policy
    return [
        "name",
        spec.name,
        "vt",
        round(spec.visibility_timeout * 1000),
        "ret",
        spec.message_retention_period * 1000,
        "delay",
        spec.delay_seconds * 1000,
        "maxrc",
        policy.max_receive_count if policy else 0,
        "dlq",
        policy.dead_letter_queue if policy else "",
        "fifo",
        "1" if spec.fifo else "0",
        "scope",
        spec.deduplication_scope,
    ]


#: how the receive script reaches the dead-letter queue (``ARGV[8]`` of receive-21.lua): ``a``
#: its keys are passed (same hash slot, or a single node); ``r`` another slot of a Redis Cluster:
#: leased to the client, which moves it; ``""`` no RedrivePolicy
DlqMode = Literal["a", "r", ""]


@dataclass(frozen=True, slots=True)
class QueueRef:
    """A queue as this process knows it: cached until a script says the incarnation changed or
    that the spec revision moved on (:meth:`respec`)."""

    spec: QueueSpec
    tag: str
    inc: str
    keys: QueueKeys
    #: the keys scripts reach its dead-letter queue by (the D keys of receive-21.lua): the
    #: DLQ's in mode ``a``, else the queue's own
    dlq_keys: QueueKeys
    #: the registry entry this was read from (or will be written as): deletes compare it
    raw: bytes = field(default=b"", compare=False)
    #: per script name, the KEYS of a call on this queue and the packed ``EVALSHA sha numkeys
    #: KEYS...`` (:func:`~qworker_redis.fastlane.pack_head`): computed once, reused every call
    calls: dict[str, tuple[tuple[bytes, ...], bytes]] = field(default_factory=dict, compare=False)
    #: the spec revision (meta ``rev``): "0" = the spec of the registry entry
    rev: str = "0"
    #: the dead-letter queue's hash tag (None: this queue's own, as at creation)
    dlq_tag: str | None = None
    dlq_mode: DlqMode = ""
    #: tags given at creation (kept in the registry entry, so whoever finishes a create has them)
    initial_tags: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fifo(self) -> bool:
        return self.spec.fifo

    @classmethod
    def build(
        cls,
        spec: QueueSpec,
        tag: str,
        inc: str,
        prefix: str,
        raw: bytes | None = None,
        *,
        rev: str = "0",
        dlq_tag: str | None = None,
        cluster: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> QueueRef:
        keys = QueueKeys.build(spec.name, tag, prefix)
        policy = spec.redrive_policy
        mode: DlqMode = ""
        dlq_keys = keys
        if policy is not None:
            mode = "a"
            dlq_keys = QueueKeys.build(policy.dead_letter_queue, dlq_tag or tag, prefix)
            if cluster and _slot(dlq_keys.all[0]) != _slot(keys.all[0]):
                mode, dlq_keys = "r", keys
        initial = tuple(sorted((tags or {}).items()))
        if raw is None:
            registration: dict[str, Any] = {"tag": tag, "inc": inc, "spec": spec_to_dict(spec)}
            if initial:
                registration["tags"] = dict(initial)
            raw = msgpack.packb(registration)
        return cls(spec, tag, inc, keys, dlq_keys, raw, {}, rev, dlq_tag, mode, initial)

    @classmethod
    def from_registration(cls, raw: bytes, prefix: str, *, cluster: bool = False) -> QueueRef:
        data = msgpack.unpackb(raw, raw=False)
        return cls.build(
            spec_from_dict(data["spec"]),
            data["tag"],
            data["inc"],
            prefix,
            raw,
            cluster=cluster,
            tags=data.get("tags"),
        )

    def respec(self, rev: str, blob: bytes, *, cluster: bool) -> QueueRef:
        """This queue at spec revision ``rev`` (``blob``: the meta HASH's ``spec``); the same
        incarnation and registration."""
        if not blob:  # revision 0: the registration's spec
            base = msgpack.unpackb(self.raw, raw=False)
            spec, dlq_tag = spec_from_dict(base["spec"]), None
        else:
            spec, dlq_tag = spec_from_blob(blob)
        built = QueueRef.build(
            spec, self.tag, self.inc, self.keys.prefix, self.raw, rev=rev, dlq_tag=dlq_tag, cluster=cluster
        )
        return QueueRef(
            built.spec, built.tag, built.inc, built.keys, built.dlq_keys, self.raw, {}, rev,
            dlq_tag, built.dlq_mode, self.initial_tags,
        )  # fmt: skip


def _slot(key: bytes) -> int:
    """The key's Redis Cluster hash slot (redis-py is imported only on a cluster)."""
    from redis.crc import key_slot

    return key_slot(key)

"""Queue registrations: how a queue's spec, hash tag and incarnation are stored and cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    )


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


@dataclass(frozen=True, slots=True)
class QueueRef:
    """A queue as this process knows it: cached until a script says the incarnation changed."""

    spec: QueueSpec
    tag: str
    inc: str
    keys: QueueKeys
    #: KEYS of the receive script: the queue's keys then its DLQ's (or its own again)
    receive_keys: tuple[bytes, ...]
    #: the registry entry this was read from (or will be written as): deletes compare it
    raw: bytes = field(default=b"", compare=False)
    #: packed ``EVALSHA sha numkeys KEYS...`` per script name (see scripts.pack_head)
    heads: dict[str, bytes] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fifo(self) -> bool:
        return self.spec.fifo

    @classmethod
    def build(cls, spec: QueueSpec, tag: str, inc: str, prefix: str, raw: bytes | None = None) -> QueueRef:
        keys = QueueKeys.build(spec.name, tag, prefix)
        policy = spec.redrive_policy
        dlq_keys = QueueKeys.build(policy.dead_letter_queue, tag, prefix) if policy else keys
        if raw is None:
            raw = msgpack.packb({"tag": tag, "inc": inc, "spec": spec_to_dict(spec)})
        return cls(spec, tag, inc, keys, keys.all + dlq_keys.all, raw)

    @classmethod
    def from_registration(cls, raw: bytes, prefix: str) -> QueueRef:
        data = msgpack.unpackb(raw, raw=False)
        return cls.build(spec_from_dict(data["spec"]), data["tag"], data["inc"], prefix, raw)

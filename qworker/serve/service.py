"""What the SQS actions call: the backend, plus the few things SQS has that a queue backend
does not keep by itself.

Everything about queues and messages goes to the backend protocol and nothing else (DESIGN.md),
so ``qworker run``, ``qworker send`` and ``qworker queue stats`` see the same queues. The backend
protocol is growing the rest (queue tags, attribute changes, the attributes qworker only stores
such as ``Policy``, purge's 60-second rule, a record store for move tasks): this class uses those
methods when the backend has them and otherwise keeps the same state in this process, so the
API works on any backend, with that state per server process until the backend keeps it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from qworker.backend import Backend, QueueInfo, QueueSpec
from qworker.errors import QueueDoesNotExist, QueueNameExists
from qworker.serve.errors import SQSError

PURGE_INTERVAL = 60.0  #: SQS allows one PurgeQueue per queue every 60 seconds
_SPEC_FIELDS = {f.name for f in dataclasses.fields(QueueSpec)}
#: True once QueueSpec carries ``extra_attributes`` (Policy, RedriveAllowPolicy, KMS settings)
SPEC_HAS_EXTRAS = "extra_attributes" in _SPEC_FIELDS


def spec_extras(spec: QueueSpec) -> dict[str, str]:
    return dict(getattr(spec, "extra_attributes", None) or {})


def with_extras(spec: QueueSpec, extras: Mapping[str, str]) -> QueueSpec:
    """``spec`` carrying ``extras`` where QueueSpec can hold them."""
    if SPEC_HAS_EXTRAS:
        return dataclasses.replace(spec, extra_attributes=dict(extras))  # type: ignore[call-arg]
    return spec


class Service:
    """The backend and the server's per-process state; one per server process."""

    def __init__(self, backend: Backend) -> None:
        from qworker.serve.actions.receive import AttemptCache
        from qworker.serve.tasks import TaskBook

        self.backend = backend
        self._tags: dict[str, dict[str, str]] = {}
        self._extras: dict[str, dict[str, str]] = {}
        self._purged: dict[str, float] = {}
        self.attempts = AttemptCache()
        self.tasks = TaskBook(backend)

    def _has(self, method: str) -> bool:
        return callable(getattr(self.backend, method, None))

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, extras: dict[str, str], tags: dict[str, str]) -> None:
        """CreateQueue: idempotent with the same attributes, ``QueueNameExists`` otherwise."""
        if SPEC_HAS_EXTRAS:
            spec = with_extras(spec, extras)
            if tags and self._has("tag_queue"):
                await self.backend.create_queue(spec, tags=tags)  # type: ignore[call-arg]
            else:
                await self.backend.create_queue(spec)
            return
        existing = None
        try:
            existing = await self.backend.get_queue(spec.name)
        except QueueDoesNotExist:
            pass
        if existing is not None and self._extras.get(spec.name, {}) != extras:
            changed = sorted(set(extras) ^ set(self._extras.get(spec.name, {})) or set(extras))
            raise QueueNameExists(
                f"A queue already exists with the same name and a different value for attribute {changed[0]}"
            )
        await self.backend.create_queue(spec)
        if existing is None:
            self._extras[spec.name] = dict(extras)
            self._tags[spec.name] = dict(tags)

    async def get_queue(self, name: str) -> QueueInfo:
        return await self.backend.get_queue(name)

    def extras_of(self, info: QueueInfo) -> dict[str, str]:
        """The stored-only attributes of a queue (``Policy``, ``RedriveAllowPolicy``, ...)."""
        if SPEC_HAS_EXTRAS:
            return spec_extras(info.spec)
        return dict(self._extras.get(info.spec.name, {}))

    async def set_queue_attributes(self, name: str, spec: QueueSpec, extras: dict[str, str]) -> None:
        """SetQueueAttributes: the whole new spec (already validated) and stored-only attributes."""
        if self._has("set_queue_attributes"):
            await self.backend.set_queue_attributes(name, with_extras(spec, extras))  # type: ignore[attr-defined]
            return
        current = await self.backend.get_queue(name)
        if current.spec != spec:
            raise SQSError(
                "UnsupportedOperation",
                f"The backend {type(self.backend).__name__} cannot change a queue's attributes yet; only "
                "Policy, RedriveAllowPolicy and the encryption settings can be changed.",
            )
        self._extras[name] = dict(extras)

    async def delete_queue(self, name: str) -> None:
        await self.backend.delete_queue(name)
        self.attempts.forget_queue(name)
        self._tags.pop(name, None)
        self._extras.pop(name, None)
        self._purged.pop(name, None)

    async def purge_queue(self, name: str) -> None:
        """PurgeQueue; a second purge of a queue within 60 s is ``PurgeQueueInProgress``."""
        if self._has("tag_queue"):  # the protocol that has tags enforces the 60 s rule itself
            await self.backend.purge_queue(name)
            return
        await self.backend.get_queue(name)
        now = time.monotonic()
        last = self._purged.get(name)
        if last is not None and now - last < PURGE_INTERVAL:
            raise SQSError(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.",
            )
        self._purged[name] = now
        await self.backend.purge_queue(name)

    # -- tags -----------------------------------------------------------------------------------

    async def tag_queue(self, name: str, tags: dict[str, str]) -> None:
        if self._has("tag_queue"):
            await self.backend.tag_queue(name, tags)  # type: ignore[attr-defined]
            return
        await self.backend.get_queue(name)
        self._tags.setdefault(name, {}).update(tags)

    async def untag_queue(self, name: str, keys: list[str]) -> None:
        if self._has("untag_queue"):
            await self.backend.untag_queue(name, keys)  # type: ignore[attr-defined]
            return
        await self.backend.get_queue(name)
        held = self._tags.setdefault(name, {})
        for key in keys:
            held.pop(key, None)

    async def queue_tags(self, name: str) -> dict[str, str]:
        if self._has("queue_tags"):
            return dict(await self.backend.queue_tags(name))  # type: ignore[attr-defined]
        await self.backend.get_queue(name)
        return dict(self._tags.get(name, {}))

    async def close(self) -> None:
        """Stop this process's move tasks (their messages stay where they are)."""
        await self.tasks.close()

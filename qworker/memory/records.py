"""The shared record store (worker heartbeats, message-move tasks) kept in the store's dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qworker import limits
from qworker.memory.base import MemoryBase


class RecordsMixin(MemoryBase):
    """:meth:`qworker.backend.Backend.put_record` and its siblings: JSON text under
    ``(kind, key)``, each with its expiry; expired records are dropped when their kind is read."""

    def _live_records(self, kind: str) -> dict[str, tuple[str, int | None]]:
        now = self.now_ms()
        records = self.store.records.setdefault(kind, {})
        for key in [k for k, (_, expires) in records.items() if expires is not None and expires <= now]:
            del records[key]
        return records

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        text = limits.check_record(kind, key, value, ttl_seconds)
        with self.store.lock:
            expires = None if ttl_seconds is None else self.now_ms() + round(ttl_seconds * 1000)
            self._live_records(kind)[key] = (text, expires)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        limits.check_record(kind, key)
        with self.store.lock:
            found = self._live_records(kind).get(key)
        return None if found is None else json.loads(found[0])

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        limits.check_record(kind, "-")
        with self.store.lock:
            live = dict(self._live_records(kind))
        return {key: json.loads(text) for key, (text, _) in live.items()}

    async def delete_record(self, kind: str, key: str) -> bool:
        limits.check_record(kind, key)
        with self.store.lock:
            return self._live_records(kind).pop(key, None) is not None

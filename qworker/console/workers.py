"""The worker registry as the console reads it: the live ``qworker run`` processes.

Workers publish their own records (:mod:`qworker.runtime.registry_heartbeat`) to the backend's
record store with an expiry; reading them is one ``list_records("worker")``. Records are written
by other processes, so every field is checked and anything malformed is skipped rather than
trusted (a record is untrusted input, rendered escaped like a message body).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import structlog

from qworker.backend import Backend
from qworker.runtime.registry_heartbeat import RECORD_KIND, has_record_store

log = structlog.get_logger("qworker.console")


@dataclass(frozen=True, slots=True)
class MappingView:
    """One function of a worker, attached to one queue."""

    function: str
    queue: str
    max_concurrency: int | None
    concurrency_target: float
    in_flight: float
    processed: float
    failed: float


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One live worker process."""

    id: str
    host: str
    pid: int
    version: str
    started: float
    heartbeat: float
    mappings: tuple[MappingView, ...]

    @property
    def heartbeat_age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)


class WorkerDirectory:
    """Reads the registry (refreshed by the sampler each round, so pages never wait on it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.available = has_record_store(backend)
        self.workers: list[WorkerView] = []
        self.error: str | None = None

    async def refresh(self) -> None:
        if not self.available:
            return
        try:
            records = await self.backend.list_records(RECORD_KIND)  # type: ignore[attr-defined]
        except Exception as exc:  # a view for people: the rest of the console still works
            self.error = str(exc)
            log.warning("could not read the worker registry", error=repr(exc))
            return
        self.error = None
        views = [view for view in (parse_record(key, value) for key, value in records.items()) if view]
        self.workers = sorted(views, key=lambda w: (w.host, w.pid, w.id))

    def processed_by_queue(self) -> dict[str, float]:
        """Messages processed so far per queue, summed over live workers."""
        totals: dict[str, float] = {}
        for worker in self.workers:
            for m in worker.mappings:
                totals[m.queue] = totals.get(m.queue, 0.0) + m.processed
        return totals

    def for_queue(self, queue: str) -> list[WorkerView]:
        return [w for w in self.workers if any(m.queue == queue for m in w.mappings)]


def parse_record(key: str, value: Any) -> WorkerView | None:
    """A worker record as published, or None when it is not one."""
    try:
        if isinstance(value, str | bytes):
            value = json.loads(value)
        mappings = tuple(
            MappingView(
                function=str(m["function"]),
                queue=str(m["queue"]),
                max_concurrency=None if m.get("max_concurrency") is None else int(m["max_concurrency"]),
                concurrency_target=float(m.get("concurrency_target", 0)),
                in_flight=float(m.get("in_flight", 0)),
                processed=float(m.get("processed", 0)),
                failed=float(m.get("failed", 0)),
            )
            for m in value.get("mappings", [])
        )
        return WorkerView(
            id=str(value.get("id", key)),
            host=str(value.get("host", "")),
            pid=int(value.get("pid", 0)),
            version=str(value.get("version", "")),
            started=float(value.get("started", 0)),
            heartbeat=float(value.get("heartbeat", 0)),
            mappings=mappings,
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None

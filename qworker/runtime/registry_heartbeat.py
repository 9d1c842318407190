"""The worker registry's publisher: each ``qworker run`` says "I am alive, and this is what I do".

The console's **Workers** page lists every live worker process. There is no process that could
know them all (workers start and stop on many hosts), so each worker writes its own record to
the backend's shared record store, with an expiry: a worker that dies (SIGKILL, a lost host)
disappears from the page when its record expires, with nobody to clean up after it. A worker
that stops cleanly deletes its record at once.

The record is ``put_record("worker", WORKER_ID, {...}, ttl)`` every :data:`DEFAULT_INTERVAL`
seconds with a time to live of :data:`TTL_FACTOR` intervals, so one late or lost write does
not make a live worker vanish. Backends without the record store (``capabilities.records``
False: SQS) get no heartbeat, and the console says the registry is unavailable there.

A failing write is logged and retried at the next beat: the registry is a view for people, and
must never stop or slow the worker that feeds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from qworker.backend import Backend
from qworker.runtime.metrics import MappingMetrics
from qworker.version import __version__

log = structlog.get_logger("qworker")

#: the record kind workers publish under (``list_records("worker")`` lists them)
RECORD_KIND = "worker"
#: seconds between two heartbeats
DEFAULT_INTERVAL = 5.0
#: a record lives this many intervals: a worker is gone after missing that many beats
TTL_FACTOR = 3


def has_record_store(backend: Backend) -> bool:
    """True when the backend can keep shared records (the registry needs them)."""
    return bool(getattr(backend.capabilities, "records", False)) and hasattr(backend, "put_record")


def new_worker_id() -> str:
    """A worker id unique across hosts and restarts: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RegistryHeartbeat:
    """Publishes one worker's record every ``interval`` seconds until stopped.

    ``mappings`` describes what the worker runs, read at every beat so the counts are current:
    each item gives ``(function, queue, max_concurrency, metrics)``.
    """

    def __init__(
        self,
        backend: Backend,
        mappings: Callable[[], Sequence[tuple[str, str, int | None, MappingMetrics]]],
        *,
        interval: float = DEFAULT_INTERVAL,
        worker_id: str | None = None,
    ) -> None:
        self.backend = backend
        self.mappings = mappings
        self.interval = interval
        self.worker_id = worker_id or new_worker_id()
        self.started = time.time()
        self._task: asyncio.Task[None] | None = None

    def record(self) -> dict[str, Any]:
        """The record as published: counts only, never a body, a URL or a secret (RELIABILITY §3.6)."""
        return {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "started": self.started,
            "heartbeat": time.time(),
            "interval": self.interval,
            "mappings": [
                {
                    "function": function,
                    "queue": queue,
                    "max_concurrency": max_concurrency,
                    "concurrency_target": metrics.concurrency_target.value,
                    "in_flight": metrics.in_flight.value,
                    "received": metrics.received.value,
                    "processed": metrics.deleted.value,
                    "failed": metrics.failed.value,
                }
                for function, queue, max_concurrency, metrics in self.mappings()
            ],
        }

    async def beat(self) -> None:
        """Publish the record once."""
        ttl = max(1, round(self.interval * TTL_FACTOR))
        await self.backend.put_record(RECORD_KIND, self.worker_id, self.record(), ttl)  # type: ignore[attr-defined]

    def start(self) -> None:
        """Start beating in the background (a no-op on backends without a record store)."""
        if has_record_store(self.backend) and self._task is None:
            self._task = asyncio.create_task(self._run(), name="qworker registry heartbeat")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a view for people: never let it stop the worker
                log.warning("could not publish the worker's heartbeat", error=repr(exc))
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop beating and remove the record, so the worker leaves the list at once."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.backend.delete_record(RECORD_KIND, self.worker_id),  # type: ignore[attr-defined]
                timeout=2,
            )

"""The server-side sampler: every few seconds, read every queue's counts into a cache and a
history, so pages render from memory.

Why in the server, not per page view: reading 1,000 queues takes far longer than a page may
(the overview renders in under 300 ms from this cache), and a chart of the last hour needs
someone to have looked every few seconds of it. One sampler serves every open page, so ten open
consoles cost the backend what one does.

Each round lists the queues, reads each one's counts (``get_queue``) and the age of its oldest
message (``peek(1)`` where the backend can), and reads the worker registry once. Throughput is
messages processed per second, from the workers' own counters (the registry) when workers
publish them; otherwise the fall in depth between two samples, which is exact only when nothing
is sent meanwhile, and is labelled as an estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from qworker import arn
from qworker.backend import Backend, QueueInfo
from qworker.console.history import History, Point
from qworker.console.workers import WorkerDirectory
from qworker.errors import QueueDoesNotExist, QWorkerError

log = structlog.get_logger("qworker.console")

#: queues read at once (a Redis or SQS backend answers them in parallel)
CONCURRENCY = 32
#: with no page open for this long, the sampler slows down to IDLE_INTERVAL
IDLE_AFTER = 120.0
#: seconds between samples while nobody looks (the charts keep a point a minute)
IDLE_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A queue as the last sample saw it."""

    name: str
    fifo: bool
    visible: int
    in_flight: int
    delayed: int
    oldest_age: float | None  #: seconds; None when the backend cannot look (SQS) or empty
    dead_letter_queue: str | None
    max_receive_count: int | None
    sampled_at: float
    quarantined: int = 0  #: set aside as undecodable (RELIABILITY T16)
    dlq_depth: int | None = None  #: filled once every queue of the round is read
    sources: tuple[str, ...] = ()  #: queues whose dead-letter queue this is

    @property
    def depth(self) -> int:
        return self.visible + self.in_flight + self.delayed

    @property
    def is_dlq(self) -> bool:
        return bool(self.sources)


@dataclass(slots=True)
class Sample:
    """The result of one round: every queue, keyed by name, and when it was taken."""

    queues: dict[str, QueueSnapshot] = field(default_factory=dict)
    at: float = 0.0
    version: int = 0
    error: str | None = None  #: the backend's error when the last round failed
    throughput_source: str = "depth"  #: "workers" when the registry's counters were used


class Sampler:
    """Samples every ``interval`` seconds in a background task (:meth:`start` / :meth:`stop`)."""

    def __init__(self, backend: Backend, workers: WorkerDirectory, interval: float, history_seconds: float):
        self.backend = backend
        self.workers = workers
        self.interval = interval
        self.history_size = int(history_seconds / interval) + 1
        self.sample = Sample()
        self.histories: dict[str, History] = {}
        self._processed: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._last_view = 0.0
        self.last_round_seconds = 0.0

    def touch(self) -> None:
        """A page or poll was served: sample at the full rate, and at once if it was idle."""
        now = time.monotonic()
        if now - self._last_view > IDLE_AFTER:
            self._wake.set()
        self._last_view = now

    def _delay(self) -> float:
        """Seconds until the next round: ``interval`` while pages are open, else slower, so an
        idle console with 1,000 queues costs the server well under 1 % of a core."""
        idle = time.monotonic() - self._last_view > IDLE_AFTER
        return max(self.interval, IDLE_INTERVAL) if idle else self.interval

    def start(self) -> None:
        if self._task is None:
            self._last_view = time.monotonic()  # just sampled: no need to wake for the first page
            self._task = asyncio.create_task(self._run(), name="qworker console sampler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.sample_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the console keeps serving the last good sample
                log.warning("console sampler round failed", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), max(0.5, self._delay() - (time.monotonic() - started))
                )

    async def sample_now(self) -> Sample:
        """Read every queue now (also after an action, so the page shows its effect)."""
        async with self._lock:
            started = time.monotonic()
            try:
                names = await self.backend.list_queues()
                infos = await _read_all(self.backend, names)
            except QWorkerError as exc:
                self.sample = replace(self.sample, error=str(exc))
                return self.sample
            await self.workers.refresh()
            now = time.time()
            previous = self.sample
            queues = _link_dead_letter_queues(infos, now)
            processed = self.workers.processed_by_queue()
            source = "workers" if processed else "depth"
            for name, snap in queues.items():
                self._record(name, snap, previous, processed, now)
            for gone in set(self.histories) - set(queues):
                del self.histories[gone]
            self.sample = Sample(queues, now, previous.version + 1, None, source)
            self.last_round_seconds = time.monotonic() - started
            return self.sample

    def _record(
        self, name: str, snap: QueueSnapshot, previous: Sample, processed: dict[str, float], now: float
    ) -> None:
        history = self.histories.get(name)
        if history is None:
            history = self.histories[name] = History(self.history_size)
        before = previous.queues.get(name)
        throughput: float | None = None
        elapsed = now - previous.at if previous.at else 0.0
        if processed:
            total = processed.get(name, 0.0)
            last = self._processed.get(name)
            if last is not None and elapsed > 0:
                throughput = max(0.0, total - last) / elapsed  # a restarted worker counts from 0
            self._processed[name] = total
        elif before is not None and elapsed > 0:
            throughput = max(0, before.depth - snap.depth) / elapsed
        history.add(Point(now, snap.visible + snap.delayed, snap.in_flight, throughput))


async def _read_all(backend: Backend, names: list[str]) -> dict[str, tuple[QueueInfo, float | None]]:
    """``get_queue`` (and the oldest message's age) of every queue, ``CONCURRENCY`` at a time;
    a queue deleted meanwhile is left out."""
    gate = asyncio.Semaphore(CONCURRENCY)
    can_peek = backend.capabilities.peek
    out: dict[str, tuple[QueueInfo, float | None]] = {}

    async def read(name: str) -> None:
        async with gate:
            try:
                info = await backend.get_queue(name)
                age = None
                if can_peek and info.counts.visible + info.counts.in_flight + info.counts.delayed:
                    oldest = await backend.peek(name, 1)
                    if oldest:
                        sent = int(oldest[0].attributes.get("SentTimestamp", "0")) / 1000
                        age = max(0.0, time.time() - sent) if sent else None
            except QueueDoesNotExist:
                return
            out[name] = (info, age)

    await asyncio.gather(*(read(name) for name in names))
    return out


def _link_dead_letter_queues(
    infos: dict[str, tuple[QueueInfo, float | None]], now: float
) -> dict[str, QueueSnapshot]:
    """Snapshots with each queue's DLQ depth and each DLQ's source queues filled in."""
    snaps: dict[str, QueueSnapshot] = {}
    sources: dict[str, list[str]] = {}
    for name in sorted(infos):
        info, age = infos[name]
        policy = info.spec.redrive_policy
        dlq = _dlq_name(policy.dead_letter_queue) if policy is not None else None
        if dlq is not None:
            sources.setdefault(dlq, []).append(name)
        counts = info.counts
        snaps[name] = QueueSnapshot(
            name=name,
            fifo=info.spec.fifo,
            visible=counts.visible,
            in_flight=counts.in_flight,
            delayed=counts.delayed,
            oldest_age=age,
            quarantined=counts.quarantined,
            dead_letter_queue=dlq,
            max_receive_count=policy.max_receive_count if policy is not None else None,
            sampled_at=now,
        )
    for name, snap in snaps.items():
        dlq = snap.dead_letter_queue
        depth = snaps[dlq].depth if dlq is not None and dlq in snaps else None
        snaps[name] = replace(snap, dlq_depth=depth, sources=tuple(sources.get(name, ())))
    return snaps


def _dlq_name(value: str) -> str:
    """A redrive policy's target as a queue name (some backends keep the ARN)."""
    return arn.queue_name_from_arn(value) if value.startswith("arn:") else value


def as_rows(snaps: Iterable[QueueSnapshot]) -> list[dict[str, Any]]:
    """The live-update JSON of the overview: one small list per queue."""
    return [
        {
            "name": s.name,
            "visible": s.visible,
            "in_flight": s.in_flight,
            "delayed": s.delayed,
            "oldest_age": None if s.oldest_age is None else round(s.oldest_age, 1),
            "dlq_depth": s.dlq_depth,
        }
        for s in snaps
    ]

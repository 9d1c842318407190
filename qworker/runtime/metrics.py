"""Prometheus metrics of the runtime, named by Prometheus conventions (``_total``, ``_seconds``).

They mirror Lambda's event source mapping counters (SPEC ESM-S-8: PolledEventCount,
FilteredOutEventCount, InvokedEventCount, FailedInvokeEventCount, DeletedEventCount) with
``queue`` and ``function`` labels.

The per-batch path only adds to plain Python numbers (a few hundred nanoseconds for a batch);
a custom collector (:mod:`qworker.runtime.metrics_export`, imported only when ``/metrics`` is
served) turns them into Prometheus families when ``/metrics`` is scraped. Going
through ``prometheus_client``'s own counters (a lock and several calls per update) cost more
than 10 µs per batch, a large share of a batch of one message.
"""

from __future__ import annotations

import bisect
from typing import Any

from qworker.backend import QuarantineTally

INVOCATION_OUTCOMES = (
    "success",
    "partial_failure",
    "all_items_failed",
    "invalid_response",
    "function_error",
    "timeout",
)
CUT_REASONS = ("count", "window", "payload", "available")
_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2500, 5000, 10000)
_DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
)  # fmt: skip


class Count:
    """A number the event loop adds to; read at scrape time."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class Buckets:
    """A histogram: counts per upper bound, the sum and the count."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        total = 0
        out = []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class MappingMetrics:
    """The metrics of one mapping (function + queue)."""

    def __init__(self, function: str, queue: str) -> None:
        self.labels = (queue, function)
        self.received = Count()
        self.deleted = Count()
        self.failed = Count()
        self.filtered = Count()
        self.dead_lettered = Count()
        self.in_flight = Count()
        self.concurrency_target = Count()
        self.stuck_threads = Count()
        self.slots_held = Count()
        self.batch_size = Buckets(_BATCH_SIZE_BUCKETS)
        self.duration = Buckets(_DURATION_BUCKETS)
        self.invocations = {outcome: Count() for outcome in INVOCATION_OUTCOMES}
        self.cuts = {cut: Count() for cut in CUT_REASONS}

    @classmethod
    def unregistered(cls, function: str, queue: str) -> MappingMetrics:
        """Metrics nobody scrapes, for runners made without a runtime."""
        return cls(function, queue)

    def observe_batch(self, size: int, cut: str, duration: float, outcome: str) -> None:
        self.batch_size.observe(size)
        self.duration.observe(duration)
        self.invocations[outcome].value += 1
        self.cuts[cut].value += 1


_COUNTERS = (
    ("qworker_messages_received", "Messages received from the queue", "received"),
    ("qworker_messages_deleted", "Messages deleted after processing", "deleted"),
    ("qworker_messages_failed", "Messages kept for a retry after a failure", "failed"),
    ("qworker_messages_filtered_out", "Records that matched no filter pattern", "filtered"),
    (
        "qworker_messages_dead_lettered",
        "Messages that failed on their last allowed receive (maxReceiveCount): the queue moves them "
        "to its dead-letter queue on their next receive",
        "dead_lettered",
    ),
)
_GAUGES = (
    ("qworker_invocations_in_flight", "Invocations running now", "in_flight"),
    ("qworker_concurrency_target", "Concurrent batches the scaling controller allows", "concurrency_target"),
    (
        "qworker_stuck_handler_threads",
        "Sync handler threads still running after their invocation timed out (threads cannot be stopped)",
        "stuck_threads",
    ),
    (
        "qworker_concurrency_slots_held",
        "Concurrency slots taken by handlers stuck past their timeout (beyond the stuck threads that are "
        "replaced) or by handler processes being replaced: the worker receives that much less",
        "slots_held",
    ),
)


class RuntimeMetrics:
    """Every metric of one runtime, as plain numbers. Its Prometheus side (a registry, the
    collector, the queue gauges) is :func:`qworker.runtime.metrics_export.exported`, built on first
    use by the ``/metrics`` server: a worker without a metrics port never imports
    ``prometheus_client``."""

    def __init__(self) -> None:
        self.mappings: list[MappingMetrics] = []
        #: the backends' counts of what they set aside (qworker_messages_quarantined_total)
        self.quarantine_tallies: list[QuarantineTally] = []
        #: the Prometheus side, once made (kept here so the monitor and the server share it)
        self.exported: Any = None

    def watch_quarantine(self, tally: QuarantineTally | None) -> None:
        """Count what a backend object sets aside (its ``quarantine_tally``, if it has one)."""
        if tally is not None and all(t is not tally for t in self.quarantine_tallies):
            self.quarantine_tallies.append(tally)

    def for_mapping(self, function: str, queue: str) -> MappingMetrics:
        metrics = MappingMetrics(function, queue)
        self.mappings.append(metrics)
        return metrics

"""The Prometheus side of :class:`qworker.runtime.metrics.RuntimeMetrics`, built only when
``/metrics`` is served (or a test asks): the collector that turns the runtime's plain numbers into
families at scrape time, and the queue gauges the worker's monitor sets."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from qworker.backend import QuarantineTally
from qworker.runtime.metrics import _COUNTERS, _GAUGES, Buckets, MappingMetrics, RuntimeMetrics


class _MappingCollector(Collector):
    """Turns every mapping's plain numbers into Prometheus families, at scrape time."""

    def __init__(self, mappings: list[MappingMetrics], tallies: list[QuarantineTally]) -> None:
        self.mappings = mappings
        self.tallies = tallies

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        labels = ["queue", "function"]
        for name, doc, attr in _COUNTERS:
            family = CounterMetricFamily(name, doc, labels=labels)
            for m in self.mappings:
                family.add_metric(m.labels, getattr(m, attr).value)
            yield family
        for name, doc, attr in _GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=labels)
            for m in self.mappings:
                gauge.add_metric(m.labels, getattr(m, attr).value)
            yield gauge
        invocations = CounterMetricFamily(
            "qworker_invocations", "Handler invocations by outcome", labels=[*labels, "outcome"]
        )
        batches = CounterMetricFamily(
            "qworker_batches", "Batches by the reason they were closed", labels=[*labels, "cut"]
        )
        for m in self.mappings:
            for outcome, count in m.invocations.items():
                invocations.add_metric([*m.labels, outcome], count.value)
            for cut, count in m.cuts.items():
                batches.add_metric([*m.labels, cut], count.value)
        yield invocations
        yield batches
        quarantined = CounterMetricFamily(
            "qworker_messages_quarantined",
            "Messages this worker set aside in the queue's quarantine because they could not be decoded "
            "(RELIABILITY T16; see 'qworker queue quarantine list')",
            labels=["queue"],
        )
        totals: dict[str, int] = {}
        for tally in self.tallies:
            for queue, count in list(tally.by_queue.items()):
                totals[queue] = totals.get(queue, 0) + count
        for queue in sorted(totals):
            quarantined.add_metric([queue], totals[queue])
        yield quarantined
        for name, doc, attr in (
            ("qworker_batch_size", "Records per invocation", "batch_size"),
            ("qworker_handler_duration_seconds", "Handler run time", "duration"),
        ):
            histogram = HistogramMetricFamily(name, doc, labels=labels)
            for m in self.mappings:
                buckets: Buckets = getattr(m, attr)
                histogram.add_metric(m.labels, buckets.cumulative(), buckets.sum)
            yield histogram


class Exported:
    """A registry with the runtime's collector and the queue gauges."""

    def __init__(
        self,
        mappings: list[MappingMetrics],
        tallies: list[QuarantineTally],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(_MappingCollector(mappings, tallies))
        r = self.registry
        self.queue_messages = Gauge(
            "qworker_queue_messages",
            "Messages in the queue by state (SQS ApproximateNumberOfMessages*)",
            ("queue", "state"),
            registry=r,
        )
        self.oldest_age = Gauge(
            "qworker_queue_oldest_message_age_seconds",
            "Age of the oldest message in the queue (SQS ApproximateAgeOfOldestMessage); "
            "only for backends that can look at messages",
            ("queue",),
            registry=r,
        )
        self.queue_quarantined = Gauge(
            "qworker_queue_messages_quarantined",
            "Messages in the queue's quarantine: set aside because they could not be decoded, never "
            "delivered until restored (qworker's own, not an SQS count; backends with a quarantine only)",
            ("queue",),
            registry=r,
        )
        self.backend_up = Gauge(
            "qworker_backend_up", "1 when the last call to the backend worked", registry=r
        )


def exported(metrics: RuntimeMetrics, registry: CollectorRegistry | None = None) -> Exported:
    """The Prometheus side of ``metrics``, made on first use (into ``registry`` if given)."""
    if metrics.exported is None:
        metrics.exported = Exported(metrics.mappings, metrics.quarantine_tallies, registry)
    result: Exported = metrics.exported
    return result

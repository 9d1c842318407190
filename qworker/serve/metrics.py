"""Prometheus metrics of the SQS API server: requests and their latency, per action.

``qworker_serve_requests_total{action, status}`` and ``qworker_serve_request_duration_seconds
{action}``. Like the worker's metrics (:mod:`qworker.runtime.metrics`), the request path only
adds to plain numbers, and a collector builds the families when ``/metrics`` is scraped: a
``prometheus_client`` counter update costs more than the rest of a SendMessage's bookkeeping.
Actions SQS does not have are counted under ``action="unknown"`` (no label per bad input).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from qworker.runtime.metrics import Buckets

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 21,
)  # fmt: skip
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics(Collector):
    """Counts per (action, status) and a latency histogram per action."""

    def __init__(self, actions: frozenset[str], registry: CollectorRegistry | None = None) -> None:
        self.actions = actions
        self.counts: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Buckets] = {}
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(self)

    def observe(self, action: str, status: int, seconds: float) -> None:
        if action not in self.actions:
            action = "unknown"
        key = (action, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        buckets = self.latency.get(action)
        if buckets is None:
            buckets = self.latency[action] = Buckets(_LATENCY_BUCKETS)
        buckets.observe(seconds)

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "qworker_serve_requests",
            "SQS API requests by action and HTTP status",
            labels=["action", "status"],
        )
        for (action, status), count in sorted(self.counts.items()):
            requests.add_metric([action, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "qworker_serve_request_duration_seconds", "SQS API request latency by action", labels=["action"]
        )
        for action, buckets in sorted(self.latency.items()):
            latency.add_metric([action], buckets.cumulative(), buckets.sum)
        yield latency

    def render(self) -> bytes:
        return generate_latest(self.registry)

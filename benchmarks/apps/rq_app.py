"""rq: the no-op job function (enqueued by reference, run by ``rq worker``)."""

from __future__ import annotations

from benchmarks.apps import probe


def noop(body: str) -> None:
    probe.record_body(body)

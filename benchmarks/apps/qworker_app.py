"""qworker's no-op handlers: Lambda's signature, one async and one sync.

``handler`` runs on the event loop; ``sync_handler`` runs in qworker's thread pool. Both only
count the batch's records (or, in latency mode, read each record's send time).
"""

from __future__ import annotations

from typing import Any

from benchmarks.apps import probe

_LATENCY = probe._LATENCY


async def handler(event: dict[str, Any], context: Any) -> None:
    """The async no-op handler."""
    records = event["Records"]
    if _LATENCY:
        for record in records:
            probe.record_body(record["body"])
    else:
        probe.add(len(records))


def sync_handler(event: dict[str, Any], context: Any) -> None:
    """The sync no-op handler (runs in a worker thread)."""
    records = event["Records"]
    if _LATENCY:
        for record in records:
            probe.record_body(record["body"])
    else:
        probe.add(len(records))

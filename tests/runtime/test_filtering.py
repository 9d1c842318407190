"""Filter criteria in the running worker (FLT-1..4, FLT-6, FLT-8)."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from qworker.backend import Backend
from qworker.runtime.metrics import RuntimeMetrics
from qworker.runtime.metrics_export import exported
from tests.runtime.conftest import Ledger, make_queue, mapping, run_worker_until_empty, send_json


async def test_non_matching_records_are_deleted_before_batching(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """FLT-1, FLT-2, FLT-3, FLT-8: records matching no filter are deleted without an invocation;
    filters are ORed; the handler gets the body unchanged; the drop is counted."""
    await make_queue(backend, "q")
    bodies = [{"type": "order", "n": i} for i in range(5)] + [{"type": "noise", "n": i} for i in range(7)]
    bodies += [{"type": "refund", "n": 99}]
    await send_json(backend, "q", bodies)
    filters = ('{"body": {"type": ["order"]}}', '{"body": {"type": ["refund"]}}')
    metrics = RuntimeMetrics()
    config = mapping("async_handler", "q", filters=filters, batch_size=10)
    assert await run_worker_until_empty(backend_url, config, metrics=metrics) == 0
    seen = sorted(json.loads(b)["type"] for b in ledger.bodies())
    assert seen == ["order"] * 5 + ["refund"]
    assert json.dumps({"type": "order", "n": 0}) in ledger.bodies()
    counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight) == (0, 0)
    filtered = exported(metrics).registry.get_sample_value(
        "qworker_messages_filtered_out_total", {"queue": "q", "function": config.name}
    )
    assert filtered == 7


async def test_all_filtered_means_no_invocation(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """FLT-4: when every record of a poll is filtered out, the function is not invoked."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"type": "noise"}] * 4)
    config = mapping("async_handler", "q", filters=('{"body": {"type": ["order"]}}',))
    assert await run_worker_until_empty(backend_url, config) == 0
    assert ledger.lines() == []
    assert (await backend.get_queue("q")).counts.visible == 0


async def test_skip_action_leaves_records_for_another_consumer(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """qworker --filter-action skip: non-matching records are not deleted (unlike Lambda's FLT-3)."""
    await make_queue(backend, "q", visibility_timeout=60)
    await send_json(backend, "q", [{"type": "order"}, {"type": "other"}])
    config = mapping("async_handler", "q", filters=('{"body": {"type": ["order"]}}',), filter_action="skip")
    import asyncio

    task = asyncio.create_task(run_worker_until_empty(backend_url, config))
    await ledger.until(lambda lines: len(lines) == 1)
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    left = await backend.peek("q", 10)
    assert [json.loads(m.body)["type"] for m in left] == ["other"]


async def test_non_portable_filter_keys_warn(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """FLT-6: a pattern on attributes works in qworker but AWS documents body-only filtering: warn."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": 1}])
    config = mapping("async_handler", "q", filters=('{"attributes": {"ApproximateReceiveCount": ["1"]}}',))
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    assert len(ledger.lines()) == 1
    assert any("FLT-6" in e["event"] for e in logs)

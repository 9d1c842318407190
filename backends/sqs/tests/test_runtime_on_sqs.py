"""The runtime end to end on the SQS backend: the worker of ``qworker run`` against moto's SQS.

The same in-process pattern as ``tests/runtime`` (a real worker, a ledger written by the
handlers outside the system under test), for the behaviours that depend most on the backend:
partial batch responses, dead-lettering, FIFO ordering, filters, and batches larger than SQS's
10 messages per receive.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from qworker_sqs import SQSBackend
from tests.runtime import conftest as runtime_fixtures
from tests.runtime.conftest import Ledger, make_queue, mapping, run_worker_until_empty, send_json

#: the runtime tests' fixtures: the ledger file, and the environment put back after each worker
ledger = runtime_fixtures.ledger
_restore_environment = runtime_fixtures._restore_environment


@pytest.fixture
async def backend(sqs_url: str) -> AsyncIterator[SQSBackend]:
    async with SQSBackend(sqs_url) as backend:
        yield backend


def unique(prefix: str = "rt", fifo: bool = False) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return f"{name}.fifo" if fifo else name


async def drain(backend: SQSBackend, queue: str) -> list[str]:
    """Every body left in ``queue`` (received, then deleted)."""
    found: list[str] = []
    while got := await backend.receive(queue, max_messages=10, wait_seconds=1):
        found += [m.body for m in got]
        await backend.delete(queue, [m.receipt_handle for m in got])
    return found


async def test_partial_batch_response_on_sqs(backend: SQSBackend, sqs_url: str, ledger: Ledger) -> None:
    """ESM-P-2: the listed message is kept (back after its visibility timeout with count 2, then in
    the DLQ); the others are deleted from SQS at once."""
    queue, dlq = unique(), unique("rt-dlq")
    await make_queue(backend, queue, visibility_timeout=1, dlq=dlq, max_receive_count=2)
    await send_json(backend, queue, [{"n": 1, "partial": True}, {"n": 2}, {"n": 3}])
    config = mapping("partial_handler", queue, timeout=1, report_batch_item_failures=True)
    with capture_logs() as logs:
        assert await run_worker_until_empty(sqs_url, config) == 0
    lines = ledger.lines()
    assert sorted(lines[0]["bodies"]) == sorted(['{"n": 1, "partial": true}', '{"n": 2}', '{"n": 3}'])
    assert [(line["bodies"], line["counts"]) for line in lines[1:]] == [(['{"n": 1, "partial": true}'], [2])]
    assert [e["outcome"] for e in logs if e["event"] == "batch"] == ["partial_failure", "all_items_failed"]
    assert await drain(backend, dlq) == ['{"n": 1, "partial": true}']


async def test_function_error_then_dead_letter_queue_on_sqs(
    backend: SQSBackend, sqs_url: str, ledger: Ledger
) -> None:
    """ESM-F-2, ESM-F-3, ESM-DLQ-2: an error deletes nothing; SQS redelivers after the visibility
    timeout with ApproximateReceiveCount + 1; after maxReceiveCount deliveries SQS moves it to the DLQ
    with its message id; the good message of another batch is deleted."""
    queue, dlq = unique(), unique("rt-dlq")
    await make_queue(backend, queue, visibility_timeout=1, dlq=dlq, max_receive_count=2)
    ids = await send_json(backend, queue, [{"n": 1, "fail": True}])
    await send_json(backend, queue, [{"n": 2}])
    config = mapping("async_handler", queue, timeout=1, batch_size=1)
    assert await run_worker_until_empty(sqs_url, config) == 0
    failing = [line for line in ledger.lines() if line["failed"]]
    assert [line["counts"] for line in failing] == [[1], [2]]
    assert failing[1]["time"] - failing[0]["time"] >= 0.95, "redelivered before the visibility timeout"
    (dead,) = await backend.receive(dlq, wait_seconds=2)
    assert dead.message_id == ids[0]
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight) == (0, 0)


async def test_fifo_order_and_group_exclusivity_on_sqs(
    backend: SQSBackend, sqs_url: str, ledger: Ledger
) -> None:
    """ESM-FIFO-2, ESM-FIFO-3, ESM-FIFO-6, ESM-B-5: each group's messages are handled in send order,
    never two invocations of one group at once, while different groups run concurrently.

    Each group is sent as one block: moto fills a receive in send order across groups, where SQS
    takes "as many messages with the same message group ID as possible" (SPEC SQS-F-2), so with
    interleaved groups every moto batch would hold every group and nothing could run concurrently.
    """
    queue = unique(fifo=True)
    await make_queue(backend, queue, visibility_timeout=30, content_based_deduplication=True)
    bodies = [{"group": f"g{i // 10}", "seq": i, "sleep": 0.05} for i in range(30)]
    await send_json(backend, queue, bodies)
    config = mapping("async_handler", queue, batch_size=4, max_concurrency=4)
    assert await run_worker_until_empty(sqs_url, config) == 0
    lines = ledger.lines()
    assert sorted(b for line in lines for b in line["bodies"]) == sorted(json.dumps(b) for b in bodies)
    seen: dict[str, list[int]] = collections.defaultdict(list)
    intervals: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for line in lines:
        for text, group in zip(line["bodies"], line["groups"], strict=True):
            seen[group].append(json.loads(text)["seq"])
        for group in set(line["groups"]):
            intervals[group].append((line["start"], line["time"]))
    for group, seqs in seen.items():
        assert seqs == sorted(seqs), f"group {group} out of order: {seqs}"
    for group, spans in intervals.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - 0.01, f"two invocations held group {group} at once"
    assert max(line["concurrent"] for line in lines) > 1, "different groups never ran concurrently"


async def test_fifo_failed_message_is_retried_before_later_ones_on_sqs(
    backend: SQSBackend, sqs_url: str, ledger: Ledger
) -> None:
    """ESM-FIFO-4: a message that keeps failing is retried (after its visibility timeout) before any
    later message of its group, while the other groups go on. Batches of one message: with several
    in flight, moto's group lock can hand a group's messages out of order (SERVICES.md)."""
    queue = unique(fifo=True)
    await make_queue(backend, queue, visibility_timeout=1, content_based_deduplication=True)
    bodies: list[dict] = [{"group": group, "seq": i} for i in range(5) for group in ("a", "b")]
    bodies[2 * 2 + 1]["fail"] = True  # group b, seq 2: fails on every attempt
    await send_json(backend, queue, bodies)
    config = mapping("async_handler", queue, batch_size=1, timeout=1, max_concurrency=2)
    task = asyncio.create_task(run_worker_until_empty(sqs_url, config))
    await ledger.until(lambda lines: sum(line["failed"] for line in lines) >= 2, timeout=20)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    done: dict[str, list[int]] = collections.defaultdict(list)
    for line in ledger.lines():
        if not line["failed"]:
            for text, group in zip(line["bodies"], line["groups"], strict=True):
                done[group].append(json.loads(text)["seq"])
    assert done["b"] == [0, 1], "group b moved past a message that kept failing"
    assert done["a"] == [0, 1, 2, 3, 4], "the failing group blocked another group"


async def test_filters_delete_non_matching_records_on_sqs(
    backend: SQSBackend, sqs_url: str, ledger: Ledger
) -> None:
    """FLT-1, FLT-2, FLT-3, FLT-4: records matching no filter are deleted from SQS without an
    invocation; matching ones reach the handler unchanged."""
    queue = unique()
    await make_queue(backend, queue)
    bodies = [{"type": "order", "n": i} for i in range(4)] + [{"type": "noise", "n": i} for i in range(6)]
    await send_json(backend, queue, bodies)
    config = mapping("async_handler", queue, filters=('{"body": {"type": ["order"]}}',), batch_size=10)
    assert await run_worker_until_empty(sqs_url, config) == 0
    assert sorted(ledger.bodies()) == sorted(json.dumps({"type": "order", "n": i}) for i in range(4))
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight) == (0, 0)


async def test_batches_larger_than_ten_on_sqs(backend: SQSBackend, sqs_url: str, ledger: Ledger) -> None:
    """ESM-B-1, ESM-B-2, SQS-R-1: BatchSize 40 with a window is assembled from several SQS receives
    (10 each); the batch closes when full, well before the window."""
    queue = unique()
    await make_queue(backend, queue)
    await send_json(backend, queue, [{"n": i} for i in range(40)])
    config = mapping("async_handler", queue, batch_size=40, batch_window=5)
    started = time.monotonic()
    with capture_logs() as logs:
        assert await run_worker_until_empty(sqs_url, config) == 0
    assert time.monotonic() - started < 5
    lines = ledger.lines()
    assert [len(line["ids"]) for line in lines] == [40]
    assert [e["cut"] for e in logs if e["event"] == "batch"] == ["count"]
    assert len(set(lines[0]["ids"])) == 40

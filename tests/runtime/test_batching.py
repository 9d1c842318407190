"""Batch size, batch window and the 6 MB payload cut (ESM-B-*, ESM-CFG-*)."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from qworker.backend import Backend, SendEntry
from qworker.runtime.config import InvalidMappingConfig, MappingConfig
from tests.runtime.conftest import Ledger, make_queue, mapping, run_worker_until_empty, send_json


async def test_batches_never_exceed_batch_size_and_keep_receive_order(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-B-1, ESM-B-5: one invocation per batch of at most BatchSize records."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(23)])
    assert await run_worker_until_empty(backend_url, mapping("async_handler", "q", batch_size=4)) == 0
    sizes = [len(line["ids"]) for line in ledger.lines()]
    assert sum(sizes) == 23 and max(sizes) <= 4


async def test_batch_window_gathers_records_and_fires_on_time(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-B-2, ESM-B-3: with a window the batch waits for more records, then fires when the
    window ends (counted from the first record), not 20 s later."""
    await make_queue(backend, "q")
    config = mapping("async_handler", "q", batch_size=100, batch_window=1)
    with capture_logs() as logs:
        first_sent = time.time()
        await send_json(backend, "q", [{"n": 1}])
        worker = asyncio.create_task(run_worker_until_empty(backend_url, config))
        await asyncio.sleep(0.4)
        await send_json(backend, "q", [{"n": 2}, {"n": 3}])
        assert await worker == 0
    (line,) = ledger.lines()
    assert sorted(line["bodies"]) == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
    waited = line["time"] - first_sent
    assert 0.95 <= waited < 2.5, f"window of 1 s fired after {waited:.2f} s"
    assert [e["cut"] for e in logs if e["event"] == "batch"] == ["window"]


async def test_batch_closes_when_full_before_the_window(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-B-2: reaching BatchSize closes the batch at once, whatever the window."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(12)])
    config = mapping("async_handler", "q", batch_size=5, batch_window=30, max_concurrency=2)
    started = time.monotonic()
    with capture_logs() as logs:
        worker = asyncio.create_task(run_worker_until_empty(backend_url, config))
        await ledger.until(lambda lines: sum(len(x["ids"]) for x in lines) >= 10, timeout=10)
        assert time.monotonic() - started < 10
        # the batch line is logged once the batch is settled, a moment after the handler returned
        while sum(1 for e in logs if e["event"] == "batch") < 2 and time.monotonic() - started < 10:
            await asyncio.sleep(0.01)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    cuts = [e["cut"] for e in logs if e["event"] == "batch"]
    assert cuts[:2] == ["count", "count"]


async def test_payload_cut_at_6_mb_keeps_the_rest_for_the_next_batch(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-B-4: the serialized event never passes 6 MB; records that did not fit go to the next
    batch, none is dropped."""
    await make_queue(backend, "q")
    big = "x" * 1_000_000
    result = await backend.send("q", [SendEntry(big + str(i)) for i in range(8)])
    assert not result.failed
    config = mapping("async_handler", "q", batch_size=10, batch_window=1)
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    sizes = [len(line["ids"]) for line in ledger.lines()]
    assert sum(sizes) == 8 and len(set(ledger.ids())) == 8
    assert sizes[0] == 6  # 6 records of ~1 MB fit in 6,291,456 bytes, the 7th does not
    cuts = [e["cut"] for e in logs if e["event"] == "batch"]
    assert cuts[0] == "payload"


@pytest.mark.parametrize(
    ("kwargs", "fifo", "message"),
    [
        ({"batch_size": 0}, False, "Member must have value greater than or equal to 1"),
        (
            {"batch_size": 10_001, "batch_window": 1},
            False,
            "Member must have value less than or equal to 10000",
        ),
        (
            {"batch_size": 11},
            False,
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ),
        ({"batch_size": 11, "batch_window": 1}, True, "Batch size must not exceed 10 for FIFO queues"),
        ({"batch_window": 1}, True, "Batching window is not supported for FIFO queues"),
        ({"batch_window": 301}, False, "Member must have value less than or equal to 300"),
        ({"max_concurrency": 1}, False, "Member must have value greater than or equal to 2"),
        ({"max_concurrency": 1001}, False, "Member must have value less than or equal to 1000"),
        (
            {"timeout": 31},
            False,
            "Queue visibility timeout: 30 seconds is less than Function timeout: 31 seconds",
        ),
    ],
    ids=[
        "batch-0",
        "batch-10001",
        "batch-11-no-window",
        "fifo-batch-11",
        "fifo-window",
        "window-301",
        "concurrency-1",
        "concurrency-1001",
        "visibility-lt-timeout",
    ],
)
def test_invalid_mapping_settings_fail_with_aws_text(kwargs: dict, fifo: bool, message: str) -> None:
    """ESM-CFG-1, -2, -3, -4, -7, ESM-FIFO-1: refused with AWS's own error texts."""
    config = MappingConfig(handler="app:handler", queue="q.fifo" if fifo else "q", **kwargs)
    with pytest.raises(InvalidMappingConfig) as excinfo:
        config.validate(fifo=fifo, queue_visibility_timeout=30)
    assert message in str(excinfo.value)
    assert excinfo.value.exit_code == 2

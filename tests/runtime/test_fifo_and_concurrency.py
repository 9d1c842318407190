"""FIFO ordering and group exclusivity (ESM-FIFO-*), concurrency caps and scaling (ESM-S-*)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json

import pytest
from structlog.testing import capture_logs

from qworker.backend import Backend
from qworker.runtime.scaling import ScalingController, ScalingPolicy
from qworker.runtime.schedule import Slots
from tests.runtime.conftest import Ledger, make_queue, mapping, run_worker_until_empty, send_json


def _intervals_by_group(lines: list[dict]) -> dict[str, list[tuple[float, float]]]:
    by_group: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for line in lines:
        for group in set(line["groups"]):
            by_group[group].append((line["start"], line["time"]))
    return by_group


async def test_fifo_order_within_groups_across_batches_and_retries(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-FIFO-2, ESM-FIFO-4, ESM-B-5: each group's messages are handled in send order, and a
    failed message is retried (all of its retries) before later messages of its group."""
    await make_queue(backend, "q.fifo", visibility_timeout=1, content_based_deduplication=True)
    bodies: list[dict] = [{"group": group, "seq": i} for i in range(12) for group in ("a", "b", "c")]
    bodies[3 * 3 + 1]["fail"] = True  # group b, seq 3: fails on every attempt
    await send_json(backend, "q.fifo", bodies)
    config = mapping("async_handler", "q.fifo", batch_size=4, timeout=1, max_concurrency=3)
    task = asyncio.create_task(run_worker_until_empty(backend_url, config))
    await ledger.until(lambda lines: any(line["failed"] for line in lines) and len(lines) >= 6)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    seen: dict[str, list[int]] = collections.defaultdict(list)
    for line in ledger.lines():
        if line["failed"]:
            continue
        for body_text, group in zip(line["bodies"], line["groups"], strict=True):
            seen[group].append(int(json.loads(body_text)["seq"]))
    for group, seqs in seen.items():
        assert seqs == sorted(seqs), f"group {group} out of order: {seqs}"
    assert max(seen["b"], default=-1) < 3, "group b moved past a message that kept failing"
    assert seen["a"] and seen["c"], "the failing group blocked the other groups"


async def test_fifo_one_batch_per_group_in_flight(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-FIFO-3, ESM-FIFO-6: never two invocations holding one group at the same time, while
    different groups do run concurrently."""
    await make_queue(backend, "q.fifo", visibility_timeout=30, content_based_deduplication=True)
    # 0.2 s handlers: long enough that a receive (a thread hop on SQLite) returns while another
    # group's batch still runs, even on a loaded CI machine
    bodies = [{"group": f"g{i % 4}", "seq": i, "sleep": 0.2} for i in range(40)]
    await send_json(backend, "q.fifo", bodies)
    config = mapping("async_handler", "q.fifo", batch_size=2, max_concurrency=8)
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert sorted(b for line in lines for b in line["bodies"]) == sorted(json.dumps(b) for b in bodies)
    for group, intervals in _intervals_by_group(lines).items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end - 0.01, f"two invocations held group {group} at once"
    assert max(line["concurrent"] for line in lines) > 1, "different groups never ran concurrently"


async def test_fifo_strict_keeps_later_messages_of_a_failed_group(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-FIFO-5 (qworker --fifo-strict): after a listed failure, later messages of its group are
    kept even though the handler reported them as successes."""
    await make_queue(backend, "q.fifo", visibility_timeout=600, content_based_deduplication=True)
    await send_json(
        backend,
        "q.fifo",
        [{"group": "a", "n": 1, "partial": True}, {"group": "a", "n": 2}, {"group": "b", "n": 3}],
    )
    config = mapping("partial_handler", "q.fifo", report_batch_item_failures=True, fifo_strict=True)
    task = asyncio.create_task(run_worker_until_empty(backend_url, config))
    with capture_logs() as logs:
        await ledger.until(lambda lines: len(lines) >= 1)
        for _ in range(100):
            if any(e["event"] == "batch" for e in logs):
                break
            await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kept = {m.body for m in await backend.peek("q.fifo", 10)}
    assert kept == {'{"group": "a", "n": 1, "partial": true}', '{"group": "a", "n": 2}'}
    batch = next(e for e in logs if e["event"] == "batch")
    assert "ESM-FIFO-5" in batch["reason"]


async def test_max_concurrency_caps_invocations(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-S-3: never more concurrent invocations than MaximumConcurrency."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i, "sleep": 0.05} for i in range(60)])
    config = mapping("async_handler", "q", batch_size=1, max_concurrency=4)
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert len(lines) == 60
    assert max(line["concurrent"] for line in lines) == 4


async def test_never_receives_more_than_it_can_run(
    backend: Backend, backend_url: str, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESM-S-4, ESM-DLQ-7, SPEC 6.3: messages are received only into free slots, so the worker
    never holds more than max_concurrency x batch_size messages it has not finished handling, and
    no receive count is burnt.

    Measured at each receive as (messages received) - (messages whose handler returned), not as
    the queue's in-flight count: that also counts handled messages whose delete is on its way,
    because a slot is free once the handler returns (ESM-S-3) and deletes go on meanwhile."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i, "sleep": 0.1} for i in range(40)])
    config = mapping("async_handler", "q", batch_size=3, max_concurrency=2)
    received = 0
    held: list[int] = []
    receive = type(backend).receive

    async def counting_receive(self: Backend, queue: str, *args: object, **kwargs: object) -> object:
        nonlocal received
        messages = await receive(self, queue, *args, **kwargs)
        received += len(messages)
        held.append(received - len(ledger.ids()))
        return messages

    monkeypatch.setattr(type(backend), "receive", counting_receive)
    assert await run_worker_until_empty(backend_url, config) == 0
    assert received == 40
    assert 0 < max(held) <= 2 * 3
    assert all(count == 1 for line in ledger.lines() for count in line["counts"])


def test_scaling_controller_steps() -> None:
    """ESM-S-1, ESM-S-2, ESM-S-6, ESM-P-6: start at 5; step up on backlog; down on function errors
    only; back to the floor when idle."""
    changes: list[tuple[int, str]] = []
    slots = Slots(1)
    aws = ScalingController(slots, 100, ScalingPolicy.preset("aws"), lambda n, why: changes.append((n, why)))
    assert slots.limit == 5
    aws.saw_backlog()
    aws.decide()
    assert slots.limit == 10  # +5 per second = 300 per minute
    aws.saw_function_error()
    aws.decide()
    assert slots.limit == 8  # down by a quarter
    aws.decide()
    assert slots.limit == 8  # no signal, not yet idle: unchanged
    fast_slots = Slots(1)
    fast = ScalingController(fast_slots, 12, ScalingPolicy.preset("fast"), lambda n, why: None)
    for _ in range(5):
        fast.saw_backlog()
        fast.decide()
    assert fast_slots.limit == 12  # doubles, capped at the maximum
    fast.saw_function_error()
    fast.decide()
    assert fast_slots.limit == 6
    idle = ScalingController(
        Slots(1),
        50,
        ScalingPolicy(0.1, lambda n: n + 5, lambda n: n - 1, idle_after=0.0),
        lambda n, why: changes.append((n, why)),
    )
    idle.saw_backlog()
    idle.decide()
    assert idle.slots.limit == 10
    idle.decide()  # ESM-S-2: with no backlog seen for idle_after, back to the floor of 5
    assert idle.slots.limit == 5
    small = ScalingController(Slots(1), 3, ScalingPolicy.preset("aws"), lambda n, why: None)
    assert small.slots.limit == 3  # never above the maximum, even at start
    assert [why for _, why in changes] == ["backlog", "function errors", "backlog", "idle"]


async def test_concurrency_scales_up_under_backlog(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-S-1: with a backlog the controller raises concurrency above the initial 5."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i, "sleep": 0.2} for i in range(200)])
    config = mapping("async_handler", "q", batch_size=1, max_concurrency=20)
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    assert max(line["concurrent"] for line in ledger.lines()) > 5
    assert any(e["event"] == "concurrency changed" and e["reason"] == "backlog" for e in logs)


async def test_each_poller_builds_its_own_batch(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-B-6: with several pollers, each gathers its own batch during its own window."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(40)])
    config = mapping("async_handler", "q", batch_size=30, batch_window=1, max_concurrency=4)
    assert await run_worker_until_empty(backend_url, config, pollers=2) == 0
    sizes = sorted(len(line["ids"]) for line in ledger.lines())
    assert sum(sizes) == 40 and max(sizes) <= 30
    assert len(sizes) >= 2

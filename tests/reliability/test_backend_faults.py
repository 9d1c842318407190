"""Backend faults under a running worker (RELIABILITY.md T5, T7, and the SQS endpoint outage).

* T5: redis-server with AOF (appendfsync everysec) is killed with SIGKILL and restarted on the
  same port and directory while a sender process sends and a worker process consumes.
* T7: the worker reaches Redis through the fault proxy (``tests/reliability/proxy.py``); the
  test's own sends go to Redis directly. Faults: a blackhole, an RST storm, latency with jitter,
  a half-open connection (requests arrive, replies vanish).
* SQS: moto's server is stopped and started again on the same port under a running worker.

Each test judges the run with the checker on the sender's record and the handlers' ledger.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import QueueSpec
from qworker.registry import open_backend
from tests.reliability import figures
from tests.reliability.checker import Invocation, check
from tests.reliability.conftest import (
    SOAK,
    History,
    SendRecord,
    Workers,
    send_keys,
    start_sender,
    wait_until,
)
from tests.reliability.proxy import ThreadedProxy

pytestmark = pytest.mark.slow

#: the worker's back-off between failed receives is capped at 10 s (qworker/runtime/mapping.py)
MAX_BACKOFF = 10.0


def first_start_after(invocations: list[Invocation], moment: float) -> float | None:
    starts = [i.start for i in invocations if i.start is not None and i.start >= moment]
    return min(starts) if starts else None


def events_named(events: list[dict[str, Any]], prefix: str) -> int:
    return sum(1 for e in events if str(e.get("event", "")).startswith(prefix))


# -- T5: Redis killed and restarted (AOF everysec) -------------------------------------------------


@pytest.fixture
def aof_redis() -> Iterator[Any]:
    from qworker_redis.testing import RedisServer

    server = RedisServer("--appendonly", "yes", "--appendfsync", "everysec").start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.timeout(120)
async def test_t5_redis_sigkill_and_restart_loses_no_acknowledged_send(
    aof_redis: Any, tmp_path: Path, history: History, workers: Workers
) -> None:
    """T5: redis-server (appendonly yes, appendfsync everysec) gets SIGKILL while a sender process
    sends (each send's outcome recorded) and a worker process consumes, and is restarted on the
    same port and directory (it reloads the AOF).

    Pass: lost = 0 for every send whose call returned OK (Redis writes the AOF before it replies:
    a process crash loses nothing acknowledged); unexpected = 0; the worker rides it out without
    restarting (same pid, still running, exits 0 on SIGTERM) and processes every acknowledged
    message at least once; nothing is left in the queue.
    """
    url = f"{aof_redis.url}?prefix=t5&retry_timeout=30"  # the sender rides out the crash
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("q", visibility_timeout=2))
    worker_url = f"{aof_redis.url}?prefix=t5"  # the worker keeps the defaults
    worker = workers.start("q", worker_url, "--batch-size", "5", "--max-concurrency", "4", "--timeout", "2")
    await asyncio.to_thread(worker.wait_ready)
    sent_path = tmp_path / "sent.jsonl"
    total = 6000 if SOAK else 1500
    sender = start_sender(url, "q", "m", total, 300.0, sent_path, tmp_path)
    crashes = 3 if SOAK else 1
    downtimes = []
    restarts = []
    try:
        for crash in range(crashes):
            await wait_until(
                lambda c=crash: len(history.completed_keys()) >= 150 * (c + 1), 30, "processing under load"
            )
            aof_redis.kill()
            down = time.time()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(aof_redis.start)
            restarts.append(time.time())
            downtimes.append(round(restarts[-1] - down, 2))
        assert await asyncio.to_thread(sender.wait, 90) == 0, (tmp_path / "sender.log").read_text()[-3000:]
    finally:
        if sender.poll() is None:
            sender.kill()
    record = SendRecord.load(sent_path)
    acked = record.acked()
    await wait_until(lambda: acked <= history.completed_keys(), 60, "every acknowledged send to be processed")
    assert worker.alive(), f"the worker died:\n{worker.log()[-3000:]}"
    pid = worker.pid
    assert worker.stop() == 0, worker.log()[-3000:]
    invocations = history.invocations()
    report = check(record.items, invocations)
    events = worker.events()
    reconnect = [round((first_start_after(invocations, r) or float("nan")) - r, 2) for r in restarts]
    stale = [e for e in events if "received again after their visibility timeout" in str(e.get("event"))]
    summary = {
        **report.summary(),
        "redis_downtime_s": downtimes,
        "first_start_after_restart_s": reconnect,
        "worker_warnings": sum(1 for e in events if e.get("level") in ("warning", "error")),
        "backend_unavailable_logged": events_named(events, "backend unavailable"),
        "redis_reconnecting_logged": events_named(events, "redis.reconnecting"),
        "stale_acks": sum(e.get("count", 0) for e in stale),
    }
    figures.record("T5", summary)
    assert report.problems() == [], summary
    assert report.sent_ok > 0 and report.sent_ok + report.sent_unknown == total
    assert {i.pid for i in invocations} == {pid}, "the worker process was replaced"
    assert events_named(events, "redis.reconnect") > 0, "the crash went unnoticed: did it happen?"
    async with open_backend(url) as backend:
        counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)


# -- T7: network faults between the worker and Redis ----------------------------------------------

#: per fault: how long it lasts (s)
FAULTS = {"blackhole": 5.0, "reset": 6.0, "latency": 3.0, "half-open": 5.0}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.timeout(90)
async def test_t7_network_faults_between_worker_and_redis(
    redis_server: Any, history: History, workers: Workers, fault: str
) -> None:
    """T7: the worker reaches Redis through the fault proxy (socket_timeout 2 s, retry_timeout 1 s,
    so every call gives up quickly); messages keep arriving (sent straight to Redis) during the
    fault. ``blackhole``: connections accepted, nothing forwarded; ``reset``: every connection
    reset, new ones too; ``latency``: 300 ms +- 100 ms each way; ``half-open``: requests reach
    Redis, replies are dropped (so receives lease messages the worker never sees).

    Pass: the worker neither crashes nor restarts (same pid, exits 0 on SIGTERM); no hot reconnect
    loop (connections accepted during the fault <= 10/s on average, and not more in the fault's
    second half than in its first, give or take 3); it resumes within
    MAX_BACKOFF + 2 s after the heal; lost = 0 and unexpected = 0 over every message sent before,
    during and after the fault. ``latency`` adds: work went on during the fault.
    """
    prefix = f"t7{uuid.uuid4().hex[:10]}"
    direct = f"{redis_server.url}?prefix={prefix}"
    duration = FAULTS[fault]
    record = SendRecord()
    with ThreadedProxy(("127.0.0.1", redis_server.port)) as proxy:
        via = (
            f"redis://127.0.0.1:{proxy.port}/0?prefix={prefix}"
            "&socket_timeout=1.5&socket_connect_timeout=1&retry_timeout=0.5"
        )
        async with open_backend(direct) as backend:
            await backend.create_queue(QueueSpec("q", visibility_timeout=3))
            worker = workers.start("q", via, "--batch-size", "5", "--max-concurrency", "4", "--timeout", "3")
            await asyncio.to_thread(worker.wait_ready)
            await send_keys(backend, "q", [f"before-{i}" for i in range(50)], record, steer={"sleep": 0.01})
            await wait_until(lambda: len(history.completed_keys()) >= 50, 20, "the first messages")
            await asyncio.sleep(0.5)  # idle: long polls parked on their connections
            idle_connections = proxy.accepted
            began = time.time()
            if fault == "blackhole":
                proxy.blackhole()
            elif fault == "reset":
                proxy.reset()
            elif fault == "latency":
                proxy.latency(0.3, 0.1)
            else:
                proxy.drop("downstream")
            keys = [f"during-{i}" for i in range(50)]
            for n in range(0, 50, 10):
                await send_keys(backend, "q", keys[n : n + 10], record, steer={"sleep": 0.01})
                await asyncio.sleep(duration / 5)
            healed = time.time()
            during = proxy.connections_between(began, healed)
            halves = (
                proxy.connections_between(began, began + (healed - began) / 2),
                proxy.connections_between(began + (healed - began) / 2, healed),
            )
            proxy.heal()
            await send_keys(backend, "q", [f"after-{i}" for i in range(20)], record, steer={"sleep": 0.01})
            acked = record.acked()
            done = await wait_until(
                lambda: acked <= history.completed_keys(), 60, "every message after the heal"
            )
            assert worker.alive(), f"the worker died:\n{worker.log()[-3000:]}"
            pid = worker.pid
            assert worker.stop() == 0, worker.log()[-3000:]
            counts = (await backend.get_queue("q")).counts
    invocations = history.invocations()
    report = check(record.items, invocations)
    events = worker.events()
    resumed = first_start_after(invocations, healed)
    work_during = sum(1 for i in invocations if i.start is not None and began <= i.start < healed)
    summary = {
        **report.summary(),
        "fault_s": round(healed - began, 2),
        "connections_idle_before": idle_connections,
        "connections_during_fault": during,
        "connections_per_s_during_fault": round(during / (healed - began), 2),
        "connections_first_second_half": halves,
        "first_start_after_heal_s": round(resumed - healed, 2) if resumed else None,
        "all_done_after_heal_s": round(done - healed, 2),
        "invocations_during_fault": work_during,
        "backend_unavailable_logged": events_named(events, "backend unavailable"),
        "redis_reconnecting_logged": events_named(events, "redis.reconnecting"),
        "delete_failed_logged": events_named(events, "delete failed"),
    }
    figures.record(f"T7 {fault}", summary)
    assert report.problems() == [], summary
    assert {i.pid for i in invocations} == {pid}
    # a hot loop reconnects thousands of times a second; the back-off allows a few per second
    # per caller at first (base 50 ms, qworker_redis.transport.Transport.retrying), fewer as it grows
    assert during <= 10 * (healed - began), f"reconnect loop: {during} connections in {healed - began:.1f}s"
    assert halves[1] <= halves[0] + 3, f"reconnects did not slow down: {halves}"
    assert resumed is not None and resumed - healed <= MAX_BACKOFF + 2.0, summary
    assert (counts.visible, counts.delayed) == (0, 0)
    if fault == "latency":
        assert work_during > 0, "nothing was processed while the link was slow"
    else:
        assert summary["redis_reconnecting_logged"] > 0, "the fault was never felt: did it happen?"


@pytest.mark.timeout(60)
async def test_t7_idle_worker_keeps_its_connections_with_a_short_socket_timeout(
    redis_server: Any, workers: Workers, history: History
) -> None:
    """T7 (no reconnect loop), at rest: an idle worker long-polls Redis with BLPOP; the wait must
    stay shorter than the URL's socket_timeout, or every wait ends in a client-side timeout that
    drops the connection and opens a new one. socket_timeout=1 is a legal URL.

    Pass: over 4 s of idling, the worker opens no new connection (counted at the proxy) and
    still picks up a message sent afterwards.
    """
    prefix = f"t7i{uuid.uuid4().hex[:10]}"
    record = SendRecord()
    with ThreadedProxy(("127.0.0.1", redis_server.port)) as proxy:
        async with open_backend(f"{redis_server.url}?prefix={prefix}") as backend:
            await backend.create_queue(QueueSpec("q"))
            worker = workers.start("q", f"redis://127.0.0.1:{proxy.port}/0?prefix={prefix}&socket_timeout=1")
            await asyncio.to_thread(worker.wait_ready)
            await asyncio.sleep(0.5)
            before = proxy.accepted
            await asyncio.sleep(4.0)
            idle_connections = proxy.accepted - before
            await send_keys(backend, "q", ["wake"], record)
            await wait_until(lambda: history.completed_keys() == {"wake"}, 10, "the message after idling")
        assert worker.stop() == 0
    figures.record("T7 idle socket_timeout=1", {"new_connections_in_4s_idle": idle_connections})
    assert idle_connections == 0, f"{idle_connections} new connections in 4 s of idling"


# -- SQS: moto's server stopped and restarted ----------------------------------------------------


@pytest.mark.parametrize("state", ["kept", "lost"])
@pytest.mark.timeout(90)
async def test_sqs_endpoint_down_and_back_under_a_running_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: History, workers: Workers, state: str
) -> None:
    """The SQS backend's endpoint (moto's server, in this process) goes away for 3 s and comes
    back on the same port while a worker process polls it.

    At the stop, batches are running (their deletes fall in the outage) and more messages wait.
    ``kept``: moto keeps its state across the restart (it lives in this process), as SQS keeps
    its queues through a network outage: everything sent before the outage must be processed
    after it, the running batches' messages deleted late or redelivered. ``lost``: moto's state
    is wiped, as restarting a moto *process* would; the test recreates the queue (same name, so
    the same URL) before sending again, and only the messages moto itself lost are excused.

    Pass: the worker keeps running (same pid, exits 0 on SIGTERM), resumes within
    MAX_BACKOFF + 2 s of the restart and processes every message sent before and after; lost = 0,
    unexpected = 0. ``kept`` adds: the running batches' deletes, due during the outage, are
    retried until the endpoint is back and succeed; a delete delayed past the visibility timeout
    lets the message run again (a counted duplicate, never a loss). moto's request threads are
    not stopped with its server, so a long poll already waiting can still answer during the
    outage: the outage is certain for new connections only.
    """
    from moto.sqs import models

    from qworker_sqs.testing import MotoSQSServer, clear_aws_environment

    clear_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", MotoSQSServer.REGION)
    server = MotoSQSServer().start()
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    url = server.url(max_attempts=2, connect_timeout=1)
    record = SendRecord()
    try:
        async with open_backend(url) as backend:
            await backend.create_queue(QueueSpec(queue, visibility_timeout=2))
        worker = workers.start(queue, url, "--batch-size", "10", "--max-concurrency", "3", "--timeout", "2")
        await asyncio.to_thread(worker.wait_ready)
        async with open_backend(url) as backend:
            await send_keys(backend, queue, [f"before-{i}" for i in range(30)], record)
            await wait_until(lambda: record.acked() <= history.completed_keys(), 30, "the first messages")
            # over the outage: two batches running (1.5 s handlers, their deletes due mid-outage)
            # while the third slot polls
            over = [f"over-{i}" for i in range(20)]
            await send_keys(backend, queue, over, record, steer={"sleep": {"1": 1.5}})
        await wait_until(lambda: set(over) <= history.started_keys(), 10, "the slow batches to start")
        await asyncio.to_thread(server.stop)
        down = time.time()
        await asyncio.sleep(3.0)
        if state == "lost":
            models.sqs_backends.reset()
            unfinished = {s.key for s in record.items if s.key.startswith("over-")} - history.completed_keys()
            record.items = [s for s in record.items if s.key not in unfinished]  # moto lost them, not qworker
            # The queue is re-created while the endpoint is still down (through a second endpoint
            # on the same in-process moto state), as a deploy restoring it would be: a worker
            # whose queue is gone when it polls exits with "queue does not exist" (exit 2), so
            # re-creating it after the restart would race the worker's first poll.
            side = MotoSQSServer().start()
            try:
                async with open_backend(side.url(max_attempts=2, connect_timeout=1)) as backend:
                    await backend.create_queue(QueueSpec(queue, visibility_timeout=2))
            finally:
                await asyncio.to_thread(side.stop)
        server = MotoSQSServer(port=server.port).start()
        up = time.time()
        async with open_backend(url) as backend:
            await send_keys(backend, queue, [f"after-{i}" for i in range(30)], record)
        acked = record.acked()
        await wait_until(lambda: acked <= history.completed_keys(), 40, "every message after the restart")
        assert worker.alive(), f"the worker died:\n{worker.log()[-3000:]}"
        pid = worker.pid
        assert worker.stop() == 0, worker.log()[-3000:]
    finally:
        server.stop()
    invocations = history.invocations()
    report = check(record.items, invocations)
    events = worker.events()
    resumed = first_start_after(invocations, up)
    late = [e for e in events if e.get("event") == "batch" and e["total_ms"] - e["duration_ms"] > 1000]
    summary = {
        **report.summary(),
        "outage_s": round(up - down, 2),
        "batches_settled_after_the_outage": [(e["outcome"], e["deleted"]) for e in late],
        "delete_failed_logged": events_named(events, "delete failed"),
        "first_start_after_restart_s": round(resumed - up, 2) if resumed else None,
        "backend_unavailable_logged": events_named(events, "backend unavailable"),
    }
    figures.record(f"SQS moto restart state={state}", summary)
    assert report.problems() == [], summary
    assert {i.pid for i in invocations} == {pid}
    assert resumed is not None and resumed - up <= MAX_BACKOFF + 2.0, summary
    assert len(late) >= 2, "no batch had to wait for the endpoint: did the outage happen?"
    if state == "kept":  # deletes due in the outage were retried until it ended, then succeeded
        assert all((e["outcome"], e["deleted"]) == ("success", 10) for e in late), summary
    else:  # moto forgot those receipts: the deletes fail, and say so
        assert summary["delete_failed_logged"] > 0, summary

"""Worker faults (RELIABILITY.md T2, T8, T11, T12), judged by the checker on an outside ledger.

Every test runs ``qworker run`` as a real process and sends it real signals; the handlers
(``tests.reliability.conftest``) record each invocation's start and end, and the sender records
what each send call said. T3 and T4 (SIGTERM drain, grace period) are in
``tests/runtime/test_lifecycle.py`` and are not repeated here.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from typing import Any

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy
from qworker.registry import open_backend
from tests.reliability import figures
from tests.reliability.checker import Kill, check, kill_impacts
from tests.reliability.conftest import (
    ASYNC_HANDLER,
    SOAK,
    SYNC_HANDLER,
    History,
    SendRecord,
    Workers,
    send_keys,
    wait_until,
)

pytestmark = pytest.mark.slow


# -- T2: kill -9 under load ----------------------------------------------------------------------

KILLS = 50 if SOAK else 4
VISIBILITY = 2  #: seconds; short so redeliveries come quickly, long enough that a loaded CI
#: machine never lets a healthy 50 ms batch outlive its lease
ARGS = ["--batch-size", "5", "--max-concurrency", "4", "--timeout", str(VISIBILITY)]


@pytest.mark.parametrize("kind", ["standard", "fifo"])
@pytest.mark.timeout(600 if SOAK else 120)
async def test_t2_kill_9_loop_loses_nothing_and_duplicates_only_what_was_in_flight(
    backend: Backend, backend_url: str, history: History, workers: Workers, kind: str
) -> None:
    """T2: a worker under load is killed with SIGKILL at random moments and restarted at once (a
    supervisor), KILLS times (QWORKER_SOAK=1: 50). Then, with the backlog drained, one more kill
    lands on batches known to be running, to time redelivery with capacity to spare (under a
    backlog a redelivered message waits its turn, which times the backlog, not the redelivery).

    Pass (checker): lost = 0, unexpected = 0; every duplicate completion is explained by a kill
    that caught its earlier completion in flight, and duplicates <= sum of messages in flight at
    the kills; every redelivered copy has receive count >= 2 and counts grow; nothing is
    redelivered before its lease could end; after the measured kill every message that was running
    starts again within visibility + 1 s. FIFO adds: per-group order and no group held by two
    invocations at once (a killed invocation holds its group until its process died).
    """
    fifo = kind == "fifo"
    queue = "t2.fifo" if fifo else "t2"
    await backend.create_queue(QueueSpec(queue, visibility_timeout=VISIBILITY))
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    record = SendRecord()
    stop_sending = asyncio.Event()
    groups = [f"g{i}" for i in range(12)]
    next_seq: dict[str, int] = {}
    sent = 0

    async def send(count: int, sleep: float, own_groups: bool = False) -> list[str]:
        nonlocal sent
        keys = [f"m{sent + i}" for i in range(count)]
        sent += count
        chosen = seqs = None
        if fifo:
            chosen = [f"own{i}" for i in range(count)] if own_groups else [rng.choice(groups) for _ in keys]
            seqs = []
            for group in chosen:
                seqs.append(next_seq.get(group, 0))
                next_seq[group] = seqs[-1] + 1
        await send_keys(backend, queue, keys, record, groups=chosen, seqs=seqs, steer={"sleep": sleep})
        return keys

    async def sender() -> None:
        """About 200 messages/s until told to stop: half or more of what the worker can do (4 slots
        x 5 records per 50 ms handler is 400/s at best), so kills always find work in flight."""
        while not stop_sending.is_set():
            await send(10, 0.05)
            await asyncio.sleep(0.035)

    sending = asyncio.create_task(sender())
    kills: list[Kill] = []
    try:
        for _ in range(KILLS):
            worker = workers.start(queue, backend_url, *ARGS)
            await asyncio.to_thread(worker.wait_ready)
            await wait_until(
                lambda w=worker: any(inv.pid == w.pid for inv in history.invocations()), 30, "a first batch"
            )
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            kills.append(worker.kill9())
    finally:
        stop_sending.set()
        await sending
    worker = workers.start(queue, backend_url, *ARGS)
    await wait_until(lambda: record.acked() <= history.completed_keys(), 60, "the backlog to drain")
    measured = set(await send(8, 1.0, own_groups=True))  # two 1 s batches, both running at once
    await wait_until(lambda: measured <= history.started_keys(), 10, "the measured batches to start")
    kills.append(worker.kill9())
    final = workers.start(queue, backend_url, *ARGS, "--until-empty")
    assert await asyncio.to_thread(final.wait, 90) == 0, final.log()[-3000:]

    invocations = history.invocations()
    report = check(
        record.items,
        invocations,
        deaths={k.pid: k.time for k in kills},
        fifo=fifo,
        visibility_timeout=VISIBILITY,
    )
    impacts = kill_impacts(invocations, kills)
    last = impacts.impacts[-1]
    summary = {
        "seed": seed,
        **report.summary(),
        **impacts.summary(),
        "measured_redelivery_s": sorted(round(v, 3) for v in last.redelivery_latency.values()),
    }
    figures.record(f"T2 {backend_url.split(':')[0]} {kind}", summary)
    assert report.problems() == [], summary
    assert report.sent_ok > 0 and not report.unfinished
    assert impacts.in_flight_total > 0, "no kill caught anything in flight: the test proved nothing"
    assert not impacts.unexplained_duplicates, (
        f"duplicates no kill explains: {impacts.unexplained_duplicates}"
    )
    assert not impacts.low_count_duplicates, "a redelivered copy had receive count 1"
    assert report.duplicate_count <= impacts.in_flight_total
    # a lease taken before the kill ends within VISIBILITY of it; the restarted worker is polling
    # by then (long polls wake when a lease ends): + 1 s (T2)
    assert last.running == measured and set(last.redelivery_latency) == measured, summary
    assert max(last.redelivery_latency.values()) <= VISIBILITY + 1.0, summary
    counts = (await backend.get_queue(queue)).counts
    assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)


# -- T8: handler timeouts in async, thread and process modes -------------------------------------

#: wide enough that a loaded CI machine (2 cores, two test workers, three workers here, a handler
#: process importing) cannot starve a worker's loop past the timeout before the handler starts
T8_TIMEOUT = 2.0
T8_VISIBILITY = 4


async def _dead_letters(backend: Backend, queue: str) -> list[Any]:
    found = []
    while got := await backend.receive(queue, max_messages=10, wait_seconds=0.2):
        found += got
        await backend.delete(queue, [m.receipt_handle for m in got])
    return found


@pytest.mark.timeout(90)
async def test_t8_timeouts_in_async_thread_and_process_modes(
    tmp_path: Any, history: History, workers: Workers
) -> None:
    """T8: a handler that runs 2x its timeout, in the three ways a handler can run (one worker each,
    side by side). The timeout is the runtime's, so one backend (SQLite) is enough.

    Pass, every mode: each timed-out invocation is failed as Lambda fails it (log outcome
    ``timeout``, nothing deleted), the message comes back only after its visibility timeout
    (receive counts 1, 2; none early), then goes to the DLQ after maxReceiveCount = 2 with its
    body; the quick messages beside it complete exactly once; nothing is lost.
    Per mode: ``async`` - the handler is cancelled at the timeout (its end line says cancelled,
    within timeout + 0.5 s); ``thread`` - the thread cannot be stopped: each timed-out invocation
    runs on to completion after the invocation failed (an orphan thread and an extra execution,
    counted); ``process`` - the handler process is killed at the timeout (no end line, nothing ran
    past the timeout) and replaced (the second attempt runs in another pid).
    """
    url = f"sqlite:///{tmp_path}/t8.db"
    modes = {
        "async": (ASYNC_HANDLER, []),
        "thread": (SYNC_HANDLER, ["--isolation", "thread"]),
        "process": (SYNC_HANDLER, ["--isolation", "process"]),
    }
    records: dict[str, SendRecord] = {}
    async with open_backend(url) as backend:
        for mode in modes:
            await backend.create_queue(QueueSpec(f"{mode}-dlq"))
            await backend.create_queue(
                QueueSpec(
                    mode, visibility_timeout=T8_VISIBILITY, redrive_policy=RedrivePolicy(f"{mode}-dlq", 2)
                )
            )
            records[mode] = SendRecord()
            await send_keys(backend, mode, [f"{mode}-slow"], records[mode], steer={"sleep": 2 * T8_TIMEOUT})
            await send_keys(backend, mode, [f"{mode}-q{i}" for i in range(3)], records[mode])
        common = [
            "--batch-size",
            "1",
            "--max-concurrency",
            "2",
            "--timeout",
            str(T8_TIMEOUT),
            "--until-empty",
        ]
        started = {
            mode: workers.start(mode, url, *common, *extra, handler=handler)
            for mode, (handler, extra) in modes.items()
        }
        for mode, worker in started.items():
            assert await asyncio.to_thread(worker.wait, 60) == 0, f"{mode}: {worker.log()[-3000:]}"
        dead = {mode: await _dead_letters(backend, f"{mode}-dlq") for mode in modes}

    invocations = history.invocations()
    results: dict[str, Any] = {}
    for mode, worker in started.items():
        slow_key = f"{mode}-slow"
        mine = [i for i in invocations if i.records[0].key.startswith(f"{mode}-")]
        slow = sorted((i for i in mine if i.records[0].key == slow_key), key=lambda i: i.start or 0)
        batches = [e for e in worker.events() if e.get("event") == "batch"]
        timed_out = {e["request_id"] for e in batches if e["outcome"] == "timeout"}
        report = check(
            records[mode].items,
            mine,
            dead_letters=[json.loads(m.body)["k"] for m in dead[mode]],
            visibility_timeout=T8_VISIBILITY,
            # a fresh handler process imports the handler after the invocation was sent to it
            start_slack=1.0 if mode == "process" else 0.5,
        )
        orphans = [i for i in slow if i.completed and i.request_id in timed_out]
        durations = {e["request_id"]: e["duration_ms"] / 1000 for e in batches}
        lags = [
            round(durations[i.request_id] - ((i.end or 0) - (i.start or 0)), 3)
            for i in mine
            if i.completed and i.request_id in durations and i.request_id not in timed_out
        ]
        results[mode] = {
            "timed_out": len(timed_out),
            "orphan_executions": len(orphans),
            "durations": [round((i.end or 0) - (i.start or 0), 2) if i.end else None for i in slow],
            "pids": len({i.pid for i in slow}),
            "invocation_minus_handler_seconds": lags,
        }
        assert report.problems() == [], (mode, report.summary())
        assert [r.receive_count for i in slow for r in i.records] == [1, 2], mode
        assert {i.request_id for i in slow} == timed_out, f"{mode}: each slow invocation must time out"
        assert report.ok == {f"{mode}-q{i}" for i in range(3)}, mode
        assert [json.loads(m.body)["k"] for m in dead[mode]] == [slow_key], mode
        if mode == "async":
            assert [i.outcome for i in slow] == ["cancelled", "cancelled"]
            assert all((i.end or 0) - (i.start or 0) <= T8_TIMEOUT + 0.5 for i in slow)
        elif mode == "thread":
            # documented: a thread cannot be killed; each timed-out invocation ran to the end
            assert len(orphans) == 2 and report.duplicated == {slow_key: 2}
            assert all((i.end or 0) - (i.start or 0) >= 2 * T8_TIMEOUT for i in orphans)
        else:
            assert [i.outcome for i in slow] == [None, None], "a killed handler process cannot finish"
            assert len({i.pid for i in slow}) == 2 and worker.pid not in {i.pid for i in slow}
            assert report.duplicated == {}
            for invocation in slow:  # killed and reaped, not left running
                with pytest.raises(ProcessLookupError):
                    os.kill(invocation.pid, 0)
    figures.record("T8", results)


STUCK_SLEEP = 8.0  #: far past the 1 s timeout and the 2 s visibility timeout


@pytest.mark.timeout(90)
async def test_t8_stuck_sync_threads_never_send_other_messages_to_the_dlq_unrun(
    tmp_path: Any, history: History, workers: Workers
) -> None:
    """T8, issue 13 defect 1 (its reproduction): sync handlers stuck far past their timeout
    (threads cannot be stopped) must not starve the messages beside them. SQLite, visibility
    2 s, DLQ after maxReceiveCount 2, two messages whose handler sleeps 8 s and four quick ones,
    ``--batch-size 1 --max-concurrency 2 --timeout 1``. On the old code the stuck threads kept
    the pool's two threads, every quick message waited in the pool's queue until its invocation
    "timed out" unstarted, and all four reached the DLQ without their handler ever starting.

    Pass: every quick message is handled exactly once; nothing is dead-lettered unrun; the slow
    ones reach the DLQ only after their handler started on them twice (maxReceiveCount); the
    worker logged the stuck threads, replaced the first two (2 = --max-concurrency) and held a
    slot for each one beyond; it exits 0 once the queue is empty.
    """
    url = f"sqlite:///{tmp_path}/stuck.db"
    record = SendRecord()
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("dlq"))
        await backend.create_queue(
            QueueSpec("q", visibility_timeout=2, redrive_policy=RedrivePolicy("dlq", 2))
        )
        await send_keys(backend, "q", ["slow-1", "slow-2"], record, steer={"sleep": STUCK_SLEEP})
        await send_keys(backend, "q", [f"quick-{i}" for i in range(4)], record)
        worker = workers.start(
            "q",
            url,
            *("--batch-size", "1", "--max-concurrency", "2", "--timeout", "1", "--until-empty"),
            handler=SYNC_HANDLER,
        )
        assert await asyncio.to_thread(worker.wait, 75) == 0, worker.log()[-3000:]
        dead = await _dead_letters(backend, "dlq")
    dead_keys = sorted(json.loads(m.body)["k"] for m in dead)
    report = check(record.items, history.invocations(), dead_letters=dead_keys)
    events = worker.events()
    replaced = [
        e for e in events if str(e.get("event", "")).startswith("a sync handler thread is still running")
    ]
    held = [e for e in events if "its concurrency slot stays taken" in str(e.get("event", ""))]
    starts = {k: sum(1 for i in history.invocations() if i.records[0].key == k) for k in ("slow-1", "slow-2")}
    figures.record(
        "T8 stuck threads",
        {"dead_lettered": dead_keys, "slow_starts": starts, "replaced": len(replaced), "held": len(held)},
    )
    assert report.problems() == [], report.summary()
    assert report.ok >= {f"quick-{i}" for i in range(4)}, report.summary()
    assert set(dead_keys) <= {"slow-1", "slow-2"}
    assert all(starts[k] >= 2 for k in dead_keys), starts
    assert len(replaced) == 2 and held, [e.get("event") for e in events]


@pytest.mark.timeout(60)
async def test_t8_process_isolation_import_time_is_not_part_of_the_function_timeout(
    tmp_path: Any, history: History, workers: Workers
) -> None:
    """T8, process isolation with a handler module that takes longer to import than the function
    timeout (a framework, a model). On Lambda the import is the Init phase, limited separately
    (10 s) and never counted against the function timeout, so these invocations succeed.

    Pass: each message is handled once, and nothing reaches the DLQ.
    """
    url = f"sqlite:///{tmp_path}/t8-import.db"
    record = SendRecord()
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("dlq"))
        await backend.create_queue(
            QueueSpec("q", visibility_timeout=1, redrive_policy=RedrivePolicy("dlq", 2))
        )
        await send_keys(backend, "q", ["a", "b"], record)
        worker = workers.start(
            "q",
            url,
            *("--isolation", "process", "--timeout", "1", "--batch-size", "1", "--max-concurrency", "2"),
            "--until-empty",
            handler=SYNC_HANDLER,
            env={"QW_TEST_IMPORT_DELAY": "1.3"},
        )
        assert await asyncio.to_thread(worker.wait, 45) == 0, worker.log()[-3000:]
        dead = await _dead_letters(backend, "dlq")
    report = check(record.items, history.invocations(), dead_letters=[json.loads(m.body)["k"] for m in dead])
    outcomes = [e["outcome"] for e in worker.events() if e.get("event") == "batch"]
    figures.record(
        "T8 process import", {"outcomes": outcomes, "dead_lettered": len(dead), **report.summary()}
    )
    assert not dead, f"handled by the DLQ, never by the handler: batch outcomes {outcomes}"
    assert report.ok == {"a", "b"}


# -- T11: visibility runs out while the handler is still running --------------------------------

HEARTBEAT = ["--visibility-heartbeat", "0.3", "--timeout", "10"]


async def _in_flight(backend: Backend, queue: str) -> int:
    return (await backend.get_queue(queue)).counts.in_flight


@pytest.mark.parametrize("heartbeat", [False, True], ids=["no-heartbeat", "heartbeat"])
@pytest.mark.timeout(60)
async def test_t11b_frozen_worker_cannot_delete_the_next_holders_copy(
    backend: Backend, backend_url: str, history: History, workers: Workers, heartbeat: bool
) -> None:
    """T11(b): worker A is frozen (SIGSTOP, as a VM pause or a long GC would) past the visibility
    timeout while it runs a message; worker B receives it again (count 2) and holds it (B has a
    heartbeat); then A resumes (SIGCONT). (Count 3 when A froze with a long poll on its way: see
    below.)

    Without a heartbeat A's timeout (<= visibility, ESM-CFG-4) has passed too, so A's invocation
    fails as a timeout and A does not delete. With a heartbeat A's handler completes, its heartbeat
    finds the lease gone, and its delete is refused as ReceiptHandleIsStale (fencing, stricter
    than SQS). Pass, both: the second delivery happens; B's copy is still in flight after A has
    settled its batch (A deleted nothing that B holds); B then completes and deletes it; nothing
    is lost, and exactly the two deliveries ran.
    """
    await backend.create_queue(QueueSpec("q", visibility_timeout=1))
    record = SendRecord()
    a_args = HEARTBEAT if heartbeat else ["--timeout", "1"]
    a = workers.start("q", backend_url, *a_args)
    await asyncio.to_thread(a.wait_ready)
    await send_keys(backend, "q", ["m"], record, steer={"sleep": {"1": 0.8, "*": 2.5}})
    await wait_until(lambda: history.started_keys(), 10, "A to start the message")
    a.signal(signal.SIGSTOP)
    stopped = time.time()
    b = workers.start("q", backend_url, *HEARTBEAT)
    await wait_until(
        lambda: any(i.pid == b.pid for i in history.invocations()), 15, "B to receive it after A's lease"
    )
    a.signal(signal.SIGCONT)
    frozen = time.time() - stopped
    await wait_until(lambda: "batch" in a.event_names(), 10, "A to settle its batch after resuming")
    b_holds_it = await _in_flight(backend, "q")
    b_running = not any(i.pid == b.pid and i.end is not None for i in history.invocations())
    await wait_until(lambda: "batch" in b.event_names(), 10, "B to finish")
    invocations = history.invocations()
    report = check(record.items, invocations)
    a_batch = next(e for e in a.events() if e.get("event") == "batch")
    b_batch = next(e for e in b.events() if e.get("event") == "batch")
    stale = [e for e in a.events() if "received again after their visibility timeout" in str(e.get("event"))]
    lost_beat = [e for e in a.events() if str(e.get("event")).startswith("heartbeat lost messages")]
    figures.record(
        f"T11b {backend_url.split(':')[0]} heartbeat={heartbeat}",
        {
            "frozen_s": round(frozen, 2),
            "a_outcome": a_batch["outcome"],
            "a_deleted": a_batch["deleted"],
            "stale_acks": sum(e.get("count", 0) for e in stale),
            "heartbeat_lost": len(lost_beat),
            "b_deleted": b_batch["deleted"],
        },
    )
    assert report.problems() == [], report.summary()
    # A may have had a long poll on its way when it froze: Redis (or SQLite's thread) then took
    # a second copy for A that A reads only after resuming, when that copy's lease is over. A
    # must drop it unrun (qworker.safe_receive.still_held), and B gets the message with count 3.
    runs = sorted((i.pid, i.records[0].receive_count) for i in invocations)
    assert runs in (sorted([(a.pid, 1), (b.pid, 2)]), sorted([(a.pid, 1), (b.pid, 3)])), runs
    assert b_running and b_holds_it == 1, "A's settling removed the copy B was still running"
    assert a_batch["deleted"] == 0
    if heartbeat:
        assert a_batch["outcome"] == "success" and [e["count"] for e in stale] == [1]
    else:
        assert a_batch["outcome"] == "timeout"
    assert b_batch["outcome"] == "success" and b_batch["deleted"] == 1
    if heartbeat:  # both ran to completion: at-least-once, and counted
        assert report.duplicated == {"m": 2}
    else:  # A's run was cancelled at its timeout
        assert report.ok == {"m"}
    assert (await backend.get_queue("q")).counts.in_flight == 0
    assert a.stop() == 0 and b.stop() == 0


# -- T12: a handler that blocks the event loop -------------------------------------------------


STYLES = {  #: how the handler spends 2.5x the visibility timeout: (handler, steering)
    "async-await": (ASYNC_HANDLER, {"sleep": {"1": 2.5}}),
    "async-sleep": (ASYNC_HANDLER, {"block": {"1": 2.5}}),
    "async-spin": (ASYNC_HANDLER, {"spin": {"1": 2.5}}),
    "sync-thread": (SYNC_HANDLER, {"sleep": {"1": 2.5}}),
}


@pytest.mark.parametrize(
    ("backend_url", "style"),
    [("sqlite", "async-await"), ("redis", "async-sleep"), ("sqlite", "async-spin"), ("redis", "sync-thread")],
    indirect=["backend_url"],
)
@pytest.mark.timeout(60)
async def test_t11a_t12_heartbeat_keeps_the_lease_of_a_long_or_blocking_handler(
    backend: Backend, backend_url: str, history: History, workers: Workers, style: str
) -> None:
    """T11(a) and T12: a handler runs 2.5x the visibility timeout under --visibility-heartbeat 0.3,
    while a second worker polls the queue. ``async-await``: it awaits (T11a). T12, the handler
    holds its thread: ``time.sleep`` inside an ``async def`` (the event loop is blocked), a busy
    loop inside an ``async def`` (blocked, and the GIL held), a ``def`` handler in a thread (the
    loop stays free). The heartbeat is the runtime's and the backends share it, so each style runs
    on one backend and both backends are covered.

    Pass: the lease is never lost: one delivery (count 1), completed and deleted by the first
    worker; the second never sees it. (The heartbeat runs in a thread with its own connection, so
    a blocked event loop does not stop it; with the heartbeat on the loop, the blocking styles
    lost their lease.)
    """
    await backend.create_queue(QueueSpec("q", visibility_timeout=1))
    record = SendRecord()
    handler, steer = STYLES[style]
    a = workers.start("q", backend_url, *HEARTBEAT, handler=handler)
    await asyncio.to_thread(a.wait_ready)
    await send_keys(backend, "q", ["m"], record, steer=steer)
    await wait_until(lambda: history.started_keys(), 10, "A to start the message")
    b = workers.start("q", backend_url, *HEARTBEAT, handler=handler)
    await asyncio.to_thread(b.wait_ready)
    await wait_until(lambda: "batch" in a.event_names(), 10, "A to settle its batch")
    await asyncio.sleep(1.2)  # longer than the visibility timeout: a lost lease would show by now
    invocations = sorted(history.invocations(), key=lambda i: i.start or 0)
    report = check(record.items, invocations)
    a_batch = next(e for e in a.events() if e.get("event") == "batch")
    deliveries = [("A" if i.pid == a.pid else "B", i.records[0].receive_count) for i in invocations]
    figures.record(
        f"T12 {backend_url.split(':')[0]} {style}",
        {"deliveries": deliveries, "handler_s": 2.5, "visibility_s": 1, "a_deleted": a_batch["deleted"]},
    )
    assert report.problems() == []
    assert deliveries == [("A", 1)], "the lease was lost while the handler blocked"
    assert report.ok == {"m"} and a_batch["outcome"] == "success" and a_batch["deleted"] == 1
    assert (await backend.get_queue("q")).counts.in_flight == 0
    assert a.stop() == 0 and b.stop() == 0


@pytest.mark.parametrize(
    ("backend_url", "heartbeat"), [("sqlite", False), ("redis", True)], indirect=["backend_url"]
)
@pytest.mark.timeout(60)
async def test_t8_async_handler_blocking_past_its_timeout_is_a_timeout(
    backend: Backend, backend_url: str, history: History, workers: Workers, heartbeat: bool
) -> None:
    """T8/T12: an ``async def`` handler that blocks the loop (``time.sleep``) for 2x its function
    timeout cannot be cancelled (it never yields), but the invocation still ran past its timeout.
    Lambda would have stopped it and failed it ("Task timed out"): nothing deleted, the message
    back after its visibility timeout.

    Pass: the overrunning invocation's outcome is ``timeout`` and it deletes nothing; the message
    is delivered again (count 2) and completes there. With --visibility-heartbeat the lease must
    not be renewed past the function timeout either, or a handler stuck for good would hold its
    message for good: the second worker gets it before the first worker's handler returns.
    """
    timeout = 1.5
    await backend.create_queue(QueueSpec("q", visibility_timeout=timeout))
    record = SendRecord()
    args = [*HEARTBEAT[:2], "--timeout", str(timeout)] if heartbeat else ["--timeout", str(timeout)]
    a = workers.start("q", backend_url, *args)
    await asyncio.to_thread(a.wait_ready)
    await send_keys(backend, "q", ["m"], record, steer={"block": {"1": 2 * timeout}})
    await wait_until(lambda: history.started_keys(), 10, "A to start the message")
    b = workers.start("q", backend_url, *args)
    await asyncio.to_thread(b.wait_ready)
    await wait_until(lambda: "batch" in a.event_names(), 15, "A to settle its batch")
    await asyncio.sleep(timeout + 1.0)
    invocations = sorted(history.invocations(), key=lambda i: i.start or 0)
    a_batch = next(e for e in a.events() if e.get("event") == "batch")
    deliveries = [("A" if i.pid == a.pid else "B", i.records[0].receive_count) for i in invocations]
    a_run = invocations[0]
    figures.record(
        f"T8 blocking-async {backend_url.split(':')[0]} heartbeat={heartbeat}",
        {
            "a_outcome": a_batch["outcome"],
            "a_deleted": a_batch["deleted"],
            "a_ran_s": round((a_run.end or 0) - (a_run.start or 0), 2),
            "timeout_s": timeout,
            "deliveries": deliveries,
        },
    )
    assert (a_batch["outcome"], a_batch["deleted"]) == ("timeout", 0), (
        f"an invocation that ran {(a_run.end or 0) - (a_run.start or 0):.1f}s with a {timeout}s timeout "
        f"was settled as {a_batch['outcome']} and deleted {a_batch['deleted']}"
    )
    assert [d[1] for d in deliveries] == [1, 2] and deliveries[1][0] == "B"
    if heartbeat:
        b_run = invocations[1]
        assert (b_run.start or 0) < (a_run.end or 0), "the lease was renewed past the function timeout"
    assert a.stop() == 0 and b.stop() == 0

"""T6 and T20, measured: what a Redis machine crash or a replica failover loses, and what it brings
back, through qworker's Redis backend.

Both tests run a producer (sends of 10, 1,000 messages/s) and a consumer at the same pace that
started a second later (so about a second of sends waits in the queue, as on a busy queue) and
handles each batch for 0.2 s before deleting it, against one queue, with every call's start and
acknowledgement time on one monotonic clock, then take Redis away and look at what the surviving
state holds:

* **T6**, a machine crash: Redis runs with ``appendonly yes`` / ``appendfsync everysec``; a copier
  copies the multi-part AOF directory (``appendonlydir/``) every 0.25 s while the traffic runs;
  Redis is killed (SIGKILL) and a fresh redis-server is started on the copy taken at least Δ
  before the kill (Δ = 1 s, the ``everysec`` window, and Δ = 5 s). The copy is what had reached
  the disk at that moment; the kill loses nothing more (T5), so this is the state after a crash
  that lost the last Δ of unsynced writes.
* **T20**, a replica failover: a primary and a replica (``--replicaof``), either linked directly
  or through the tests' fault proxy adding 250 ms of latency (a replica that lags); the primary
  is killed (SIGKILL) with its link to the replica cut at the same instant, the replica is
  promoted (``REPLICAOF NO ONE``) and a new backend opened on it.

Then, in both: every message in the surviving queue is classified against the ledger (Jepsen's
terms: lost, duplicated = a deleted message that came back, unexpected), the queue is checked for
consistency (counts agree with what is there, receipts of the lost timeline are refused without
an error of the whole call, every message drains exactly once, nothing stays in flight, and a new
send, receive and delete work) and the figures are recorded.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from qworker.backend import QueueSpec, SendEntry
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer
from tests.reliability import figures
from tests.reliability.proxy import ThreadedProxy

VT = 2.0  #: the queue's visibility timeout (s): leases of a lost timeline end this soon
QUEUE = "crash-model"


@dataclass
class Ledger:
    """What the clients saw, on ``time.monotonic()``."""

    sends: dict[str, tuple[float, float]] = field(default_factory=dict)  #: id -> (call, ack)
    received: dict[str, list[float]] = field(default_factory=dict)  #: id -> reply times
    handles: dict[str, tuple[float, str]] = field(default_factory=dict)  #: id -> last (time, handle)
    deletes: dict[str, tuple[float, float, str]] = field(default_factory=dict)  #: id -> (call, ack, handle)
    #: bodies of sends whose call was under way at the crash: outcome unknown
    unknown: set[str] = field(default_factory=set)


#: the consumer starts this long after the producer, at the same pace: a standing backlog of
#: about this many seconds of sends waits in the queue (a busy queue, not an idle one)
BACKLOG_S = 1.0
#: each received batch is "handled" this long before its delete (leases are held meanwhile)
HANDLE_S = 0.2
RATE = 1000  #: messages per second, in sends (and receives) of 10


async def run_traffic(backend: RedisBackend, ledger: Ledger, stop: asyncio.Event) -> None:
    """A paced producer and a consumer that lags it by BACKLOG_S, until cancelled."""
    handlers: set[asyncio.Task[None]] = set()

    async def produce() -> None:
        n = 0
        due = time.monotonic()
        while not stop.is_set():
            bodies = [f"b{n + i}" for i in range(10)]
            ledger.unknown.update(bodies)
            start = time.monotonic()
            result = await backend.send(QUEUE, [SendEntry(body) for body in bodies])
            ack = time.monotonic()
            ledger.unknown.difference_update(bodies)
            for sent in result.successful:
                ledger.sends[sent.message_id] = (start, ack)
            n += 10
            due += 10 / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def handle(got: list[Any]) -> None:
        await asyncio.sleep(HANDLE_S)
        start = time.monotonic()
        failed = {e.receipt_handle for e in await backend.delete(QUEUE, [m.receipt_handle for m in got])}
        ack = time.monotonic()
        for m in got:
            if m.receipt_handle not in failed:
                ledger.deletes[m.message_id] = (start, ack, m.receipt_handle)

    async def consume() -> None:
        await asyncio.sleep(BACKLOG_S)
        due = time.monotonic()
        while not stop.is_set():
            got = await backend.receive(QUEUE, max_messages=10, wait_seconds=0.05)
            now = time.monotonic()
            for m in got:
                ledger.received.setdefault(m.message_id, []).append(now)
                ledger.handles[m.message_id] = (now, m.receipt_handle)
            if got:
                task = asyncio.create_task(handle(got))
                handlers.add(task)
                task.add_done_callback(handlers.discard)
            due += 10 / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    try:
        await asyncio.gather(produce(), consume())
    finally:
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def traffic_until_killed(url: str, ledger: Ledger, seconds: float, kill: Any, *extra: Any) -> float:
    """Create the queue, run the traffic (and ``extra`` coroutines) for ``seconds``, then call
    ``kill()``; returns the monotonic time just before the kill. Calls in flight at the kill are
    cancelled: their outcome is unknown and the ledger does not count them."""
    stop = asyncio.Event()
    async with RedisBackend(url + "?retry_timeout=1") as backend:
        await backend.create_queue(QueueSpec(QUEUE, visibility_timeout=VT))
        tasks = [asyncio.create_task(run_traffic(backend, ledger, stop))]
        tasks += [asyncio.create_task(coroutine) for coroutine in extra]
        await asyncio.sleep(seconds)
        for task in tasks:
            assert not task.done(), task  # still running, not failed
        killed_at = time.monotonic()
        kill()
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return killed_at


async def examine(url: str, ledger: Ledger) -> tuple[dict[str, str], dict[str, Any]]:
    """Open a backend on the surviving server and check the queue is consistent and usable.

    Returns the messages it held (id -> body) and consistency figures."""
    async with RedisBackend(url) as backend:
        assert QUEUE in await backend.list_queues()
        counts = (await backend.get_queue(QUEUE)).counts
        total = counts.visible + counts.in_flight + counts.delayed
        peeked = await backend.peek(QUEUE, max_messages=1_000_000)
        held = {m.message_id: m.body for m in peeked}
        assert len(held) == len(peeked) == total, (len(held), len(peeked), counts)

        # the consumer's deletes, sent again as a worker retrying after the outage would: one
        # whose receive's lease survived (its token is the message's current one) applies again;
        # the others are refused entry by entry (a stale token) or are no-ops (SQS: a handle
        # whose message is gone succeeds), never an error of the whole call
        replay = [handle for _, _, handle in ledger.deletes.values()]
        refused: Counter[str] = Counter()
        for i in range(0, len(replay), 1000):
            refused.update(e.code for e in await backend.delete(QUEUE, replay[i : i + 1000]))
        after_replay = {m.message_id for m in await backend.peek(QUEUE, max_messages=1_000_000)}
        applied = set(held) - after_replay
        assert after_replay <= set(held) and applied <= set(ledger.deletes)

        # the handlers that were running at the crash finish and delete their messages
        running = [handle for m, (_, handle) in ledger.handles.items() if m not in ledger.deletes]
        refused.update(e.code for e in await backend.delete(QUEUE, running))
        left = {m.message_id for m in await backend.peek(QUEUE, max_messages=1_000_000)}
        finished = after_replay - left
        assert left <= after_replay and not finished & set(ledger.deletes)

        # every message left drains exactly once, in-flight ones when their old lease ends
        drained: Counter[str] = Counter()
        deadline = time.monotonic() + VT + 10
        while time.monotonic() < deadline:
            got = await backend.receive(QUEUE, max_messages=1000, wait_seconds=0.2)
            drained.update(m.message_id for m in got)
            if got:
                assert not await backend.delete(QUEUE, [m.receipt_handle for m in got])
            c = (await backend.get_queue(QUEUE)).counts
            if (c.visible, c.in_flight, c.delayed) == (0, 0, 0):
                break
        assert max(drained.values(), default=1) == 1, "a message was delivered twice while draining"
        assert set(drained) == left, (len(drained), len(left))

        # and the queue works
        await backend.send(QUEUE, [SendEntry("after")])
        (message,) = await backend.receive(QUEUE, max_messages=10, wait_seconds=1)
        assert message.body == "after" and not await backend.delete(QUEUE, [message.receipt_handle])
        c = (await backend.get_queue(QUEUE)).counts
        assert (c.visible, c.in_flight, c.delayed) == (0, 0, 0)
    return held, {
        "held_after": total,
        "held_in_flight_after": counts.in_flight,
        "replayed_deletes_applied": len(applied),
        "running_handlers": len(running),
        "running_handlers_deletes_applied": len(finished),
        "late_deletes_refused": dict(refused),
        # a replayed delete of a message the surviving state holds without that receive: it
        # reports success, the message is delivered again (a duplicate, never a loss)
        "replayed_deletes_without_effect": sum(1 for m in ledger.deletes if m in after_replay),
    }


def classify(ledger: Ledger, held: dict[str, str], killed_at: float) -> dict[str, Any]:
    """Jepsen's classes for the acknowledged operations against what survived: ``lost`` is an
    acknowledged send the consumer never got and the surviving state does not hold (an
    acknowledged send that was rolled back after the consumer had it is not lost: it was
    processed); ``deleted_came_back`` will be processed again (a duplicate)."""
    lost = [m for m in ledger.sends if m not in held and m not in ledger.received]
    came_back = [m for m in ledger.deletes if m in held]
    return {
        "acked_sends": len(ledger.sends),
        "acked_deletes": len(ledger.deletes),
        "ack_rate_per_s": len(ledger.sends) / max(1e-9, killed_at - min(c for c, _ in ledger.sends.values())),
        "lost": len(lost),
        "lost_ack_age_s": _span([killed_at - ledger.sends[m][1] for m in lost]),
        "deleted_came_back": len(came_back),
        "came_back_delete_age_s": _span([killed_at - ledger.deletes[m][1] for m in came_back]),
        "in_flight_redelivered": sum(1 for m in held if m in ledger.received and m not in ledger.deletes),
        "unknown_outcome_sends": len(ledger.unknown),
        "unknown_outcome_sends_held": sum(1 for body in held.values() if body in ledger.unknown),
        "unexpected": sum(
            1 for m, body in held.items() if m not in ledger.sends and body not in ledger.unknown
        ),
    }


def _span(ages: list[float]) -> list[float]:
    return [round(min(ages), 3), round(max(ages), 3)] if ages else []


def check_cut(ledger: Ledger, held: dict[str, str], before: float, after: float) -> dict[str, int]:
    """The surviving state holds every write acknowledged before ``before`` and none begun after
    ``after`` (between the two, either). Returns the counts of each kind of violation."""
    missing = [
        m
        for m, (_, ack) in ledger.sends.items()
        if ack < before and m not in held and not (m in ledger.deletes and ledger.deletes[m][0] < after)
    ]
    resurrected = [m for m, (_, ack, _) in ledger.deletes.items() if ack < before and m in held]
    from_the_future = [m for m, (call, _) in ledger.sends.items() if call > after and m in held]
    return {
        "acked_before_cut_missing": len(missing),
        "deleted_before_cut_back": len(resurrected),
        "sent_after_cut_present": len(from_the_future),
    }


# == T6 ==========================================================================================


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_t6_machine_crash_as_a_rollback_to_an_older_aof(tmp_path: Path) -> None:
    """T6 (RELIABILITY.md §3): lost ≤ sends acknowledged in the Δ window, duplicated ≤ deletes
    acknowledged in it, nothing acknowledged before the copy is missing, nothing deleted before it
    comes back, and the restored queue is consistent and usable."""
    aof = ("--appendonly", "yes", "--appendfsync", "everysec")
    server = RedisServer(*aof).start()
    copies: list[tuple[float, float, Path]] = []  # (copy began, copy ended, directory)
    stopped = asyncio.Event()

    async def copier() -> None:
        while not stopped.is_set():
            await asyncio.sleep(0.25)
            dest = tmp_path / f"aof-{len(copies)}"
            began = time.monotonic()
            await asyncio.to_thread(shutil.copytree, server.dir / "appendonlydir", dest)
            copies.append((began, time.monotonic(), dest))

    ledger = Ledger()
    try:
        killed_at = await traffic_until_killed(server.url, ledger, 7.0, server.kill, copier())
        stopped.set()
    finally:
        server.cleanup()
    assert len(ledger.sends) > 2000 and len(ledger.deletes) > 1000, "too little traffic to measure"

    for delta in (1.0, 5.0):
        began, ended, copy = max(c for c in copies if c[0] <= killed_at - delta)
        restored = RedisServer(*aof)
        shutil.copytree(copy, restored.dir / "appendonlydir")
        try:
            restored.start()
            log = restored.logfile.read_text(errors="replace")
            held, consistency = await examine(restored.url, ledger)
        finally:
            restored.cleanup()
        summary = classify(ledger, held, killed_at)
        cut = check_cut(ledger, held, began, ended)
        in_window = {
            "sends_acked_after_copy": sum(1 for _, ack in ledger.sends.values() if ack >= began),
            # acknowledged sends the rollback undid, whether or not the consumer had them already
            "sends_rolled_back": sum(
                1
                for m in ledger.sends
                if m not in held and not (m in ledger.deletes and ledger.deletes[m][1] < began)
            ),
            "deletes_acked_after_copy": sum(1 for _, ack, _ in ledger.deletes.values() if ack >= began),
        }
        figures.record(
            f"T6 delta={delta:g}s",
            {
                "copy_age_s": killed_at - began,
                **summary,
                **in_window,
                **cut,
                **consistency,
                "aof_tail_truncated": "AOF loaded anyway because aof-load-truncated" in log,
            },
        )
        assert "DB loaded from append only file" in log or "DB loaded from" in log, log[-2000:]
        assert cut == dict.fromkeys(cut, 0), cut
        assert summary["unexpected"] == 0
        assert summary["lost"] <= in_window["sends_acked_after_copy"]
        assert summary["deleted_came_back"] <= in_window["deletes_acked_after_copy"]
        # the window is the copy's age: nothing older was lost or came back
        assert all(age <= killed_at - began + 0.05 for age in summary["lost_ack_age_s"])
        assert all(age <= killed_at - began + 0.05 for age in summary["came_back_delete_age_s"])


# == T20 =========================================================================================

LAG = 0.25  #: the lagging replica's link latency (s)
HEARTBEAT = "t20:heartbeat"


def wait_for_sync(replica: RedisServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = replica.cli("INFO", "replication")
        if "master_link_status:up" in info and "master_sync_in_progress:0" in info:
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not sync:\n{replica.cli('INFO', 'replication')}")


async def heartbeat(port: int, beats: dict[int, tuple[float, float]]) -> None:
    """INCR a counter on the primary every 5 ms, recording each value's (call, ack) times. The
    value the promoted replica holds marks where replication stopped: Redis executes commands in
    one order and replicates them in that order, so every write acknowledged before that
    heartbeat's call made it across, and no write begun after the next heartbeat's ack did."""
    client = Redis(host="127.0.0.1", port=port)
    try:
        while True:
            call = time.monotonic()
            value = await client.incr(HEARTBEAT)
            beats[value] = (call, time.monotonic())
            await asyncio.sleep(0.005)
    finally:
        await client.aclose()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("link", ["direct", "lagging"])
async def test_t20_replica_failover(link: str) -> None:
    """T20 (RELIABILITY.md §3): the primary dies (SIGKILL, its link to the replica cut at the same
    moment), the replica is promoted. Losses are expected (asynchronous replication) and
    measured; asserted only what replication guarantees: the promoted replica holds every write
    acknowledged before the last replicated heartbeat and none begun after the first lost one
    (so losses and deleted messages coming back are confined to the replication lag at the
    crash), nothing unexpected appears, and the queue is consistent and usable."""
    primary = RedisServer().start()
    proxy = ThreadedProxy(("127.0.0.1", primary.port)).start() if link == "lagging" else None
    upstream = proxy.port if proxy else primary.port
    replica = RedisServer("--replicaof", "127.0.0.1", str(upstream))
    ledger = Ledger()
    beats: dict[int, tuple[float, float]] = {}
    try:
        replica.start()
        await asyncio.to_thread(wait_for_sync, replica)
        if proxy:
            proxy.latency(LAG)

        def crash() -> None:
            if proxy:
                proxy.reset()  # the primary's machine is gone: so is what it had not delivered
            primary.kill()

        killed_at = await traffic_until_killed(
            primary.url, ledger, 5.0, crash, heartbeat(primary.port, beats)
        )
        replica.cli("REPLICAOF", "NO", "ONE")
        promoted_at = time.monotonic()
        replicated = int(replica.cli("GET", HEARTBEAT).strip() or 0)
        held, consistency = await examine(replica.url, ledger)
    finally:
        replica.cleanup()
        if proxy:
            proxy.close()
        primary.cleanup()
    assert len(ledger.sends) > 1500 and len(ledger.deletes) > 500, "too little traffic to measure"
    assert replicated in beats, (replicated, max(beats))
    before = beats[replicated][0]
    after = beats[replicated + 1][1] if replicated + 1 in beats else float("inf")
    summary = classify(ledger, held, killed_at)
    cut = check_cut(ledger, held, before, after)
    figures.record(
        f"T20 {link}",
        {
            "link_latency_s": LAG if proxy else 0.0,
            # how old the newest write the replica got was at the crash
            "replication_lag_at_crash_s": killed_at - beats[replicated][1],
            "heartbeats_lost": max(beats) - replicated,
            **summary,
            "sends_acked_after_cut": sum(1 for _, ack in ledger.sends.values() if ack >= before),
            "deletes_acked_after_cut": sum(1 for _, ack, _ in ledger.deletes.values() if ack >= before),
            **cut,
            **consistency,
            "promotion_s_after_kill": promoted_at - killed_at,
        },
    )
    assert cut == dict.fromkeys(cut, 0), cut
    assert summary["unexpected"] == 0
    assert all(age <= killed_at - before for age in summary["lost_ack_age_s"])
    assert all(age <= killed_at - before for age in summary["came_back_delete_age_s"])


def _field(info: str, name: str) -> str:
    for line in info.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)

"""Throughput of the SQLite backend: send, and receive + delete, at batch sizes 1, 10 and 100.

One process, one backend (one connection and its worker thread), a fresh database file per
case, ``synchronous=normal`` (the default), 200-byte bodies. Each case first sends its messages
in batches (timed), then receives and deletes them in batches of the same size (timed). Also
measured: FIFO at batch 10 (messages spread over 50 groups), how fast a long poll wakes up when
another connection commits (the cross-process path), and the CPU an idle long poll costs.

Run: ``.venv/bin/python -m benchmarks.bench_sqlite`` (``--quick`` for a smoke run). Results go
to the ``sqlite-backend`` section of benchmarks/RESULTS.md.

``--latency`` instead measures the idle send-to-handler latency across processes with each
wake-up mode (``wakeup=poll`` and ``wakeup=inotify``), the idle worker's CPU, and where the time
goes (:mod:`benchmarks.sqlite_latency`); it writes the ``sqlite-latency`` section.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import sqlite_latency
from benchmarks.results import write_section
from qworker.backend import QueueSpec, SendEntry
from qworker_sqlite import SQLiteBackend

BODY = '{"order": 12345, "customer": "c-42", "items": [1, 2, 3], "note": "' + "x" * 140 + '"}'
#: messages per case, by batch size (more for bigger batches, so each case runs about a second)
MESSAGES = {1: 5_000, 10: 30_000, 100: 150_000}


@dataclass
class Case:
    label: str
    batch: int
    messages: int
    send_per_s: float
    receive_delete_per_s: float


async def run_case(directory: Path, batch: int, messages: int, *, fifo: bool = False) -> Case:
    queue = "bench.fifo" if fifo else "bench"
    url = f"sqlite:///{directory}/{'fifo' if fifo else 'std'}-{batch}.db"
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec(queue, content_based_deduplication=fifo))
        entries = [
            [
                SendEntry(f"{BODY}{start + i}", message_group_id=f"g{(start + i) % 50}" if fifo else None)
                for i in range(batch)
            ]
            for start in range(0, messages, batch)
        ]
        began = time.perf_counter()
        for chunk in entries:
            result = await backend.send(queue, chunk)
            assert not result.failed, result.failed
        send_time = time.perf_counter() - began
        received = 0
        began = time.perf_counter()
        while received < messages:
            got = await backend.receive(queue, max_messages=batch, wait_seconds=0)
            if not got:
                raise RuntimeError(f"queue ran dry after {received} of {messages} messages")
            failed = await backend.delete(queue, [m.receipt_handle for m in got])
            assert not failed, failed
            received += len(got)
        receive_time = time.perf_counter() - began
    label = f"{'FIFO' if fifo else 'standard'}, batch {batch}"
    return Case(label, batch, messages, messages / send_time, messages / receive_time)


async def wake_latency(directory: Path, rounds: int) -> list[float]:
    """Seconds from a send on one connection to the return of a long poll on another."""
    url = f"sqlite:///{directory}/wake.db"
    latencies = []
    async with SQLiteBackend.from_url(url) as receiver, SQLiteBackend.from_url(url) as sender:
        await receiver.create_queue(QueueSpec("wake"))
        for _ in range(rounds):
            waiting = asyncio.create_task(receiver.receive("wake", wait_seconds=5))
            # let the receiver start waiting; a random pause so sends do not line up with the
            # watcher's ticks (10 ms when it polls)
            await asyncio.sleep(0.02 + random.random() * 0.02)
            began = time.perf_counter()
            await sender.send("wake", [SendEntry("ping")])
            (message,) = await waiting
            latencies.append(time.perf_counter() - began)
            await receiver.delete("wake", [message.receipt_handle])
    return latencies


async def idle_cpu(directory: Path, seconds: float) -> float:
    """Fraction of one CPU used by a long poll on an empty queue."""
    async with SQLiteBackend.from_url(f"sqlite:///{directory}/idle.db") as backend:
        await backend.create_queue(QueueSpec("idle"))
        before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        assert await backend.receive("idle", wait_seconds=seconds) == []
        after, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - began
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / elapsed


async def main(quick: bool) -> str:
    scale = 0.1 if quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases = [await run_case(directory, batch, int(n * scale)) for batch, n in MESSAGES.items()]
        cases.append(await run_case(directory, 10, int(30_000 * scale), fifo=True))
        latencies = await wake_latency(directory, 20 if quick else 100)
        cpu = await idle_cpu(directory, 1.0 if quick else 5.0)
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    lines = [
        "## SQLite backend (`sqlite:///`, WAL, synchronous=normal)",
        "",
        f"One process, one backend, {loop_name} event loop, 200-byte bodies; messages/s.",
        "",
        "| case | messages | send | receive + delete |",
        "| --- | ---: | ---: | ---: |",
    ]
    for case in cases:
        rates = f"{case.send_per_s:,.0f} | {case.receive_delete_per_s:,.0f}"
        lines.append(f"| {case.label} | {case.messages:,} | {rates} |")
    ms = sorted(value * 1000 for value in latencies)
    lines += [
        "",
        f"Long-poll wake-up on a commit by another connection (the cross-process path, "
        f"{len(ms)} rounds): median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms.",
        f"Idle long poll: {cpu * 100:.2f} % of one CPU.",
    ]
    return "\n".join(lines)


async def latency_main(quick: bool) -> str:
    """``--latency``: 2 rounds x 300 samples per mode at ~25/s, 30 s of idle CPU (quick: less)."""
    rounds, samples, rate, idle = (1, 60, 25.0, 5.0) if quick else (2, 300, 25.0, 30.0)
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results, rows = await sqlite_latency.measure(
            Path(tmp), rounds=rounds, samples=samples, rate=rate, idle_seconds=idle
        )
    load = (before, os.getloadavg()[0])
    return sqlite_latency.report(results, rows, rounds=rounds, rate=rate, idle_seconds=idle, load=load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--latency", action="store_true", help="cross-process latency per wake-up mode")
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a core dependency on CPython/Unix
        runner = asyncio.run
    body = runner(latency_main(args.quick) if args.latency else main(args.quick))
    print(body)
    if not args.no_write:
        flags = (" --latency" if args.latency else "") + (" --quick" if args.quick else "")
        section = "sqlite-latency" if args.latency else "sqlite-backend"
        print(
            f"written to {write_section(section, body, 'python -m benchmarks.bench_sqlite' + flags)}",
            file=sys.stderr,
        )

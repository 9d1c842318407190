"""Idle send-to-handler latency on SQLite across processes, per wake-up mode, and idle CPU.

For each wake-up mode (``?wakeup=poll``, the 10 ms polling fallback, and ``?wakeup=inotify``)
and each round, in turn: a fresh database file, one worker process (``python -m qworker run
benchmarks.apps.qworker_app:handler --batch-size 1``, async handler on uvloop) idle on an empty
queue, and this process as the sender (its own backend, so its own connection and thread). After
a warm-up, the sender sends one message at a time with random gaps (0.5-1.5x ``1/rate``); each
body carries ``time.monotonic()`` taken just before ``send()`` (CLOCK_MONOTONIC is one clock for
every process on Linux), and the handler records the message's age on arrival. The age
therefore includes the sender's own ``send()`` call (reported apart too).

Idle CPU: in the first round of each mode, after the warm-up and before any sample, the worker's
CPU time (user + system of all its threads, ``/proc/PID/stat``) over ``idle_seconds`` of doing
nothing, as a share of one core.

Anatomy: one more run (inotify) with the instrumented handler
:mod:`benchmarks.apps.sqlite_anatomy`, which times each stage of the wake-up inside the worker.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.apps import probe as probe_app
from benchmarks.harness import (
    BenchmarkError,
    Probe,
    WorkerProcess,
    cpu_seconds,
    percentile,
    wait_until,
    worker_env,
)
from benchmarks.qworker_runs import QUEUE, QCase
from qworker.backend import QueueSpec, SendEntry
from qworker_sqlite import SQLiteBackend

MODES = ("poll", "inotify")
ANATOMY_HANDLER = "benchmarks.apps.sqlite_anatomy:handler"


@dataclass
class ModeResult:
    """Pooled samples of one wake-up mode (seconds)."""

    ages: list[float] = field(default_factory=list)
    send_calls: list[float] = field(default_factory=list)
    idle_cpu: float | None = None  #: share of one core


@dataclass
class Run:
    """One worker process on a fresh database, and this process's sending backend."""

    tmp: Path
    mode: str
    name: str
    handler: str = "benchmarks.apps.qworker_app:handler"
    sends: dict[float, float] = field(default_factory=dict)  #: send time -> send() returned

    def argv(self, url: str) -> list[str]:
        argv = QCase("sqlite", batch=1).argv(url)
        argv[argv.index("benchmarks.apps.qworker_app:handler")] = self.handler
        return argv

    async def __call__(self, samples: int, rate: float, idle_seconds: float) -> tuple[Probe, float | None]:
        url = f"sqlite:///{self.tmp}/{self.name}.db?wakeup={self.mode}"
        probe = Probe(self.tmp, self.name)
        async with SQLiteBackend.from_url(url) as backend:
            await backend.create_queue(QueueSpec(QUEUE, visibility_timeout=300))
            worker = WorkerProcess(
                self.argv(url), worker_env(probe.env("latency", samples)), probe.dir / "worker.log"
            ).start()
            try:
                await self._warm_up(backend, probe, worker)
                idle = await _idle_cpu(worker, idle_seconds) if idle_seconds else None
                for _ in range(samples):
                    await self._send(backend)
                    await asyncio.sleep(random.uniform(0.5, 1.5) / rate)
                await wait_until(
                    lambda: _read(probe, "latency-") or _read(probe, "anatomy-"),
                    timeout=30,
                    what=f"{self.name} samples",
                    worker=worker,
                    interval=0.05,
                )
            finally:
                await worker.stop()
        return probe, idle

    async def _send(self, backend: SQLiteBackend) -> None:
        body = probe_app.latency_body()
        sent = json.loads(body)["t"]
        result = await backend.send(QUEUE, [SendEntry(body)])
        self.sends[sent] = time.monotonic()
        if result.failed:
            raise BenchmarkError(f"send failed: {result.failed[0]}")

    @staticmethod
    async def _warm_up(backend: SQLiteBackend, probe: Probe, worker: WorkerProcess) -> None:
        deadline = time.monotonic() + 60
        while probe.first() is None:
            worker.ensure_alive()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"no warm-up message arrived:\n{worker.log_tail()}")
            await backend.send(QUEUE, [SendEntry(probe_app.latency_body(warmup=True))])
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # let start-up work (registry, first heartbeats) settle


async def _idle_cpu(worker: WorkerProcess, seconds: float) -> float:
    """The worker's CPU time over ``seconds`` of idling, as a share of one core."""
    before, began = cpu_seconds(worker.pid), time.monotonic()
    await asyncio.sleep(seconds)
    worker.ensure_alive()
    return (cpu_seconds(worker.pid) - before) / (time.monotonic() - began)


def _read(probe: Probe, prefix: str) -> list[Any] | None:
    for path in probe.dir.iterdir():
        if path.name.startswith(prefix) and path.name.endswith(".json"):
            return list(json.loads(path.read_text()))
    return None


async def measure(
    tmp: Path, *, rounds: int, samples: int, rate: float, idle_seconds: float
) -> tuple[dict[str, ModeResult], list[dict[str, float]]]:
    """Every mode in every round (interleaved, so drift hits both), then the anatomy run."""
    results = {mode: ModeResult() for mode in MODES}
    for index in range(rounds):
        for mode in MODES:
            run = Run(tmp, mode, f"{mode}-{index}")
            probe, idle = await run(samples, rate, idle_seconds if index == 0 else 0.0)
            results[mode].ages += _read(probe, "latency-") or []
            results[mode].send_calls += [done - sent for sent, done in run.sends.items()]
            if idle is not None:
                results[mode].idle_cpu = idle
    run = Run(tmp, "inotify", "anatomy", handler=ANATOMY_HANDLER)
    probe, _ = await run(samples, rate, 0.0)
    rows = _read(probe, "anatomy-") or []
    for row in rows:
        row["send_returned"] = run.sends.get(row["sent"], math.nan)
    return results, rows


#: (label, from stage, to stage) of the anatomy table, in the order a wake-up goes
SPANS = (
    ("sender's `send()` call (its thread hop, the send transaction, the hop back)", "sent", "send_returned"),
    ("send starts -> the worker thread wakes on its inotify descriptor (a WAL write)", "sent", "write_event"),
    ("woken -> its probe sees the new `data_version`", "write_event", "probe_changed"),
    ("probe -> it starts the waiter's receive (same thread)", "probe_changed", "txn_start"),
    ("receive attempt: checks without a lock", "txn_start", "begin"),
    ("receive attempt: `BEGIN IMMEDIATE` (waits while another process writes)", "begin", "locked"),
    ("receive attempt: the transaction, commit, messages built", "locked", "txn_end"),
    ("attempt made -> the event loop wakes the waiter with it", "txn_end", "loop_changed"),
    ("waiter woken -> `backend.receive()` returns to the runtime", "loop_changed", "returned"),
    ("receive returns -> the runtime has made the records and the batch", "returned", "batched"),
    ("batch made -> its task starts (poller yields to it)", "batched", "task_started"),
    ("task starts -> the handler is called (context, metrics, invoker)", "task_started", "handler"),
    ("total: send starts -> handler", "sent", "handler"),
)


def anatomy_lines(rows: list[dict[str, float]]) -> list[str]:
    """The anatomy table: each stage's median, p90 and p99 (µs) over the instrumented run's messages."""
    lines = ["| stage | median µs | p90 µs | p99 µs |", "| --- | ---: | ---: | ---: |"]
    for label, start, end in SPANS:
        spans = [(row[end] - row[start]) * 1e6 for row in rows if not math.isnan(row[end] - row[start])]
        if spans:
            figures = " | ".join(f"{percentile(spans, q):,.0f}" for q in (50, 90, 99))
            lines.append(f"| {label} | {figures} |")
    return lines


#: issue 17, target 3: (label, what is compared, limit)
TARGETS = (("p50", 50, 1.5), ("p99", 99, 5.0))
IDLE_CPU_TARGET = 0.01


def report(
    results: dict[str, ModeResult],
    rows: list[dict[str, float]],
    *,
    rounds: int,
    rate: float,
    idle_seconds: float,
    load: tuple[float, float],
) -> str:
    """The ``sqlite-latency`` section of RESULTS.md (``load``: 1-minute load average before and
    after the run: the machine is shared, and its load moves these figures)."""
    samples = len(results[MODES[0]].ages)
    lines = [
        "## SQLite: idle send-to-handler latency across processes, by wake-up mode",
        "",
        f"One worker process (`qworker run`, async handler, uvloop, batch size 1) idle on an empty queue; "
        f"the benchmark process sends one message at a time (~{rate:.0f}/s, random gaps) through its own "
        f"backend; the age runs from just before `send()` to the handler (CLOCK_MONOTONIC), so it "
        f"includes the sender's `send()` call. {samples} samples per mode ({rounds} interleaved rounds, a "
        "fresh database and worker each). Idle CPU: the worker process (all threads, `/proc/PID/stat`) "
        f"over {idle_seconds:.0f} s while nothing is sent. Load average (1 min) before / after: "
        f"{load[0]:.2f} / {load[1]:.2f} on {os.cpu_count()} CPUs (shared with other work).",
        "",
        "| wake-up mode | p50 ms | p90 ms | p99 ms | max ms | sender's `send()` p50 / p99 ms "
        "| idle worker CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in MODES:
        result = results[mode]
        ms = [age * 1000 for age in result.ages]
        cpu = "-" if result.idle_cpu is None else f"{result.idle_cpu * 100:.2f} % of a core"
        figures = " | ".join(f"{percentile(ms, q):.2f}" for q in (50, 90, 99))
        sends = [call * 1000 for call in result.send_calls]
        send = f"{percentile(sends, 50):.2f} / {percentile(sends, 99):.2f}"
        lines.append(f"| `wakeup={mode}` | {figures} | {max(ms):.2f} | {send} | {cpu} |")
    lines += [
        "",
        "The sender's `send()` call is part of every age; with inotify the worker wakes while the sender "
        "is still finishing its call, so on 2 shared CPUs the call itself returns later than with polling. "
        "Polling adds at most its 10 ms period to a wake-up: whatever the polling row's p99 has beyond about "
        "11 ms is what the host's other work added in this run, and it adds as much to the inotify row.",
        "",
        *target_lines(results),
        "",
    ]
    lines += [
        f"Where the time goes with inotify (one more run, {len(rows)} messages, handler "
        "`benchmarks.apps.sqlite_anatomy`, which times each stage inside the worker; instrumented, so its "
        "total is a little above the plain run's):",
        "",
        *anatomy_lines(rows),
        "",
        tail_line(rows, 0.005),
    ]
    return "\n".join(lines)


def tail_line(rows: list[dict[str, float]], limit: float) -> str:
    """Where the instrumented messages slower than ``limit`` s lost their time: before the worker
    was woken (the sender had not written its commit yet) or after."""
    slow = [row for row in rows if row["handler"] - row["sent"] > limit]
    before = sum(1 for row in slow if row["write_event"] - row["sent"] > row["handler"] - row["write_event"])
    return (
        f"Of the {len(rows)} instrumented messages, {len(slow)} took over {limit * 1000:.0f} ms; {before} of "
        "them spent most of it before the worker was woken, i.e. in the sending process before its commit "
        "reached the WAL file."
    )


def target_lines(results: dict[str, ModeResult]) -> list[str]:
    """The issue's targets against each mode's figures."""
    lines = ["| target | `wakeup=poll` | `wakeup=inotify` | met (inotify) |", "| --- | ---: | ---: | :-: |"]
    for label, q, limit in TARGETS:
        values = {mode: percentile([age * 1000 for age in results[mode].ages], q) for mode in MODES}
        met = "yes" if values["inotify"] < limit else "no"
        lines.append(f"| {label} < {limit} ms | {values['poll']:.2f} | {values['inotify']:.2f} | {met} |")
    cpu = {mode: results[mode].idle_cpu for mode in MODES}
    if all(value is not None for value in cpu.values()):
        met = "yes" if (cpu["inotify"] or 0.0) < IDLE_CPU_TARGET else "no"
        shown = {mode: f"{(value or 0.0) * 100:.2f} %" for mode, value in cpu.items()}
        lines.append(f"| idle worker < 1 % of a CPU | {shown['poll']} | {shown['inotify']} | {met} |")
    return lines

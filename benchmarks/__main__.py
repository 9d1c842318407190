"""qworker beside the Python task queues people would otherwise use: ``python -m benchmarks``.

One command starts a private redis-server on a free port and measures, in the same run, on the
same Redis and machine: drain throughput (N queued ~100-byte JSON messages, a no-op handler, one
worker process) for qworker at batch sizes 1, 10 and 100 (async and sync handlers, Redis and
SQLite) and for arq, saq, dramatiq, rq, celery, taskiq and huey with their documented settings for
throughput; idle end-to-end latency; redis-benchmark's figures for the primitive commands;
qworker with 1 and 2 processes; the cost of a growing backlog; worker memory. It prints the
tables and writes the ``peers`` section of benchmarks/RESULTS.md. Nothing is installed at run
time: ``python -m benchmarks setup`` makes the peers' virtual environments once.

    python -m benchmarks                 # the full suite (~15-20 minutes on 2 cores)
    python -m benchmarks --quick         # smaller N, one repeat (~3-4 minutes)
    python -m benchmarks --only qworker,saq --n 50000 --repeat 5
    python -m benchmarks profile         # py-spy profiles of qworker at batch 1, 10, 100
    python -m benchmarks tune saq        # each peer setting the README cites, swept
    python -m benchmarks setup           # create .venv-peers and .venv-arq (pip, once)
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    REPO,
    BenchmarkError,
    PrivateRedis,
    Progress,
    Stats,
    compile_bytecode,
    percentile,
    redis_benchmark,
)
from benchmarks.peers import NAMES as PEER_NAMES
from benchmarks.peers import load as load_peer
from benchmarks.peers.base import Peer
from benchmarks.qworker_runs import DrainResult, QCase, QworkerBench, redis_backend_available, top_functions

SECTION = "peers"
MB = 1024 * 1024


# -- what a run measures --------------------------------------------------------------------------


@dataclass
class Plan:
    n: int
    repeat: int
    quick: bool
    only: set[str] | None
    sections: set[str]
    latency_count: int
    latency_rate: float

    @property
    def qworker_runs_per_round(self) -> int:
        """qworker's drains take well under a second, so one disturbance on a 2-core machine moves
        a single run a lot: each round runs them 3 times (quick: once), which costs little."""
        return 1 if self.quick else 3

    @property
    def scaling_n(self) -> int:
        """Scaling drains are longer, so their CPU use can be sampled (every 0.1 s)."""
        return max(self.n, 50_000 if self.quick else 200_000)

    def wants(self, name: str) -> bool:
        """``name`` is "qworker", "qworker-redis", "qworker-sqlite" or a peer's name."""
        if self.only is None:
            return True
        return name in self.only or (name.startswith("qworker") and "qworker" in self.only)


def qworker_cases(backends: list[str]) -> list[QCase]:
    cases = []
    for backend in backends:
        for handler in ("async", "sync"):
            cases += [
                QCase(backend, 1, handler=handler),
                QCase(backend, 10, handler=handler),
                QCase(backend, 100, window=1, handler=handler),
            ]
    return cases


@dataclass
class Results:
    drains: dict[str, list[DrainResult]] = field(default_factory=dict)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  #: label -> backend, settings, delivery
    latencies: dict[str, list[float]] = field(default_factory=dict)
    redis_bench: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    scaling: dict[str, list[DrainResult]] = field(default_factory=dict)
    backlog: list[tuple[str, int, int, float, float]] = field(default_factory=list)
    #: one drain per backlog size: {"backend", "waiting", "series": [(seconds, messages left)]}
    backlog_series: list[dict[str, Any]] = field(default_factory=list)
    #: Redis µs per message (receive + delete) by anatomy step, at batch 10 and 100
    anatomy: dict[int, dict[str, float]] = field(default_factory=dict)
    whole_drain: DrainResult | None = None
    memory: dict[str, DrainResult] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


# -- the run --------------------------------------------------------------------------------------


async def run(plan: Plan, progress_enabled: bool = True) -> Results:
    results = Results()
    compile_bytecode()  # start-up is measured as an installed qworker starts (harness docstring)
    redis_note = redis_backend_available()
    backends = ["redis", "sqlite"]
    if redis_note is not None:
        backends = ["sqlite"]
        results.notes.append(
            f"qworker-on-Redis rows skipped: the redis:// backend is not available ({redis_note})"
        )
    backends = [b for b in backends if plan.wants(f"qworker-{b}")]
    peers: list[Peer] = []
    from benchmarks.peers.runner import PeerBench, unavailable

    for name in PEER_NAMES:
        if not plan.wants(name):
            continue
        peer = load_peer(name)
        why = unavailable(peer)
        if why is None:
            peers.append(peer)
        else:
            results.notes.append(f"{peer.title} skipped: {why}")
    cases = qworker_cases(backends) if "drain" in plan.sections else []
    latency_cases = []
    if "latency" in plan.sections:
        candidates = (QCase("redis", 1), QCase("redis", 1, handler="sync"), QCase("sqlite", 1))
        latency_cases = [case for case in candidates if case.backend in backends]
    scaling = "scaling" in plan.sections and "redis" in backends
    backlog_sizes = [1_000, 100_000] if plan.quick else [1_000, 100_000, 1_000_000]
    backlog_backends = ["redis"] if plan.quick else backends
    backlog_runs = []
    if "backlog" in plan.sections:
        for backend in backlog_backends:
            sizes = backlog_sizes if backend == "redis" else [s for s in backlog_sizes if s <= 100_000]
            backlog_runs += [(backend, size) for size in sizes if backend in backends]
    memory = "memory" in plan.sections and bool(backends)
    bench_configs = [(1, 1), (1, 10), (1, 100), (50, 1)] if "redis-benchmark" in plan.sections else []
    anatomy_batches = [10, 100] if "anatomy" in plan.sections and "redis" in backends else []
    total = (
        len(bench_configs)
        + len(anatomy_batches)
        + (len(cases) * plan.qworker_runs_per_round + len(peers) * ("drain" in plan.sections)) * plan.repeat
        + (len(latency_cases) + len(peers) * ("latency" in plan.sections)) * plan.repeat
        + (4 * plan.repeat if scaling else 0)
        + len(backlog_runs)
        + (1 if memory else 0)
        + len(peers)  # versions
    )
    results.notes.append(f"load average when the run started: {_loadavg()} (2 cores; other processes count)")
    redis = PrivateRedis().start()
    results.versions["redis-server"] = redis.version()
    results.versions.update(_own_versions())
    tmp = Path(tempfile.mkdtemp(prefix="qworker-bench-"))
    qbench = QworkerBench(redis, tmp)
    pbench = PeerBench(redis, tmp)
    try:
        with Progress(total, enabled=progress_enabled) as progress:
            for note in results.notes:
                progress.say(f"[yellow]note:[/] {note}")
            for peer in peers:
                progress.note(f"{peer.title}: version")
                try:
                    found = pbench.versions(peer)
                    for name in (peer.dist, *peer.also):
                        results.versions[name] = found.pop(name)
                    for name, value in found.items():  # redis-py, hiredis, uvloop of the peer's venv
                        results.versions[f"{name} ({peer.venv})"] = value
                except BenchmarkError as exc:
                    results.failures.append(f"{peer.title}: {exc}")
                progress.advance()
            for clients, pipeline in bench_configs:
                progress.note(f"redis-benchmark -c {clients} -P {pipeline}")
                requests = (20_000 if plan.quick else 100_000) * (pipeline if pipeline > 1 else 1)
                requests = min(requests, 2_000_000)
                if clients == 1 and pipeline == 1:
                    requests = 20_000 if plan.quick else 50_000
                redis.flush()
                results.redis_bench[(clients, pipeline)] = redis_benchmark(
                    redis.port, tests="ping,lpush,rpop", clients=clients, pipeline=pipeline, requests=requests
                )
                progress.advance()
            for batch in anatomy_batches:
                progress.note(f"Redis anatomy, batch {batch}")
                try:
                    results.anatomy[batch] = await redis_anatomy(redis.url, batch, plan.quick)
                except Exception as exc:  # a failed section is reported, the run goes on
                    results.failures.append(f"anatomy batch {batch}: {type(exc).__name__}: {exc}")
                progress.advance()
            redis.flush()
            # drains: every system once per round, rounds repeated, so drift hits all alike
            for round_index in range(plan.repeat if "drain" in plan.sections else 0):
                for case in cases:
                    progress.note(f"drain {case.label} ({round_index + 1}/{plan.repeat})")
                    for _ in range(plan.qworker_runs_per_round):
                        work = qbench.drain(case, plan.n)
                        await _record(results, progress, case.label, work, results.drains)
                    results.rows[case.label] = {
                        "backend": case.backend,
                        "settings": _qworker_settings(case),
                        "delivery": "at-least-once (deleted after the handler returns)",
                    }
                for peer in peers:
                    progress.note(f"drain {peer.title} ({round_index + 1}/{plan.repeat})")
                    await _record(results, progress, peer.title, pbench.drain(peer, plan.n), results.drains)
                    results.rows[peer.title] = {
                        "backend": "redis",
                        "settings": peer.settings,
                        "delivery": peer.delivery,
                    }
            for round_index in range(plan.repeat if "latency" in plan.sections else 0):
                for case in latency_cases:
                    label = f"qworker {case.backend} {case.handler}"
                    progress.note(f"latency {label} ({round_index + 1}/{plan.repeat})")
                    await _record_latency(
                        results, progress, label, qbench.latency(case, plan.latency_count, plan.latency_rate)
                    )
                for peer in peers:
                    progress.note(f"latency {peer.title} ({round_index + 1}/{plan.repeat})")
                    await _record_latency(
                        results,
                        progress,
                        peer.title,
                        pbench.latency(peer, plan.latency_count, plan.latency_rate),
                    )
            for round_index in range(plan.repeat if scaling else 0):
                for batch in (1, 10):
                    for processes in (1, 2):
                        case = QCase("redis", batch, processes=processes)
                        progress.note(f"scaling {case.label} ({round_index + 1}/{plan.repeat})")
                        await _record(
                            results,
                            progress,
                            case.label,
                            qbench.drain(case, plan.scaling_n, meter=True),
                            results.scaling,
                        )
            for backend, size in backlog_runs:
                case = QCase(backend, 10)
                measured = min(size, plan.n)
                whole = backend == "redis" and size >= 1_000_000
                progress.note(f"backlog {backend} {size:,} waiting")
                try:
                    rates, fills = [], []
                    series: list[tuple[float, int]] = []
                    results.backlog_series.append({"backend": backend, "waiting": size, "series": series})
                    for attempt in range(1 if size >= 1_000_000 else plan.repeat):
                        rate, drained, fill = await qbench.backlog(
                            case, size, measured, drain_all=whole, series=series if attempt == 0 else None
                        )
                        rates.append(rate)
                        fills.append(fill)
                        if drained is not None:
                            results.whole_drain = drained
                    median_rate, median_fill = Stats(rates).median, Stats(fills).median
                    results.backlog.append((backend, size, measured, median_rate, median_fill))
                except BenchmarkError as exc:
                    results.failures.append(f"backlog {backend} {size:,}: {exc}")
                    progress.say(f"[red]failed:[/] backlog {backend} {size:,}: {str(exc)[:300]}")
                progress.advance()
            if memory:
                backend = "redis" if "redis" in backends else "sqlite"
                for concurrency in (1000,):
                    case = QCase(backend, 10, concurrency=concurrency)
                    progress.note(f"memory {case.label}")
                    try:
                        results.memory[case.label] = await qbench.drain(case, max(plan.n, 20_000))
                    except BenchmarkError as exc:
                        results.failures.append(f"{case.label}: {exc}")
                    progress.advance()
    finally:
        redis.stop()
        if results.failures:  # keep the workers' logs of a failed run
            results.notes.append(f"worker logs and probe files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results.notes.append(f"load average when the run ended: {_loadavg()}")
    return results


async def redis_anatomy(url: str, batch: int, quick: bool) -> dict[str, float]:
    """Redis µs per message, receive + delete, from the minimal pair up to qworker's scripts
    (:meth:`benchmarks.bench_redis.Bench.anatomy`), on the run's private Redis."""
    from benchmarks.bench_redis import Bench
    from qworker_redis import RedisBackend

    async with RedisBackend(url) as backend:
        return await Bench(backend, quick).anatomy(batch)


def _own_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("qworker", "qworker-redis", "redis", "hiredis", "uvloop"):
        try:
            found[name if name.startswith("qworker") else f"{name} (qworker's venv)"] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


async def _record(
    results: Results, progress: Progress, label: str, work: Any, into: dict[str, list[DrainResult]]
) -> None:
    try:
        into.setdefault(label, []).append(await work)
    except BenchmarkError as exc:
        results.failures.append(f"{label}: {exc}")
        progress.say(f"[red]failed:[/] {label}: {str(exc)[:400]}")
    progress.advance()


async def _record_latency(results: Results, progress: Progress, label: str, work: Any) -> None:
    try:
        results.latencies.setdefault(label, []).extend(await work)
    except BenchmarkError as exc:
        results.failures.append(f"latency {label}: {exc}")
        progress.say(f"[red]failed:[/] latency {label}: {str(exc)[:400]}")
    progress.advance()


def _qworker_settings(case: QCase) -> str:
    parts = [f"--batch-size {case.batch}"]
    if case.window:
        parts.append(f"--batch-window {case.window}")
    parts.append(f"--max-concurrency {case.concurrency}")
    parts.append("async handler (uvloop)" if case.handler == "async" else "sync handler (thread pool)")
    return ", ".join(parts) + ", --log-level warning"


# -- reporting ------------------------------------------------------------------------------------


def _rates(drains: list[DrainResult]) -> Stats:
    return Stats([d.rate for d in drains])


def table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """A markdown table; ``align`` has one letter per column: l(eft), r(ight), c(enter)."""
    marks = {"l": "---", "r": "---:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def peer_titles() -> set[str]:
    return {load_peer(name).title for name in PEER_NAMES}


def fastest_peer(results: Results) -> tuple[str, float] | None:
    titles = peer_titles()
    medians = [(label, _rates(d).median) for label, d in results.drains.items() if label in titles and d]
    return max(medians, key=lambda item: item[1]) if medians else None


def best_qworker(results: Results, batch: int, backend: str = "") -> tuple[str, float] | None:
    prefix = f"qworker {backend}" if backend else "qworker "
    rows = [
        (label, _rates(d).median)
        for label, d in results.drains.items()
        if label.startswith(prefix) and f" batch {batch} " in label + " " and d
    ]
    return max(rows, key=lambda item: item[1]) if rows else None


def report(results: Results, plan: Plan, charts: list[str] | None = None) -> str:
    from benchmarks.charts import markdown_links

    fastest = fastest_peer(results)
    lines: list[str] = [
        "## qworker beside the Python task queues (one worker process each, same Redis, same run)",
        "",
        *(f"{link}\n" for link in markdown_links(charts or [])),
        f"Drain: {plan.n:,} queued messages (~100-byte JSON bodies), a no-op handler, one worker process; "
        "messages/s from the first record reaching the handler to the last message deleted (qworker: the "
        "queue's counts reach 0) or the last task finished (peers: their acknowledgement of it is not "
        f"waited for). Median of {plan.repeat} run(s) (min–max). Start-up = process start to the first "
        "record. RSS = the largest process of the worker.",
        "",
    ]
    if fastest is not None:
        lines += [f"Fastest peer: **{fastest[0]}**, {fastest[1]:,.0f} msgs/s; × = ratio to it.", ""]
    rows = []
    ordered = sorted(
        ((label, drains) for label, drains in results.drains.items() if drains),
        key=lambda item: (not item[0].startswith("qworker"), -_rates(item[1]).median),
    )
    for label, drains in ordered:
        row = results.rows.get(label, {})
        rate = _rates(drains)
        rows.append(
            [
                label,
                row.get("backend", ""),
                rate.fmt(),
                f"{rate.median / fastest[1]:.1f}×" if fastest else "-",
                f"{Stats([d.startup for d in drains]).median:.2f}",
                f"{max(d.max_rss for d in drains) / MB:.0f}",
                _redis_cpu(drains),
                row.get("settings", ""),
            ]
        )
    header = [
        "system",
        "backend",
        "msgs/s",
        "× fastest peer",
        "start-up s",
        "max RSS MB",
        "Redis CPU",
        "settings",
    ]
    lines += table(header, "llrrrrrl", rows)
    if results.latencies:
        lines += [
            f"### Idle latency, send to handler (ms): {plan.latency_count} messages × {plan.repeat} run(s), "
            f"one at a time at ~{plan.latency_rate:.0f}/s with random gaps, after a warm-up",
            "",
        ]
        rows = []
        for label, ages in sorted(results.latencies.items(), key=lambda item: percentile(item[1], 50)):
            ms = [age * 1000 for age in ages]
            p50, p99 = percentile(ms, 50), percentile(ms, 99)
            rows.append([label, f"{p50:.2f}", f"{p99:.2f}", f"{max(ms):.2f}", str(len(ms))])
        lines += table(["system", "p50", "p99", "max", "samples"], "lrrrr", rows)
    lines += _redis_bench_lines(results)
    lines += _anatomy_lines(results)
    lines += _scaling_lines(results)
    lines += _backlog_lines(results)
    lines += _memory_lines(results)
    lines += _target_lines(results, fastest)
    versions = ", ".join(f"{name} {version}" for name, version in results.versions.items())
    lines += ["### Versions", "", f"{versions}, Python {platform.python_version()}.", ""]
    if results.notes or results.failures:
        lines += ["### Notes", ""]
        lines += [f"* {note}" for note in results.notes]
        lines += [f"* FAILED: {failure.splitlines()[0][:300]}" for failure in results.failures]
        lines.append("")
    lines.append("Each peer's settings, and the documentation behind them: benchmarks/README.md.")
    return "\n".join(lines)


def _redis_cpu(drains: list[DrainResult]) -> str:
    """redis-server's CPU during the drain (median over runs), as a share of one core."""
    shares = [d.redis_cpu for d in drains if d.redis_cpu is not None]
    return f"{Stats(shares).median:.0%}" if shares else "-"


def _redis_bench_lines(results: Results) -> list[str]:
    if not results.redis_bench:
        return []
    configs = sorted(results.redis_bench)
    header = ["command", *(f"{c} client{'s' if c > 1 else ''}, pipeline {p}" for c, p in configs)]
    rows = [
        [test, *(f"{results.redis_bench[config].get(test, 0):,.0f}" for config in configs)]
        for test in ("PING_MBULK", "LPUSH", "RPOP")
    ]
    lines = ["### The physical limit: redis-benchmark on the same server (requests/s)", ""]
    lines += table(header, "l" + "r" * len(configs), rows)
    rows = []
    for batch in (1, 10, 100):
        best = best_qworker(results, batch, "redis")
        limit = results.redis_bench.get((1, batch), {}).get("RPOP")
        if best and limit:
            rows.append(
                [str(batch), f"{best[1]:,.0f} ({best[0]})", f"{limit:,.0f}", f"{best[1] / limit:.0%}"]
            )
    if rows:
        lines += [
            "qworker on Redis (best row at each batch size) against one client popping one message per "
            "request at the same pipeline depth: RPOP moves a message and does nothing else (no visibility "
            "timeout, no delete, no handler, no event).",
            "",
        ]
        lines += table(["batch", "qworker msgs/s", "RPOP, 1 client, pipeline = batch", "ratio"], "rrrr", rows)
    return lines


def scaling_efficiency(drains: list[DrainResult]) -> tuple[float, float] | None:
    """(messages per worker-CPU-second, Redis CPU µs per message), medians over the drains.

    On 2 cores shared with Redis and the load generator, msgs/s cannot show what a second worker
    process adds; the work each message costs the workers and Redis can."""
    per_cpu = [d.rate / d.cpu.workers for d in drains if d.cpu is not None and d.cpu.workers > 0]
    redis_us = [d.cpu.redis / d.rate * 1e6 for d in drains if d.cpu is not None and d.rate > 0]
    if not per_cpu or not redis_us:
        return None
    return Stats(per_cpu).median, Stats(redis_us).median


def _scaling_lines(results: Results) -> list[str]:
    rows = []
    for batch in (1, 10):
        one = results.scaling.get(QCase("redis", batch).label)
        two = results.scaling.get(QCase("redis", batch, processes=2).label)
        if not (one and two):
            continue
        base = scaling_efficiency(one)
        for processes, drains in ((1, one), (2, two)):
            shares = [d.cpu for d in drains if d.cpu is not None]
            cpu = [
                f"{Stats([getattr(s, part) for s in shares]).median:.2f}" if shares else "-"
                for part in ("workers", "redis", "machine")
            ]
            eff = scaling_efficiency(drains)
            per_cpu = f"{eff[0]:,.0f}" if eff else "-"
            kept = f"{eff[0] / base[0]:.0%}" if eff and base else "-"
            redis_us = f"{eff[1]:.1f}" if eff else "-"
            ceiling = f"{1e6 / eff[1]:,.0f}" if eff else "-"
            rows.append(
                [str(batch), str(processes), _rates(drains).fmt(), *cpu, per_cpu, kept, redis_us, ceiling]
            )
    if not rows:
        return []
    count = next(iter(results.scaling.values()))[0].messages
    header = [
        "batch",
        "processes",
        "msgs/s",
        "workers' CPU",
        "Redis CPU",
        "machine CPU",
        "msgs per worker-CPU-s",
        "efficiency vs 1 process",
        "Redis CPU µs/msg",
        "one Redis core's ceiling, msgs/s",
    ]
    return [
        f"### Scaling: qworker on Redis, async handler, 1 and 2 worker processes on one queue ({count:,} "
        "messages)",
        "",
        "On 2 cores shared by the workers, redis-server and the benchmark, msgs/s cannot show what a "
        "second process adds, so the figure that counts is the work a message costs: messages per "
        "second of worker CPU (2 processes keep their efficiency when this stays near one "
        "process's), and Redis CPU per message, whose inverse is the most one queue can move "
        "through one Redis core (a queue's keys share one hash slot, so one queue lives on one "
        "core; on a Redis Cluster, queues spread over the nodes and the ceiling is per queue). "
        "CPU in cores, sampled every 0.1 s during the steady part of the drain: the workers "
        "together, redis-server (single-threaded: 1.00 is saturated), and every process on the "
        "machine (2.00 is the whole machine). msgs/s with 2 processes counts from the moment both "
        "run records.",
        "",
        *table(header, "rrrrrrrrrr", rows),
    ]


def _anatomy_lines(results: Results) -> list[str]:
    if not results.anatomy:
        return []
    batches = sorted(results.anatomy)
    labels = list(results.anatomy[batches[0]])
    rows = []
    for label in labels:
        cells = []
        for batch in batches:
            value = results.anatomy[batch].get(label, 0.0)
            cells.append(f"{value:.2f} ({value / results.anatomy[batch]['minimal']:.1f}× minimal)")
        rows.append([label, *cells])
    return [
        "### Redis time per message by anatomy step (`benchmarks/bench_redis.py`, same Redis, same run)",
        "",
        "Receive + delete, Redis µs per message from `INFO commandstats`, one skeleton script per "
        "step: the minimal pair (move ids ready → in flight, remove them), plus reading and "
        "removing the envelope, plus the receive state and the fenced delete (what SQS semantics "
        "need: ESM-F-6), and qworker's own scripts.",
        "",
        *table(["step", *(f"batch {b}" for b in batches)], "l" + "r" * len(batches), rows),
    ]


def _backlog_lines(results: Results) -> list[str]:
    if not results.backlog:
        return []
    base = {backend: rate for backend, size, _, rate, _ in results.backlog if size == 1_000}
    rows = []
    for backend, size, measured, rate, fill in results.backlog:
        versus = f"{rate / base[backend]:.2f}×" if backend in base else "-"
        rows.append([backend, f"{size:,}", f"{measured:,}", f"{rate:,.0f}", versus, f"{size / fill:,.0f}"])
    return [
        "### Backlog: qworker, batch 10, async handler: drain rate over the first messages while the "
        "backlog waits (median of the repeats; 1,000,000: one run)",
        "",
        *table(
            ["backend", "waiting", "measured over", "msgs/s", "vs 1,000 waiting", "fill msgs/s"],
            "lrrrrr",
            rows,
        ),
    ]


def _memory_lines(results: Results) -> list[str]:
    lines: list[str] = []
    for label, drain in results.memory.items():
        lines.append(
            f"* {label}: max RSS {drain.max_rss / MB:.1f} MB while draining {drain.messages:,} messages "
            f"({drain.rate:,.0f} msgs/s)."
        )
    whole = results.whole_drain
    if whole is not None and whole.rss_samples:
        samples = whole.rss_samples
        tenth, end = samples[len(samples) // 10][1] / MB, samples[-1][1] / MB
        lines.append(
            f"* 1,000,000-message drain (redis, batch 10, async): {whole.rate:,.0f} msgs/s over "
            f"{whole.drain:.1f} s; RSS {tenth:.1f} MB at 10% of the drain, {end:.1f} MB at the end, max "
            f"{whole.max_rss / MB:.1f} MB ({len(samples)} samples)."
        )
    return ["### Memory (worker RSS)", "", *lines, ""] if lines else []


#: issue #17's ratio targets: batch size -> at least this many times the fastest peer
RATIO_TARGETS = ((1, 3), (10, 15), (100, 30))
STARTUP_TARGET = 0.2  #: seconds, process start to the first record
SKELETON = "+ receive state and fenced delete"
SCRIPTS = "qworker's scripts"


def startups(results: Results, backend: str) -> list[float]:
    """Every qworker drain's start-up (process start to the first record) on ``backend``."""
    prefix = f"qworker {backend} "
    return [d.startup for label, drains in results.drains.items() if label.startswith(prefix) for d in drains]


def _target_lines(results: Results, fastest: tuple[str, float] | None) -> list[str]:
    rows: list[list[str]] = []

    def add(target: str, measured: str, ok: bool) -> None:
        rows.append([target, measured, "yes" if ok else "**no**"])

    if fastest is not None:
        for batch, factor in RATIO_TARGETS:
            best = best_qworker(results, batch)
            if best:
                ratio = best[1] / fastest[1]
                measured = f"{ratio:.1f}× ({best[0]}: {best[1]:,.0f}; {fastest[0]}: {fastest[1]:,.0f})"
                window = " (window 1 s)" if batch == 100 else ""
                add(f"batch {batch}{window}: ≥ {factor}× the fastest peer", measured, ratio >= factor)
    for batch, steps in sorted(results.anatomy.items()):
        if SKELETON in steps and SCRIPTS in steps:
            ratio = steps[SCRIPTS] / steps[SKELETON]
            measured = f"{ratio:.2f}× ({steps[SCRIPTS]:.2f} µs against {steps[SKELETON]:.2f} µs)"
            add(f"Redis time per message ≤ 1.3× the skeleton, batch {batch}", measured, ratio <= 1.3)
    titles = peer_titles()
    peer_p50 = [(label, percentile(a, 50)) for label, a in results.latencies.items() if label in titles and a]
    ours = [(label, a) for label, a in results.latencies.items() if label.startswith("qworker") and a]
    if peer_p50 and ours:
        best_peer = min(peer_p50, key=lambda item: item[1])
        label, ages = min(ours, key=lambda item: percentile(item[1], 50))
        p50 = percentile(ages, 50)
        measured = f"{p50 * 1000:.2f} ms ({label}); {best_peer[0]}: {best_peer[1] * 1000:.2f} ms"
        add("idle latency p50 ≤ the best peer's p50", measured, p50 <= best_peer[1])
    for backend in ("redis", "sqlite"):
        starts = startups(results, backend)
        if starts:
            median = Stats(starts).median
            target = f"start-up ≤ {STARTUP_TARGET} s ({backend}, median)"
            add(target, f"{median:.2f} s", median <= STARTUP_TARGET)
    for batch in (1, 10):
        one = results.scaling.get(QCase("redis", batch).label)
        two = results.scaling.get(QCase("redis", batch, processes=2).label)
        base, both = (scaling_efficiency(one), scaling_efficiency(two)) if one and two else (None, None)
        if base and both:
            kept = both[0] / base[0]
            measured = f"{kept:.0%} ({both[0]:,.0f} against {base[0]:,.0f} msgs per worker-CPU-s)"
            target = f"2 processes keep ≥ 90% of one's msgs per worker-CPU-s (batch {batch})"
            add(target, measured, kept >= 0.9)
    for drain in results.memory.values():
        add(
            "RSS < 150 MB at concurrency 1000, batch 10",
            f"{drain.max_rss / MB:.1f} MB",
            drain.max_rss < 150 * MB,
        )
    whole = results.whole_drain
    if whole is not None and len(whole.rss_samples) >= 10:
        tenth = whole.rss_samples[len(whole.rss_samples) // 10][1]
        end = whole.rss_samples[-1][1]
        measured = f"{tenth / MB:.1f} MB at 10% → {end / MB:.1f} MB at the end"
        add("RSS does not grow across a 1,000,000-message drain (≤ +10%)", measured, end <= tenth * 1.1)
    if not rows:
        return []
    return ["### Against the issue's targets", "", *table(["target", "measured", "met"], "llc", rows)]


# -- profile, tune, setup -------------------------------------------------------------------------


async def profile(n: int, batches: list[int]) -> str:
    """py-spy profiles of qworker draining ``n`` messages at each batch size; own-time top 20."""
    backend = "redis" if redis_backend_available() is None else "sqlite"
    redis = PrivateRedis().start()
    out = Path(tempfile.mkdtemp(prefix="qworker-profile-"))
    lines = []
    try:
        qbench = QworkerBench(redis, out)
        for batch in batches:
            case = QCase(backend, batch, window=1 if batch > 10 else 0)
            raw = out / f"batch-{batch}.txt"
            result = await qbench.drain(case, n * {1: 1, 10: 3}.get(batch, 5), profile=raw)
            total, top = top_functions(raw)
            lines += [
                f"### {case.label}: {result.rate:,.0f} msgs/s under py-spy (500 Hz, --nonblocking), "
                f"{total:,} samples; raw stacks: {raw}",
                "",
            ]
            rows = [
                [str(index), f"`{name}`", f"{own / total:.1%}", f"{inclusive / total:.1%}"]
                for index, (name, own, inclusive) in enumerate(top, 1)
            ]
            lines += table(["#", "function (own time)", "own", "inclusive"], "rlrr", rows)
    finally:
        redis.stop()
    return "\n".join(lines)


async def tune(names: list[str], n: int, repeat: int) -> str:
    """Drain ``n`` messages with each value of each peer's swept setting (and, for ``qworker``,
    each --max-concurrency at batch 1 and 10 on the fastest backend)."""
    from benchmarks.peers.runner import PeerBench

    redis = PrivateRedis().start()
    lines = ["| system | setting | value | msgs/s |", "| --- | --- | --- | ---: |"]
    try:
        tmp = Path(tempfile.mkdtemp(prefix="qworker-tune-"))
        bench = PeerBench(redis, tmp)
        if "qworker" in names:
            qbench = QworkerBench(redis, tmp)
            backend = "redis" if redis_backend_available() is None else "sqlite"
            for batch in (1, 10):
                for concurrency in (10, 50, 100, 1000):
                    case = QCase(backend, batch, concurrency=concurrency)
                    rates = [(await qbench.drain(case, n)).rate for _ in range(repeat)]
                    lines.append(
                        f"| qworker {backend} batch {batch} | --max-concurrency | {concurrency} "
                        f"| {Stats(rates).fmt()} |"
                    )
                    print(lines[-1], flush=True)
        for name in (name for name in names if name != "qworker"):
            peer = load_peer(name)
            if peer.sweep is None:
                continue
            knob, values = peer.sweep
            for value in values:
                try:
                    rates = [(await bench.drain(peer, n, override=value)).rate for _ in range(repeat)]
                    cell = Stats(rates).fmt()
                except BenchmarkError as exc:
                    cell = f"failed: {str(exc).splitlines()[0][:80]}"
                lines.append(f"| {peer.title} | {knob} | {value} | {cell} |")
                print(lines[-1], flush=True)
    finally:
        redis.stop()
    return "\n".join(lines)


def setup() -> None:
    """Create the peers' virtual environments from the pinned requirements, and install the
    profilers into this venv: the one install step (a run installs nothing)."""
    here = Path(__file__).resolve().parent
    for venv, requirements in ((".venv-peers", "requirements.txt"), (".venv-arq", "requirements-arq.txt")):
        target = REPO / venv
        if not (target / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(here / requirements)], check=True)
        print(f"{venv}: ready")
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(here / "requirements-profile.txt")], check=True)


# -- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["setup"]:
        setup()
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["run", "profile", "tune"], default="run")
    parser.add_argument("names", nargs="*", help="tune: the peers (or qworker) to sweep (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="N=10,000, one repeat, smaller backlogs (~3-4 min)"
    )
    parser.add_argument("--n", type=int, help="messages per drain (default 20,000; quick 10,000)")
    parser.add_argument("--repeat", type=int, help="runs of each measurement (default 3; quick 1)")
    parser.add_argument(
        "--only", help="comma-separated: qworker, qworker-redis, qworker-sqlite, " + ", ".join(PEER_NAMES)
    )
    parser.add_argument(
        "--sections",
        default="redis-benchmark,anatomy,drain,latency,scaling,backlog,memory",
        help="comma-separated subset of the default",
    )
    parser.add_argument("--latency-count", type=int, help="messages per latency run (default 200; quick 100)")
    parser.add_argument(
        "--latency-rate", type=float, default=100.0, help="messages/s in latency runs (default 100)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a core dependency on CPython/Unix
        runner = asyncio.run
    n = args.n or (10_000 if args.quick else 20_000)
    if args.mode == "profile":
        print(runner(profile(args.n or 100_000, [1, 10, 100])))
        return 0
    if args.mode == "tune":
        print(runner(tune(args.names or ["qworker", *PEER_NAMES], n, args.repeat or 1)))
        return 0
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    if only is not None:
        unknown = only - {"qworker", "qworker-redis", "qworker-sqlite", *PEER_NAMES}
        if unknown:
            parser.error(f"unknown --only names: {', '.join(sorted(unknown))}")
    plan = Plan(
        n=n,
        repeat=args.repeat or (1 if args.quick else 3),
        quick=args.quick,
        only=only,
        sections={s.strip() for s in args.sections.split(",")},
        latency_count=args.latency_count or (100 if args.quick else 200),
        latency_rate=args.latency_rate,
    )
    began = time.monotonic()
    results = runner(run(plan, progress_enabled=not args.no_progress))
    command = ("python -m benchmarks " + shlex.join(argv) if argv else "python -m benchmarks").strip()
    charts = [] if args.no_write else publish_charts(results, plan, command)
    body = report(results, plan, charts)
    body += f"\n\nWall time of the run: {time.monotonic() - began:.0f} s."
    print(body)
    if not args.no_write:
        from benchmarks.publish import readme_section, write_readme
        from benchmarks.results import write_section

        print(f"\nwritten to {write_section(SECTION, body, command)}", file=sys.stderr)
        if write_readme(readme_section(results, plan, charts, command)):
            print("README.md's Performance section rewritten", file=sys.stderr)
    return 1 if results.failures else 0


def publish_charts(results: Results, plan: Plan, command: str) -> list[str]:
    """Write the run's JSON record and draw its charts; the chart files' names (none without
    matplotlib, which the run's notes then say)."""
    from benchmarks.charts import RUN_JSON, draw, matplotlib_missing
    from benchmarks.publish import record, write_record

    data = record(results, plan, command)
    write_record(data, RUN_JSON)
    missing = matplotlib_missing()
    if missing:
        results.notes.append(f"charts skipped: {missing}")
        return []
    return draw(data)


if __name__ == "__main__":
    raise SystemExit(main())

"""What the Lambda Runtime API path costs, against the in-process Python invoker, in one run.

1. **Per-invocation overhead**: ``invoke()`` of a one-record event, one invocation at a time,
   ``--n`` times after a warm-up, for the in-process invokers (async, and sync in a thread) and
   for runtime processes behind the Runtime API (a no-op Node.js function through qworker's
   client, also with the drain's 10-record event; a standard-library Python bootstrap; AWS's
   ``awslambdaric``). Reported: p50 and p90 in microseconds, each Runtime API p50 minus the
   in-process async and sync p50s (target: <= 300 us over the in-process invoker; the async one,
   the faster, is the one checked), the CPU per invocation of the worker and of the runtime
   process, and the CPU the runtime process took to start (its Init).
2. **Drain rate**: ``--drain`` queued ~200-byte messages on a fresh SQLite database, drained by
   one worker at batch 10 (concurrency 10) with a no-op handler: in-process Python (async) and
   the Node.js function through the Runtime API (target: >= 50 % of the in-process rate), in
   ``--repeat`` interleaved rounds (medians reported: the machine may be shared). Figures:

   * the whole run: worker start to exit (``--until-empty``), the runtime processes' start-up
     (one Node.js process per concurrency slot, ~50 ms of CPU each) included;
   * the steady state: the second half of the drain (from half the messages deleted to the
     last), when every runtime process is up;
   * CPU: over the whole run, the worker's and its runtime processes' together (``os.times``,
     children counted once reaped, at the worker's exit); in the steady state, per invocation
     (10 messages) and split: the worker's event loop thread, its other threads (the SQLite
     backend's), the runtime processes (read from ``/proc``, Linux); and messages per CPU-second
     of all of them together, which is the efficiency figure that neither the machine's other
     load nor its number of cores moves (a drain on 2 cores shares them between the worker and
     10 runtime processes).

Run: ``.venv/bin/python -m benchmarks.bench_runtime_api`` writes the ``runtime-api`` section of
benchmarks/RESULTS.md; ``--quick`` is a smoke run that only prints. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from qworker.backend import QueueSpec, SendEntry
from qworker.context import FunctionInfo
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from qworker.runtime.invoker import AsyncInvoker, InvocationResult, ThreadInvoker
from qworker.runtime.runtime_api import launch
from qworker.runtime.runtime_api.invoker import RuntimeApiInvoker
from qworker.runtime.worker import Worker, WorkerOptions

APPS = Path(__file__).parent / "apps" / "runtime_api"
BODY = '{"order": 12345, "customer": "c-42", "items": [1, 2, 3], "note": "' + "x" * 140 + '"}'
SECTION = "runtime-api"
BATCH = 10
#: the issue's targets (#18)
MAX_OVERHEAD_US = 300
MIN_DRAIN_SHARE = 0.5
IN_PROCESS = "in-process Python (async)"
NODE = "Node.js through the Runtime API"
NODE_CLIENT = "Node.js (qworker client)"


def _event() -> dict[str, Any]:
    record = {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": BODY,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}


# -- 1. per-invocation overhead --------------------------------------------------------------------


async def _latencies(invoke: Callable[[], Awaitable[InvocationResult]], n: int) -> list[float]:
    for _ in range(max(200, n // 10)):  # warm-up: JIT, connections, caches
        await invoke()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        result = await invoke()
        samples.append(time.perf_counter() - started)
        if result.outcome != "success":
            raise RuntimeError(f"the benchmark function failed: {result.error_text}")
    return samples


def _runtime_invoker(config: MappingConfig, function: FunctionInfo) -> RuntimeApiInvoker:
    return RuntimeApiInvoker(launch.resolve(config, str(APPS)), function, 1)


@dataclass
class Overhead:
    """One invoker's figures: seconds per invocation, and for a runtime process its CPU."""

    samples: list[float]
    worker_cpu: float | None = None  #: CPU seconds per invocation, the worker process
    runtime_cpu: float | None = None  #: CPU seconds per invocation, the runtime process
    init_cpu: float | None = None  #: CPU seconds the runtime process used to start (its Init)


async def overhead(n: int) -> dict[str, Overhead]:
    """Each invoker in turn, in the same process and run."""
    from benchmarks.apps.runtime_api import noop_python

    function = FunctionInfo("bench", timeout=30)
    event = _event()
    runtime = {
        NODE_CLIENT: MappingConfig("noop.handler", "q", runtime="nodejs20.x", code_dir=str(APPS)),
        "Python bootstrap (stdlib)": MappingConfig(
            "", "q", runtime_command=f"{sys.executable} noop_bootstrap.py", code_dir=str(APPS)
        ),
        "Python (awslambdaric)": MappingConfig(
            "noop_python:handler", "q", isolation="runtime-api", code_dir=str(APPS)
        ),
    }
    invokers: dict[str, Any] = {
        "in-process async": AsyncInvoker(noop_python.async_handler),
        "in-process sync (thread)": ThreadInvoker(noop_python.handler, 1),
    }
    init: dict[str, float | None] = {}
    for label, config in runtime.items():
        if config.runtime == "nodejs20.x" and shutil.which("node") is None:
            continue
        invoker = _runtime_invoker(config, function)
        await invoker.start()
        invokers[label] = invoker
        init[label] = _runtime_cpu(invoker)
    cases = [(label, invoker, event) for label, invoker in invokers.items()]
    if NODE_CLIENT in invokers:  # the drain's event: how the cost grows with the records
        batch = {"Records": event["Records"] * BATCH}
        cases.insert(3, (f"{NODE_CLIENT}, {BATCH} records", invokers[NODE_CLIENT], batch))
    results = {}
    try:
        for label, invoker, payload in cases:
            before, worker = _runtime_cpu(invoker), time.process_time()
            samples = await _latencies(lambda i=invoker, p=payload: i.invoke(p, function.context(), 30), n)
            after, worker_after = _runtime_cpu(invoker), time.process_time()
            calls = n + max(200, n // 10)
            results[label] = Overhead(samples, (worker_after - worker) / calls)
            if before is not None and after is not None:
                results[label].runtime_cpu = (after - before) / calls
                results[label].init_cpu = init[label.split(",")[0]]
    finally:
        for invoker in invokers.values():
            await invoker.close()
    return results


def _runtime_cpu(invoker: Any) -> float | None:
    """CPU seconds of a Runtime API invoker's processes so far (None for in-process ones)."""
    if not isinstance(invoker, RuntimeApiInvoker):
        return None
    cpus = [_proc_cpu(pid) for pid in invoker.pids()]
    return sum(c for c in cpus if c is not None) if cpus and None not in cpus else None


# -- 2. drain rate ---------------------------------------------------------------------------------


@dataclass
class Cpu:
    """CPU seconds so far: the worker process's, its event loop thread's, its runtime processes'."""

    worker: float
    loop_thread: float
    runtimes: float
    processes: int

    @classmethod
    def now(cls) -> Cpu:
        worker = time.process_time()
        task = f"/proc/self/task/{os.getpid()}"
        loop_thread = _thread_cpu(f"{task}/schedstat") or _thread_cpu(f"{task}/stat") or 0.0
        runtimes, processes = 0.0, 0
        for pid in _children():
            cpu = _proc_cpu(pid)
            if cpu is not None:
                runtimes += cpu
                processes += 1
        return cls(worker, loop_thread, runtimes, processes)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int | str) -> float | None:
    """CPU seconds of a process (all its threads), from /proc: each thread's ``schedstat``
    (nanoseconds), else ``stat`` (clock ticks); None where there is no /proc."""
    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, ValueError, IndexError):
        pass
    return _thread_cpu(f"/proc/{pid}/stat")


def _thread_cpu(path: str) -> float | None:
    """CPU seconds of one /proc ``stat`` (a process) or ``schedstat`` (a thread) file."""
    try:
        text = Path(path).read_text()
        if path.endswith("schedstat"):
            return int(text.split()[0]) / 1e9
        fields = text.rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children() -> list[int]:
    pids: list[int] = []
    try:
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return pids


@dataclass
class Drain:
    """One drain's figures."""

    whole: float  #: messages per second, worker start to exit
    steady: float  #: messages per second, second half of the drain
    cpu_whole: float  #: CPU seconds per message over the whole run (worker + runtime processes)
    loop_thread: float  #: steady state, CPU seconds per invocation: the worker's event loop thread
    other_threads: float  #: the worker's other threads (the SQLite backend's)
    runtimes: float  #: the runtime processes
    processes: int  #: runtime processes in the steady state

    @property
    def cpu_steady(self) -> float:
        """CPU seconds per invocation in the steady state, everything together."""
        return self.loop_thread + self.other_threads + self.runtimes

    @property
    def per_cpu_second(self) -> float:
        """Messages per CPU-second in the steady state (worker and runtime processes together)."""
        return BATCH / self.cpu_steady if self.cpu_steady else float("nan")


async def drain(directory: Path, n: int, config: MappingConfig, name: str) -> Drain:
    """One worker drains ``n`` queued messages at batch 10 (``--until-empty``)."""
    url = f"sqlite:///{directory}/{name}.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("bench", visibility_timeout=60))
        for start in range(0, n, 500):
            await backend.send("bench", [SendEntry(BODY) for _ in range(min(500, n - start))])
        options = WorkerOptions(backend_url=url, until_empty=True, app_dir=str(APPS))
        marks: dict[str, Any] = {}
        cpu = os.times()
        started = time.perf_counter()
        watch = asyncio.create_task(_watch(backend, n, marks))
        code = await Worker([config], options).serve()
        elapsed = time.perf_counter() - started
        after = os.times()
        watch.cancel()
    if code != 0:
        raise RuntimeError(f"the worker exited with {code}")
    used = sum(
        getattr(after, f) - getattr(cpu, f) for f in ("user", "system", "children_user", "children_system")
    )
    (t0, left0, cpu0), (t1, _, cpu1) = marks["half"], marks["last"]
    invocations = left0 / BATCH
    loop_thread = (cpu1.loop_thread - cpu0.loop_thread) / invocations
    return Drain(
        whole=n / elapsed,
        steady=left0 / (t1 - t0),
        cpu_whole=used / n,
        loop_thread=loop_thread,
        other_threads=(cpu1.worker - cpu0.worker) / invocations - loop_thread,
        runtimes=(cpu1.runtimes - cpu0.runtimes) / invocations,
        processes=cpu1.processes,
    )


async def _watch(backend: Any, n: int, marks: dict[str, Any]) -> None:
    """Mark (time, messages left, CPU) when half the messages are gone and when the last one is."""
    while True:
        counts = (await backend.get_queue("bench")).counts
        left = counts.visible + counts.in_flight
        now = time.perf_counter()
        if left <= n // 2 and "half" not in marks:
            marks["half"] = (now, left, Cpu.now())
        if left == 0:
            marks["last"] = (now, 0, Cpu.now())
            return
        await asyncio.sleep(0.005)


async def drains(n: int, repeat: int) -> dict[str, list[Drain]]:
    """``repeat`` interleaved rounds of each drain, each on a fresh database."""
    cases = {IN_PROCESS: MappingConfig("noop_python:async_handler", "bench", batch_size=BATCH)}
    if shutil.which("node"):
        cases[NODE] = MappingConfig(
            "noop.handler", "bench", batch_size=BATCH, runtime="nodejs20.x", code_dir=str(APPS)
        )
    results: dict[str, list[Drain]] = {label: [] for label in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(repeat):
            for index, (label, config) in enumerate(cases.items()):
                results[label].append(await drain(Path(tmp), n, config, f"d{round_}-{index}"))
    return results


# -- the report ------------------------------------------------------------------------------------


def _median(drains: list[Drain], field: str) -> float:
    return statistics.median(getattr(d, field) for d in drains)


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def report(latencies: dict[str, Overhead], rates: dict[str, list[Drain]], n: int, repeat: int) -> str:
    base_async = statistics.median(latencies["in-process async"].samples)
    base_sync = statistics.median(latencies["in-process sync (thread)"].samples)
    calls = len(next(iter(latencies.values())).samples)
    lines = [
        "## The Lambda Runtime API: a no-op function in a runtime process against in-process Python",
        "",
        f"Per-invocation latency: `invoke()` of a one-record event, one at a time ({calls} calls after "
        "a warm-up), in microseconds; CPU per invocation (worker + runtime process) and the CPU a "
        "runtime process takes to start (its Init: the runtime's start-up and the handler's module).",
        "",
        "| invoker | p50 | p90 | p50 over in-process async | p50 over in-process sync "
        "| CPU µs/invocation (worker + runtime) | Init CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, measured in latencies.items():
        ordered = sorted(measured.samples)
        p50, p90 = statistics.median(ordered), ordered[int(len(ordered) * 0.9)]
        over = (
            ["", ""]
            if label.startswith("in-process")
            else [
                f"{(p50 - base_async) * 1e6:+,.0f}",
                f"{(p50 - base_sync) * 1e6:+,.0f}",
            ]
        )
        cpu = f"{(measured.worker_cpu or 0) * 1e6:,.0f}"
        if measured.runtime_cpu is not None:
            cpu += f" + {measured.runtime_cpu * 1e6:,.0f}"
        init = "" if measured.init_cpu is None else f"{measured.init_cpu * 1e3:,.0f}"
        lines.append(
            f"| {label} | {p50 * 1e6:,.0f} | {p90 * 1e6:,.0f} | {' | '.join(over)} | {cpu} | {init} |"
        )
    base = rates[IN_PROCESS]
    cores = os.cpu_count()
    lines += [
        "",
        f"Drain: {n:,} queued messages, batch {BATCH}, concurrency 10, SQLite, one worker on {cores} "
        f"CPUs; median of {repeat} interleaved rounds (ratios: against in-process Python). Steady "
        "state: the second half of the drain. CPU per invocation (10 messages), steady state: the "
        "worker's event loop thread + its other threads (the SQLite backend's) + the runtime "
        "processes.",
        "",
        "| handler | whole run msg/s | steady msg/s | CPU µs/msg, whole run | "
        "CPU µs/invocation, steady | msg per CPU-second, steady | runtime processes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in rates.items():
        whole, steady = _median(runs, "whole"), _median(runs, "steady")
        cpu_whole, per_cpu = _median(runs, "cpu_whole"), _median(runs, "per_cpu_second")
        split = " + ".join(
            f"{_median(runs, f) * 1e6:,.0f}" for f in ("loop_thread", "other_threads", "runtimes")
        )
        lines.append(
            f"| {label} | {whole:,.0f} ({whole / _median(base, 'whole'):.0%}) "
            f"| {steady:,.0f} ({steady / _median(base, 'steady'):.0%}) "
            f"| {cpu_whole * 1e6:,.0f} ({_median(base, 'cpu_whole') / cpu_whole:.0%}) "
            f"| {_median(runs, 'cpu_steady') * 1e6:,.0f} ({split}) "
            f"| {per_cpu:,.0f} ({per_cpu / _median(base, 'per_cpu_second'):.0%}) "
            f"| {max(r.processes for r in runs)} |"
        )
    lines += ["", "Against the issue's targets (#18):", "", "| target | measured | met |", "|---|---|:-:|"]
    node = latencies.get(NODE_CLIENT)
    node_batch = latencies.get(f"{NODE_CLIENT}, {BATCH} records")
    if node is not None:
        extra = (statistics.median(node.samples) - base_async) * 1e6
        lines.append(
            f"| per-invocation overhead <= {MAX_OVERHEAD_US} µs p50 over the in-process invoker "
            f"(Node.js, over the async one) | {extra:+,.0f} µs | {_met(extra <= MAX_OVERHEAD_US)} |"
        )
    if NODE in rates:
        runs = rates[NODE]
        share = _median(runs, "steady") / _median(base, "steady")
        whole = _median(runs, "whole") / _median(base, "whole")
        per_cpu = _median(runs, "per_cpu_second") / _median(base, "per_cpu_second")
        lines += [
            f"| a no-op Node.js function drains >= {MIN_DRAIN_SHARE:.0%} of the in-process Python "
            f"rate at batch {BATCH} (steady state) | {share:.0%} | {_met(share >= MIN_DRAIN_SHARE)} |",
            f"| the same over the whole run (start-up of the runtime processes included) | {whole:.0%} "
            f"| {_met(whole >= MIN_DRAIN_SHARE)} |",
            f"| the same per CPU-second (worker and runtime processes together, steady state) "
            f"| {per_cpu:.0%} | {_met(per_cpu >= MIN_DRAIN_SHARE)} |",
        ]
        if node_batch is not None and node_batch.runtime_cpu is not None and node_batch.init_cpu is not None:
            node = node_batch
            processes = max(r.processes for r in runs)
            steady_inv = _median(runs, "steady") / BATCH
            lines += [
                "",
                f"What bounds the ratios, from the figures above: each of the {processes} "
                f"Node.js processes (one per concurrency slot, as Lambda runs one execution "
                f"environment per concurrent invocation) takes {node.init_cpu * 1e3:,.0f} ms of CPU "
                f"to start, {processes * node.init_cpu * 1e6 / n:,.0f} µs per message of this "
                f"drain, against {_median(base, 'cpu_whole') * 1e6:,.0f} µs per message for all of "
                f"the in-process drain. In the steady state, {processes} processes share {cores} "
                f"CPUs and each is woken about every {processes / steady_inv * 1e3:,.1f} ms: an "
                f"invocation costs the runtime process {_median(runs, 'runtimes') * 1e6:,.0f} µs of "
                f"CPU, against {node.runtime_cpu * 1e6:,.0f} µs back to back through one warm "
                f"process ({BATCH}-record event; caches and JIT code are cold at each wake-up), "
                f"and the worker's loop thread {_median(runs, 'loop_thread') * 1e6:,.0f} µs against "
                f"{_median(base, 'loop_thread') * 1e6:,.0f} µs in process (two HTTP messages "
                "parsed, two written, the event's JSON, the runtime woken).",
            ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="timed invocations per invoker")
    parser.add_argument("--drain", type=int, default=30_000, help="messages per drain")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the drains")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run (--n 500 --drain 3000 --repeat 1); prints only"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.drain, args.repeat = 500, 3000, 1
    from qworker import logs

    logs.configure("console", "warning")
    latencies = await overhead(args.n)
    rates = await drains(args.drain, args.repeat)
    markdown = report(latencies, rates, args.drain, args.repeat)
    print(markdown)
    if not args.quick:
        from benchmarks.results import write_section

        command = "python -m benchmarks.bench_runtime_api" + "".join(
            f" --{flag} {value}"
            for flag, value, default in (
                ("n", args.n, 5000),
                ("drain", args.drain, 30_000),
                ("repeat", args.repeat, 3),
            )
            if value != default
        )
        print(f"written to {write_section(SECTION, markdown, command)}", file=sys.stderr)


if __name__ == "__main__":
    uvloop.run(main())

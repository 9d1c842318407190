"""What the Lambda Runtime API path costs, against the in-process Python invoker, in one run.

1. **Per-invocation overhead**: ``invoke()`` of a one-record event, one invocation at a time,
   ``--n`` times after a warm-up, for the in-process invokers (async, and sync in a thread) and
   for runtime processes behind the Runtime API (a no-op Node.js function through qworker's
   client, a standard-library Python bootstrap, AWS's ``awslambdaric``). Reported: p50 and p90
   in microseconds, and each Runtime API p50 minus the in-process sync p50 (target: <= 300 us).
2. **Drain rate**: ``--drain`` queued ~200-byte messages on a fresh SQLite database, drained by
   one worker at batch 10 (concurrency 10) with a no-op handler: in-process Python (async) and
   the Node.js function through the Runtime API (target: >= 50 % of the in-process rate). Two
   figures: the whole run (worker start to exit, ``--until-empty``, the runtime processes'
   start-up included) and the steady state (first delete to last delete).

Run: ``.venv/bin/python -m benchmarks.bench_runtime_api`` (``--quick`` for a smoke run). Prints
the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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


async def overhead(n: int) -> dict[str, list[float]]:
    """p50/p90 of one invocation through each invoker, in the same process and run."""
    from benchmarks.apps.runtime_api import noop_python

    function = FunctionInfo("bench", timeout=30)
    event = _event()
    runtime = {
        "Node.js (qworker client)": MappingConfig(
            "noop.handler", "q", runtime="nodejs20.x", code_dir=str(APPS)
        ),
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
    for label, config in runtime.items():
        if config.runtime == "nodejs20.x" and shutil.which("node") is None:
            continue
        invoker = _runtime_invoker(config, function)
        await invoker.start()
        invokers[label] = invoker
    results = {}
    try:
        for label, invoker in invokers.items():
            results[label] = await _latencies(lambda i=invoker: i.invoke(event, function.context(), 30), n)
    finally:
        for invoker in invokers.values():
            await invoker.close()
    return results


async def drain(directory: Path, n: int, config: MappingConfig, name: str) -> tuple[float, float, float]:
    """Messages per second one worker drains at batch 10: over the whole run (start-up of the
    runtime processes included) and in the steady state (first delete to last delete); and the
    CPU time per message, the worker's and its runtime processes' together (``os.times``
    counts a child once it has been reaped, which the worker does at exit): on a machine shared
    with other work, the figure that load does not move."""
    url = f"sqlite:///{directory}/{name}.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("bench", visibility_timeout=60))
        for start in range(0, n, 500):
            await backend.send("bench", [SendEntry(BODY) for _ in range(min(500, n - start))])
        options = WorkerOptions(backend_url=url, until_empty=True, app_dir=str(APPS))
        marks: dict[str, float] = {}
        cpu = os.times()
        started = time.perf_counter()
        watch = asyncio.create_task(_watch(backend, n, marks))
        code = await Worker([config], options).serve()
        elapsed = time.perf_counter() - started
        after = os.times()
        watch.cancel()
    used = sum(
        getattr(after, f) - getattr(cpu, f) for f in ("user", "system", "children_user", "children_system")
    )
    if code != 0:
        raise RuntimeError(f"the worker exited with {code}")
    steady = marks.get("last", elapsed + started) - marks.get("first", started)
    return n / elapsed, (n - marks.get("first_left", 0)) / steady, used / n


async def _watch(backend: Any, n: int, marks: dict[str, float]) -> None:
    """Note when the first messages are gone and when the last one is."""
    while True:
        counts = (await backend.get_queue("bench")).counts
        left = counts.visible + counts.in_flight
        now = time.perf_counter()
        if left < n and "first" not in marks:
            marks["first"], marks["first_left"] = now, n - left
        if left == 0:
            marks["last"] = now
            return
        await asyncio.sleep(0.01)


#: issue #18's targets: Runtime API overhead over the in-process invoker, and the Node drain share
TARGET_OVERHEAD_US = 300
TARGET_DRAIN_SHARE = 0.5


def overhead_lines(results: dict[str, list[float]]) -> tuple[list[str], dict[str, float]]:
    """The overhead table (markdown) and each Runtime API invoker's p50 over in-process sync (µs)."""
    baseline = statistics.median(results["in-process sync (thread)"])
    calls = len(next(iter(results.values())))
    lines = [
        f"Per-invocation latency, one record, one invocation at a time ({calls:,} calls each, after a "
        "warm-up), in µs:",
        "",
        "| invoker | p50 | p90 | p50 − in-process sync |",
        "| --- | ---: | ---: | ---: |",
    ]
    extra: dict[str, float] = {}
    for label, samples in results.items():
        ordered = sorted(samples)
        p50, p90 = statistics.median(ordered), ordered[int(len(ordered) * 0.9)]
        if not label.startswith("in-process"):
            extra[label] = (p50 - baseline) * 1e6
        shown = f"{extra[label]:+,.0f}" if label in extra else ""
        lines.append(f"| {label} | {p50 * 1e6:,.0f} | {p90 * 1e6:,.0f} | {shown} |")
    return lines, extra


def drain_lines(drain_n: int, rates: dict[str, tuple[float, float, float]]) -> list[str]:
    total, steady, base_cpu = rates["in-process Python (async)"]
    lines = [
        "",
        f"Drain: {drain_n:,} queued ~200-byte messages, one worker, batch 10, concurrency 10, SQLite, a "
        "no-op handler. *Whole run*: worker start to exit (`--until-empty`, the runtime processes' "
        "start-up included); *steady*: first delete to last delete; CPU: the worker and its runtime "
        "processes together, per message.",
        "",
        "| function | whole run msgs/s | share | steady msgs/s | share | CPU µs/msg | per CPU-s, share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, (whole, rate, cpu) in rates.items():
        lines.append(
            f"| {label} | {whole:,.0f} | {whole / total:.0%} | {rate:,.0f} | {rate / steady:.0%} "
            f"| {cpu * 1e6:,.0f} | {base_cpu / cpu:.0%} |"
        )
    return lines


def target_lines(extra: dict[str, float], rates: dict[str, tuple[float, float, float]]) -> list[str]:
    lines = ["", "| target | measured | met |", "| --- | --- | :-: |"]
    for label, over in extra.items():
        ok = "yes" if over <= TARGET_OVERHEAD_US else "**no**"
        lines.append(f"| overhead ≤ {TARGET_OVERHEAD_US} µs p50 ({label}) | {over:+,.0f} µs | {ok} |")
    node = rates.get("Node.js through the Runtime API")
    if node is not None:
        _, steady, _ = rates["in-process Python (async)"]
        share = node[1] / steady
        ok = "yes" if share >= TARGET_DRAIN_SHARE else "**no**"
        lines.append(
            f"| Node drain ≥ {TARGET_DRAIN_SHARE:.0%} of in-process Python (steady) | {share:.0%} | {ok} |"
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="timed invocations per invoker")
    parser.add_argument("--drain", type=int, default=30_000, help="messages per drain case")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: --n 500 --drain 3000 (not written)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.quick:
        args.n, args.drain = 500, 3000
    from qworker import logs

    logs.configure("console", "warning")
    lines, extra = overhead_lines(await overhead(args.n))
    with tempfile.TemporaryDirectory() as tmp:
        python = MappingConfig("noop_python:async_handler", "bench", batch_size=10)
        rates = {"in-process Python (async)": await drain(Path(tmp), args.drain, python, "python")}
        if shutil.which("node"):
            node = MappingConfig(
                "noop.handler", "bench", batch_size=10, runtime="nodejs20.x", code_dir=str(APPS)
            )
            rates["Node.js through the Runtime API"] = await drain(Path(tmp), args.drain, node, "node")
    body = "\n".join(
        [
            "## The Lambda Runtime API: any-language functions against the in-process invoker (issue #18)",
            "",
            *lines,
            *drain_lines(args.drain, rates),
            *target_lines(extra, rates),
        ]
    )
    print(body)
    print(json.dumps({"drain_per_s": {k: [round(v) for v in pair] for k, pair in rates.items()}}))
    if not (args.quick or args.no_write):
        from benchmarks.results import write_section

        flags = "".join(
            f" --{name} {value}"
            for name, value, default in (("n", args.n, 5000), ("drain", args.drain, 30_000))
            if value != default
        )
        print(write_section("runtime-api", body, "python -m benchmarks.bench_runtime_api" + flags))


if __name__ == "__main__":
    uvloop.run(main())

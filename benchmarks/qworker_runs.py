"""qworker's runs: ``python -m qworker run`` as a subprocess, timed from the benchmark process.

A drain fills the queue with the backend's own ``send`` (in this process), starts the worker
(``python -m qworker run benchmarks.apps.qworker_app:handler --queue bench ...``) and takes:

* *first*: when the first batch reached the handler (written by the probe inside the worker);
* *end*: when the queue's counts (visible + in flight + delayed) reach 0, i.e. the last message
  was **deleted**. The benchmark reads the counts only after the handler has seen every message,
  so the drain is not slowed by the watching; the worker's own exit (which waits for a final
  empty poll) is not waited for.

Rate = N / (end - first). Start-up (process start to the first record: interpreter, imports,
connecting, the first receive) is reported separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.apps import probe as probe_app
from benchmarks.harness import (
    REPO,
    BenchmarkError,
    CpuMeter,
    CpuShare,
    PrivateRedis,
    Probe,
    WorkerProcess,
    wait_until,
    worker_env,
)

QUEUE = "bench"
FILL_CHUNK = 1000


@dataclass(frozen=True)
class QCase:
    """One qworker configuration."""

    backend: str  #: "redis" or "sqlite"
    batch: int
    window: int = 0  #: --batch-window, seconds
    handler: str = "async"  #: "async" or "sync"
    concurrency: int = 10  #: --max-concurrency
    processes: int = 1

    @property
    def label(self) -> str:
        window = f" window {self.window}s" if self.window else ""
        extra = f", concurrency {self.concurrency}" if self.concurrency != 10 else ""
        procs = f", {self.processes} processes" if self.processes > 1 else ""
        return f"qworker {self.backend} batch {self.batch}{window} {self.handler}{extra}{procs}"

    def argv(self, url: str) -> list[str]:
        handler = "handler" if self.handler == "async" else "sync_handler"
        return [
            sys.executable, "-m", "qworker", "run", f"benchmarks.apps.qworker_app:{handler}",
            "--queue", QUEUE,
            "--backend", url,
            "--batch-size", str(self.batch),
            "--batch-window", str(self.window),
            "--max-concurrency", str(self.concurrency),
            "--log-level", "warning",
            "--log-format", "json",
            "--app-dir", str(REPO),
        ]  # fmt: skip


@dataclass
class DrainResult:
    messages: int
    rate: float  #: messages per second, first record to last delete
    drain: float  #: seconds, first record to last delete
    startup: float  #: seconds, process start to first record
    max_rss: int  #: bytes, the largest worker process
    rss_samples: list[tuple[float, int]]
    #: redis-server's CPU use during the drain, as a fraction of one core (None: not on Redis)
    redis_cpu: float | None = None
    #: CPU use during the steady part of the drain (qworker drains with ``meter=True``)
    cpu: CpuShare | None = None


def redis_backend_available() -> str | None:
    """None when ``redis://`` works, else why not (the Redis rows are skipped with this note)."""
    try:
        from qworker.registry import backend_class

        backend_class("redis")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class QworkerBench:
    """Runs qworker cases against the private Redis or a fresh SQLite file each."""

    def __init__(self, redis: PrivateRedis, tmp: Path) -> None:
        self.redis = redis
        self.tmp = tmp
        self._runs = 0

    def _url(self, backend: str) -> str:
        self._runs += 1
        if backend == "redis":
            self.redis.flush()
            return self.redis.url
        return f"sqlite:///{self.tmp}/qworker-{self._runs}.db"

    def _open(self, url: str) -> Any:
        from qworker.registry import open_backend

        return open_backend(url)

    async def _fill(self, backend: Any, count: int, body: Any = probe_app.make_body) -> float:
        from qworker.backend import QueueSpec, SendEntry

        await backend.create_queue(QueueSpec(QUEUE, visibility_timeout=300))
        began = time.monotonic()
        chunks = [range(start, min(start + FILL_CHUNK, count)) for start in range(0, count, FILL_CHUNK)]
        lanes = 4 if backend.display_url.startswith("redis") else 1

        async def lane(mine: list[range]) -> None:
            for chunk in mine:
                result = await backend.send(QUEUE, [SendEntry(body(i)) for i in chunk])
                if result.failed:
                    raise BenchmarkError(f"send failed: {result.failed[0]}")

        await asyncio.gather(*(lane(chunks[i::lanes]) for i in range(lanes)))
        return time.monotonic() - began

    @staticmethod
    async def _remaining(backend: Any) -> int:
        counts = (await backend.get_queue(QUEUE)).counts
        return int(counts.visible + counts.in_flight + counts.delayed)

    def _start(self, case: QCase, url: str, probe: Probe, mode: str, expect: int) -> list[WorkerProcess]:
        workers = []
        for index in range(case.processes):
            log = probe.dir / f"worker-{index}.log"
            worker = WorkerProcess(case.argv(url), worker_env(probe.env(mode, expect)), log).start()
            worker.start_sampling()
            workers.append(worker)
        return workers

    async def drain(
        self,
        case: QCase,
        count: int,
        *,
        profile: Path | None = None,
        timeout: float | None = None,
        meter: bool = False,
    ) -> DrainResult:
        """Fill ``count`` messages, then time one worker (or ``case.processes``) draining them."""
        url = self._url(case.backend)
        timeout = timeout or 60 + count / 500
        async with self._open(url) as backend:
            await self._fill(backend, count)
            probe = Probe(self.tmp, f"q{self._runs}")
            # with several processes no single one sees all records: no "done" file then
            expect = count if case.processes == 1 else count * 10
            redis_cpu = self.redis.cpu_seconds()
            workers = self._start(case, url, probe, "drain", expect)
            cpu = CpuMeter(self.redis.pid(), [w.pid for w in workers]).start() if meter else None
            spy = None
            try:
                if profile is not None:  # the steady state only: start-up (imports) is not profiled
                    await wait_until(probe.first, timeout=60, what="the first record", worker=workers[0])
                    spy = _start_py_spy(workers[0].pid, profile)
                if case.processes == 1:
                    first, _ = await wait_until(
                        probe.done, timeout=timeout, what=f"{case.label} to drain", worker=workers[0]
                    )
                    interval = 0.001
                else:
                    first = 0.0
                    interval = 0.002
                # several processes: the rate counts from the moment every one of them runs
                # records (their start-up is staggered by their imports), over what was left then
                all_running: tuple[float, int] | None = None
                deadline = time.monotonic() + timeout
                while remaining := await self._remaining(backend):
                    for worker in workers:
                        worker.ensure_alive()
                    if time.monotonic() > deadline:
                        raise BenchmarkError(f"{case.label}: queue not empty after {timeout:.0f} s")
                    if all_running is None and case.processes > 1 and probe.started() == case.processes:
                        all_running = (time.monotonic(), remaining)
                    # several processes: read the counts rarely until the end is near
                    await asyncio.sleep(interval if remaining < count // 20 else 0.02)
                end = time.monotonic()
                redis_cpu = self.redis.cpu_seconds() - redis_cpu
                if not first:
                    first = probe.first() or workers[0].started
            finally:
                if cpu is not None:
                    cpu.stop()
                for worker in workers:
                    await worker.stop()
                if spy is not None:
                    await _finish_py_spy(spy)
        started = min(w.started for w in workers)
        measured, since = (count, first) if all_running is None else (all_running[1], all_running[0])
        return DrainResult(
            messages=count,
            rate=measured / (end - since),
            drain=end - first,
            startup=first - started,
            max_rss=max(w.max_rss for w in workers),
            rss_samples=workers[0].rss_samples,
            redis_cpu=redis_cpu / (end - first) if case.backend == "redis" else None,
            cpu=cpu.between(first, end) if cpu is not None else None,
        )

    async def latency(self, case: QCase, count: int, rate: float) -> list[float]:
        """Seconds from send to handler for ``count`` messages sent one at a time to an idle worker."""
        from qworker.backend import QueueSpec, SendEntry

        url = self._url(case.backend)
        async with self._open(url) as backend:
            await backend.create_queue(QueueSpec(QUEUE, visibility_timeout=300))
            probe = Probe(self.tmp, f"q{self._runs}")
            (worker,) = self._start(replace(case, processes=1), url, probe, "latency", count)
            try:
                deadline = time.monotonic() + 60
                while probe.first() is None:
                    worker.ensure_alive()
                    if time.monotonic() > deadline:
                        raise BenchmarkError(
                            f"{case.label}: no warm-up message arrived:\n{worker.log_tail()}"
                        )
                    await backend.send(QUEUE, [SendEntry(probe_app.latency_body(warmup=True))])
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.5)
                for _ in range(count):
                    await backend.send(QUEUE, [SendEntry(probe_app.latency_body())])
                    await asyncio.sleep(random.uniform(0.5, 1.5) / rate)
                ages = await wait_until(
                    probe.latencies, timeout=30, what=f"{case.label} latencies", worker=worker, interval=0.01
                )
            finally:
                await worker.stop()
        return ages

    async def backlog(
        self,
        case: QCase,
        waiting: int,
        measured: int,
        *,
        drain_all: bool = False,
        series: list[tuple[float, int]] | None = None,
    ) -> tuple[float, DrainResult | None, float]:
        """Rate over the first ``measured`` messages with ``waiting`` in the queue; with
        ``drain_all``, also the whole drain (and its RSS samples). Returns (rate, whole, fill s).

        ``series``, when given, receives (seconds since the worker started, messages left) every
        0.05 s while the worker drains: the drain rate over time, for the backlog chart."""
        url = self._url(case.backend)
        timeout = 120 + waiting / 2000
        async with self._open(url) as backend:
            fill_seconds = await self._fill(backend, waiting)
            probe = Probe(self.tmp, f"q{self._runs}")
            (worker,) = self._start(case, url, probe, "drain", measured)
            sampler = (
                asyncio.create_task(self._sample_left(backend, worker.started, series))
                if series is not None
                else None
            )
            try:
                first, last = await wait_until(
                    probe.done, timeout=timeout, what=f"{case.label} backlog {waiting:,}", worker=worker
                )
                if series is not None:  # the handler's first and last record bound even a short drain
                    series += [(first - worker.started, waiting), (last - worker.started, waiting - measured)]
                whole = None
                if drain_all:
                    deadline = time.monotonic() + timeout
                    while await self._remaining(backend):
                        worker.ensure_alive()
                        if time.monotonic() > deadline:
                            raise BenchmarkError(f"backlog {waiting:,} not drained after {timeout:.0f} s")
                        await asyncio.sleep(0.02)
                    end = time.monotonic()
                    whole = DrainResult(
                        messages=waiting,
                        rate=waiting / (end - first),
                        drain=end - first,
                        startup=first - worker.started,
                        max_rss=worker.max_rss,
                        rss_samples=list(worker.rss_samples),
                    )
            finally:
                if sampler is not None:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                    series.sort()  # type: ignore[union-attr]
                await worker.stop()
        return measured / (last - first), whole, fill_seconds

    async def _sample_left(self, backend: Any, started: float, into: list[tuple[float, int]]) -> None:
        """Append (seconds since ``started``, messages left) every 0.05 s until cancelled."""
        while True:
            left = await self._remaining(backend)
            into.append((time.monotonic() - started, left))
            if left == 0:
                return
            await asyncio.sleep(0.05)


# -- profiling ------------------------------------------------------------------------------------


def _start_py_spy(pid: int, output: Path) -> Any:
    import subprocess

    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise BenchmarkError("py-spy is not installed in this venv (pip install py-spy)")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "500", "--format", "raw", "--nonblocking",
         "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def _finish_py_spy(spy: Any) -> None:
    from benchmarks.harness import wait_exit

    await wait_exit(spy, 30)  # py-spy stops, and writes its output, when the worker exits
    if spy.poll() is None:
        spy.terminate()
        spy.wait(10)


def top_functions(raw: Path, limit: int = 20) -> tuple[int, list[tuple[str, int, int]]]:
    """From py-spy's raw (collapsed) output: total samples, and the ``limit`` functions with the
    most samples of their own (leaf frames), as (function, own samples, inclusive samples)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_function_of(frame) for frame in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
    ranked = sorted(own.items(), key=lambda item: -item[1])[:limit]
    return total, [(name, samples, inclusive[name]) for name, samples in ranked]


def _function_of(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("site-packages", "qworker", "qworker_redis", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            path = "/".join(parts[index + (1 if anchor in ("site-packages", "lib") else 0) :])
            break
    return f"{name} ({path})"

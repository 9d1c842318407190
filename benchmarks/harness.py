"""The machinery every benchmark run shares: a private Redis, worker processes, probes, statistics.

* :class:`PrivateRedis`: ``redis-server`` on a free loopback port with a temporary directory and no
  persistence (``--save "" --appendonly no``), stopped by its pid; never the shared server.
* :class:`WorkerProcess`: one worker as its own process (its own session, so it and any children
  it forks are stopped together), with its output in a log file and its RSS sampled.
* :class:`Probe`: the files :mod:`benchmarks.apps.probe` writes from inside the worker.
* :class:`Stats`: min / median / max of repeated runs.
* :class:`Progress`: one progress bar for the whole suite (rich).

Every time here is ``time.monotonic()``, the clock the probe uses inside the workers
(CLOCK_MONOTONIC is one clock for all processes on Linux).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class BenchmarkError(RuntimeError):
    """A run that could not produce a figure (a worker died, a drain timed out...)."""


# -- Redis ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of the benchmark's own, on a free port, in a temporary directory."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="qworker-bench-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> PrivateRedis:
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--logfile", str(self.dir / "redis.log"),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"redis-server exited at start: {self._log_tail()}")
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BenchmarkError(f"redis-server did not answer within {timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text()[-1500:]
        except OSError:
            return "(no log)"

    def command(self, *args: str) -> Any:
        """One command through redis-cli-free RESP on a fresh socket (no client library needed)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
            payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
            sock.sendall(payload.encode())
            return _read_reply(sock.makefile("rb"))

    def flush(self) -> None:
        """Empty the private server between runs (FLUSHALL: this server is the benchmark's alone)."""
        self.command("FLUSHALL")

    def info(self, section: str) -> dict[str, str]:
        text = self.command("INFO", section)
        return dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#")
        )

    def version(self) -> str:
        return self.info("server").get("redis_version", "?")

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time redis-server has used so far (user + system)."""
        return cpu_seconds(self.pid())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_reply(stream: Any) -> Any:
    line = stream.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise BenchmarkError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    raise OSError(f"unexpected reply {line!r}")


# -- processes ------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (from /proc/stat)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(values)
    return (total - values[3] - values[4]) / tick, total / tick


@dataclass
class CpuShare:
    """CPU use over a time window, in cores (1.0 = one core fully busy)."""

    workers: float
    redis: float
    machine: float  #: every process on the machine, out of os.cpu_count()


class CpuMeter:
    """Samples the machine's, redis-server's and some workers' CPU time every ``interval``, so the
    use during the steady part of a drain can be read afterwards with :meth:`between`."""

    def __init__(self, redis_pid: int, worker_pids: list[int], interval: float = 0.1) -> None:
        self.redis_pid = redis_pid
        self.worker_pids = worker_pids
        self.interval = interval
        self.samples: list[tuple[float, float, float, float]] = []  # t, machine busy, redis, workers
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        busy, _ = machine_cpu_seconds()
        workers = sum(cpu_seconds(pid) for pid in self.worker_pids)
        self.samples.append((time.monotonic(), busy, cpu_seconds(self.redis_pid), workers))

    def start(self) -> CpuMeter:
        async def loop() -> None:
            while True:
                self._sample()
                await asyncio.sleep(self.interval)

        self._task = asyncio.get_running_loop().create_task(loop())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._sample()

    def between(self, start: float, end: float) -> CpuShare | None:
        """Average use between the first sample at or after ``start`` and the last at or before
        ``end``; None when fewer than two samples fall in the window."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.2:
            return None
        (t0, m0, r0, w0), (t1, m1, r1, w1) = inside[0], inside[-1]
        span = t1 - t0
        return CpuShare(workers=(w1 - w0) / span, redis=(r1 - r0) / span, machine=(m1 - m0) / span)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class WorkerProcess:
    """One worker process (and whatever it forks), started in its own session."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    started: float = 0.0
    process: subprocess.Popen[bytes] | None = None
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    _sampler: asyncio.Task[None] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss(self) -> int:
        """RSS of the worker: the largest process of its tree (taskiq and dramatiq fork the one
        process that runs tasks from a supervisor; that process is what the figure is about)."""
        return max((rss_bytes(pid) for pid in process_tree(self.pid)), default=0)

    def start_sampling(self, interval: float = 0.25) -> None:
        async def sample() -> None:
            while self.alive():
                self.rss_samples.append((time.monotonic(), self.rss()))
                await asyncio.sleep(interval)

        self._sampler = asyncio.get_running_loop().create_task(sample())

    @property
    def max_rss(self) -> int:
        return max((rss for _, rss in self.rss_samples), default=0)

    def ensure_alive(self) -> None:
        if not self.alive():
            code = self.process.returncode if self.process is not None else None
            raise BenchmarkError(f"worker exited with code {code}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the worker's process group, SIGKILL after ``timeout``; returns the exit code."""
        if self._sampler is not None:
            self._sampler.cancel()
        if self.process is None:
            return None
        if self.process.poll() is None:
            with _suppress_lookup():
                os.killpg(self.process.pid, signal.SIGTERM)
            await wait_exit(self.process, timeout)
        if self.process.poll() is None:
            with _suppress_lookup():
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with _suppress_lookup():  # anything the worker forked and left behind
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


@contextmanager
def _suppress_lookup() -> Iterator[None]:
    try:
        yield
    except ProcessLookupError:
        pass


async def wait_exit(process: subprocess.Popen[Any], timeout: float) -> int | None:
    """Wait up to ``timeout`` seconds for ``process`` to exit, without blocking the event loop."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)
    except TimeoutError:
        return None


def qworker_sources(root: Path = REPO) -> list[Path]:
    """qworker's source packages in a checkout (this one is installed editable: Python imports
    them from here)."""
    return [root / "qworker", *sorted((root / "backends").glob("*/src"))]


def compile_bytecode(root: Path = REPO) -> None:
    """Byte-compile qworker's modules, as pip does when it installs the wheel.

    This checkout is an editable install, and where ``PYTHONDONTWRITEBYTECODE`` is set (it is on
    the project's machine) no ``__pycache__`` is ever written: every worker would compile all of
    qworker from source at start-up, about 90 ms that no installed qworker pays (the peers run
    from site-packages, compiled at install). Existing ``.pyc`` files are read whatever that
    variable says.
    """
    import compileall

    for source in qworker_sources(root):
        if not compileall.compile_dir(str(source), quiet=1, workers=1):
            raise BenchmarkError(f"byte-compiling {source} failed")


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a worker or client: ours, minus QWORKER_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_json(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a helper command that prints one JSON line (the peers' driver) and return it."""
    result = subprocess.run(
        argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv[:6])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchmarkError(f"{' '.join(argv[:6])} printed no result:\n{result.stdout[-2000:]}")
    return json.loads(lines[-1])


# -- probes ---------------------------------------------------------------------------------------


class Probe:
    """The directory a worker's :mod:`benchmarks.apps.probe` writes to, and its readings."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def env(self, mode: str, expect: int) -> dict[str, str]:
        return {"BENCH_PROBE_DIR": str(self.dir), "BENCH_MODE": mode, "BENCH_EXPECT": str(expect)}

    def _files(self, prefix: str) -> list[Path]:
        return [self.dir / name for name in os.listdir(self.dir) if name.startswith(prefix)]

    def first(self) -> float | None:
        """When the first record reached a handler (the earliest over all worker processes)."""
        times = [float(path.read_text()) for path in self._files("first-") if not path.name.endswith(".tmp")]
        return min(times) if times else None

    def started(self) -> int:
        """How many worker processes have handed a record to their handler."""
        return sum(1 for path in self._files("first-") if not path.name.endswith(".tmp"))

    def done(self) -> tuple[float, float] | None:
        """(first, last) record times, once one process has counted the expected records."""
        for path in self._files("done-"):
            if not path.name.endswith(".tmp"):
                first, last, _ = path.read_text().split()
                return float(first), float(last)
        return None

    def latencies(self) -> list[float] | None:
        for path in self._files("latency-"):
            if path.name.endswith(".json"):
                return [float(v) for v in json.loads(path.read_text())]
        return None


async def wait_until(
    ready: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    worker: WorkerProcess | None = None,
    interval: float = 0.002,
) -> Any:
    """Poll ``ready()`` until it returns something truthy; fail if the worker dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if worker is not None:
            worker.ensure_alive()
        if time.monotonic() > deadline:
            tail = f"\nworker log:\n{worker.log_tail()}" if worker is not None else ""
            raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
        await asyncio.sleep(interval)


# -- statistics -----------------------------------------------------------------------------------


@dataclass
class Stats:
    """Repeated measurements of one figure."""

    values: list[float]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def fmt(self, spec: str = ",.0f") -> str:
        """``median (min-max)``, or the one value."""
        if len(self.values) == 1:
            return format(self.values[0], spec)
        return f"{format(self.median, spec)} ({format(self.min, spec)}–{format(self.max, spec)})"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- progress -------------------------------------------------------------------------------------


class Progress:
    """One bar for the whole suite: ``advance()`` after each run, ``note()`` for what is running."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total
        self._progress: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich import progress as rich

            self._progress = rich.Progress(
                rich.TextColumn("[bold]{task.description:<44}"),
                rich.BarColumn(),
                rich.MofNCompleteColumn(),
                rich.TimeElapsedColumn(),
                rich.TimeRemainingColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def note(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description[:44])
        else:
            print(f"[{self._done}/{self.total}] {description}", file=sys.stderr, flush=True)

    def advance(self, steps: int = 1) -> None:
        self._done += steps
        if self._progress is not None:
            self._progress.update(self._task, advance=steps)

    def say(self, text: str) -> None:
        """A line above the bar (skips, warnings)."""
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(re.sub(r"\[/?[a-z ]*\]", "", text), file=sys.stderr, flush=True)  # no rich markup


# -- redis-benchmark ------------------------------------------------------------------------------


def redis_benchmark(port: int, *, tests: str, clients: int, pipeline: int, requests: int) -> dict[str, float]:
    """requests/s per test from ``redis-benchmark --csv`` against the private server."""
    if shutil.which("redis-benchmark") is None:
        raise BenchmarkError("redis-benchmark is not on the PATH")
    argv = [
        "redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "--csv",
        "-t", tests, "-c", str(clients), "-P", str(pipeline), "-n", str(requests),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    rates: dict[str, float] = {}
    for line in result.stdout.splitlines():
        fields = [f.strip('"') for f in line.split(",")]
        if len(fields) >= 2 and fields[0] != "test":
            try:
                rates[fields[0]] = float(fields[1])
            except ValueError:
                continue
    return rates

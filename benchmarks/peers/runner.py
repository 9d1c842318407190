"""Run a peer the way qworker is run: same Redis, same N, same bodies, one worker process.

A drain enqueues N messages with the library's own client (``driver fill``), checks the library
counts N waiting, starts the worker, and takes *first* and *last* from the probe inside the task:
the first task started, and the N-th task finished. Rate = N / (last - first). The peer's own
acknowledgement of the last task is not waited for (qworker's rows do wait for the last delete),
so any error here favours the peer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks.harness import (
    REPO,
    BenchmarkError,
    PrivateRedis,
    Probe,
    WorkerProcess,
    run_json,
    wait_until,
    worker_env,
)
from benchmarks.peers.base import Peer
from benchmarks.qworker_runs import DrainResult


def venv_bin(peer: Peer) -> Path:
    return REPO / peer.venv / "bin"


def unavailable(peer: Peer) -> str | None:
    """Why ``peer`` cannot run here, or None."""
    python = venv_bin(peer) / "python"
    if not python.exists():
        return f"{peer.venv} is missing: run `python -m benchmarks setup` (see benchmarks/README.md)"
    return None


class PeerBench:
    def __init__(self, redis: PrivateRedis, tmp: Path) -> None:
        self.redis = redis
        self.tmp = tmp
        self._runs = 0

    def _env(self, peer: Peer, override: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        return worker_env({"BENCH_REDIS_URL": self.redis.url, **peer.environment(override), **(extra or {})})

    def _driver(self, peer: Peer, *args: str) -> list[str]:
        return [str(venv_bin(peer) / "python"), "-m", "benchmarks.peers.driver", peer.name, *args]

    def versions(self, peer: Peer) -> dict[str, str]:
        """Versions of the peer's distributions, and of redis-py, hiredis and uvloop in its venv."""
        reply = run_json(self._driver(peer, "version"), self._env(peer, None), timeout=60)
        return {str(name): str(value) for name, value in reply["versions"].items()}

    def pending(self, peer: Peer, override: str | None = None) -> int:
        return int(run_json(self._driver(peer, "pending"), self._env(peer, override), timeout=60)["pending"])

    def _worker(
        self, peer: Peer, probe: Probe, mode: str, expect: int, override: str | None
    ) -> WorkerProcess:
        argv = peer.command(venv_bin(peer), self.redis.url, override)
        env = self._env(peer, override, probe.env(mode, expect))
        worker = WorkerProcess(argv, env, probe.dir / "worker.log").start()
        worker.start_sampling()
        return worker

    async def drain(self, peer: Peer, count: int, override: str | None = None) -> DrainResult:
        self._runs += 1
        self.redis.flush()
        filled = run_json(
            self._driver(peer, "fill", str(count)), self._env(peer, override), timeout=120 + count / 200
        )
        if filled["pending"] != count:
            raise BenchmarkError(f"{peer.title}: {filled['pending']} pending after enqueueing {count}")
        probe = Probe(self.tmp, f"{peer.name}-{self._runs}")
        redis_cpu = self.redis.cpu_seconds()
        worker = self._worker(peer, probe, "drain", count, override)
        try:
            first, last = await wait_until(
                probe.done,
                timeout=60 + count * peer.seconds_per_message,
                what=f"{peer.title} to drain {count:,}",
                worker=worker,
            )
            redis_cpu = self.redis.cpu_seconds() - redis_cpu
        finally:
            await worker.stop()
        return DrainResult(
            messages=count,
            rate=count / (last - first),
            drain=last - first,
            startup=first - worker.started,
            max_rss=worker.max_rss,
            rss_samples=worker.rss_samples,
            redis_cpu=redis_cpu / (last - first),
        )

    async def latency(self, peer: Peer, count: int, rate: float) -> list[float]:
        self._runs += 1
        self.redis.flush()
        probe = Probe(self.tmp, f"{peer.name}-{self._runs}")
        worker = self._worker(peer, probe, "latency", count, None)
        try:
            sender = await asyncio.create_subprocess_exec(
                *self._driver(peer, "latency", str(count), str(rate), str(probe.dir)),
                env=self._env(peer, None),
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await sender.communicate()
            if sender.returncode != 0:
                raise BenchmarkError(f"{peer.title} latency sender failed:\n{err.decode()[-2000:]}")
            ages = await wait_until(
                probe.latencies, timeout=30, what=f"{peer.title} latencies", worker=worker, interval=0.01
            )
        finally:
            await worker.stop()
        return ages

"""A soak run, by hand (RELIABILITY.md T15): ``python -m tests.reliability.soak --minutes 30``.

Starts a private redis-server and one ``qworker run`` worker process on it, sends a steady stream
of messages (about half of what the worker can drain), and every 30 seconds records the worker's
RSS, open file descriptors and threads and the number of Redis keys. At the end it checks that
every acknowledged send was processed and prints the samples and the growth between the first
sample after warm-up and the last one. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qworker.backend import QueueSpec, SendEntry
from qworker.registry import open_backend
from tests.reliability import figures

APP_DIR = Path(__file__).resolve().parent.parent / "runtime"


def _proc_stats(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_mb": rss_kb / 1024, "threads": threads, "fds": fds}


async def soak(minutes: float, rate: int, warmup: float) -> int:
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    ledger = Path(tempfile.mkdtemp(prefix="qworker-soak-")) / "ledger.jsonl"
    url = f"{server.url}?prefix=soak"
    env = {**os.environ, "QW_TEST_LEDGER": str(ledger), "PYTHONPATH": str(APP_DIR.parent.parent)}
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("soak", visibility_timeout=30))
        worker = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for at the end
            [
                sys.executable,
                "-m",
                "qworker",
                "run",
                "apps.ledger:async_handler",
                "--queue",
                "soak",
                "--backend",
                url,
                "--app-dir",
                str(APP_DIR),
                "--log-level",
                "warning",
                "--batch-size",
                "10",
                "--max-concurrency",
                "50",
            ],
            env=env,
        )
        sent = 0
        samples: list[dict[str, float]] = []
        started = time.monotonic()
        next_sample = started
        try:
            while time.monotonic() - started < minutes * 60:
                tick = time.monotonic()
                result = await backend.send(
                    "soak", [SendEntry(json.dumps({"n": sent + i})) for i in range(rate // 10)]
                )
                sent += len(result.successful)
                if tick >= next_sample:
                    keys = int(server.cli("DBSIZE").strip() or 0)
                    sample = {"t_s": round(tick - started), **_proc_stats(worker.pid), "redis_keys": keys}
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
                    next_sample += 30
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            deadline = time.monotonic() + 60
            while (await backend.get_queue("soak")).counts.visible and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
        finally:
            worker.terminate()
            worker.wait(30)
            server.stop()
    handled = {i for line in ledger.read_text().splitlines() for i in json.loads(line)["ids"]}
    warm = [s for s in samples if s["t_s"] >= warmup * 60] or samples
    growth = {k: round(warm[-1][k] - warm[0][k], 2) for k in ("rss_mb", "threads", "fds", "redis_keys")}
    first, last = warm[0], warm[-1]
    figures.record(
        "T15 soak",
        {
            "minutes": minutes,
            "rate_per_s": rate,
            "sent": sent,
            "processed": len(handled),
            "lost": sent - len(handled),
            "rss_mb_after_warmup": [round(first["rss_mb"], 1), round(last["rss_mb"], 1)],
            "threads": [first["threads"], last["threads"]],
            "fds": [first["fds"], last["fds"]],
            "redis_keys": [first["redis_keys"], last["redis_keys"]],
            "growth_after_warmup": growth,
        },
        test="tests/reliability/soak.py",
    )
    return 0 if len(handled) == sent else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=int, default=2000, help="messages per second to send")
    parser.add_argument("--warmup", type=float, default=5, help="minutes before growth is measured")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(soak(args.minutes, args.rate, args.warmup)))


if __name__ == "__main__":
    main()

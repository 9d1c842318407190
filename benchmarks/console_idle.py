"""Measure what an idle ``qworker console`` costs: CPU of the server process with N queues and no
page open, and with one page open (its live poll), over a fixed window.

    python -m benchmarks.console_idle --queues 1000 --seconds 60

Prints one line per case: queues, pages open, CPU % of one core. "Idle" is measured after the
sampler's idle threshold (no page open for two minutes), then one page polls every 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from qworker.backend import QueueSpec, SendEntry
from qworker.console.sampler import IDLE_AFTER
from qworker.registry import open_backend


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _setup(url: str, queues: int) -> None:
    async with open_backend(url) as backend:
        for i in range(queues):
            await backend.create_queue(QueueSpec(f"q{i:04d}"))
            await backend.send(f"q{i:04d}", [SendEntry("m")])


def _poll(base: str, stop: threading.Event, every: float) -> None:
    """What an open overview does: one /api/live request every ``every`` seconds."""
    version = ""
    while not stop.is_set():
        with urllib.request.urlopen(f"{base}/api/live?v={version}", timeout=5) as response:
            version = str(json.loads(response.read())["version"])
        stop.wait(every)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--sample-interval", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/idle.db"
        asyncio.run(_setup(url, args.queues))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qworker",
                "console",
                "--backend",
                url,
                "--port",
                str(port),
                "--sample-interval",
                str(args.sample_interval),
            ],
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}/console"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/static/console.css", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # past start-up, and past the sampler's idle threshold (no page has been open since)
            time.sleep(IDLE_AFTER + args.sample_interval)
            for pages in (0, 1):
                stop = threading.Event()
                pollers = [threading.Thread(target=_poll, args=(base, stop, 2.0)) for _ in range(pages)]
                for t in pollers:
                    t.start()
                before, started = _cpu_seconds(server.pid), time.monotonic()
                time.sleep(args.seconds)
                used = _cpu_seconds(server.pid) - before
                elapsed = time.monotonic() - started
                stop.set()
                for t in pollers:
                    t.join()
                print(f"queues={args.queues} pages_open={pages} cpu={100 * used / elapsed:.2f}% of one core")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

"""py-spy's view of the server's event-loop thread over one more window of a case."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from multiprocessing.pool import Pool
from pathlib import Path

from benchmarks.serve_loop.measure import Api, Sample, measure_api

#: own-time groups of the server's event-loop thread: a leaf frame containing one of the
#: strings is in the group, first match wins
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("writes of responses to the client socket (`CoalescingTransport._flush`)",
     ("_flush (qworker/serve/protocol.py",)),
    ("uvloop/libuv in C: epoll, socket reads, callback dispatch (`Runner.run`)",
     ("Runner.run (asyncio/runners.py",)),
    ("backend client (qworker_redis, qworker_sqlite, redis-py), its socket writes included",
     ("qworker_redis/", "qworker_sqlite/", "redis/")),
    ("HTTP server (uvicorn's httptools protocol)", ("uvicorn/",)),
    ("SQS API layer (qworker/serve)", ("qworker/serve/",)),
    ("qworker core (digests, limits, ids, metrics)", ("qworker/",)),
)  # fmt: skip


def profile_serve(pool: Pool, api: Api, loops: int, warmup: float, seconds: float) -> tuple[Sample, str]:
    """One more window of ``api`` with py-spy on the server; markdown lines for the event-loop thread."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in this venv: python -m benchmarks setup")
    raw = Path(tempfile.mkdtemp(prefix="qworker-serve-loop-")) / "serve.txt"
    command = [
        str(spy), "record", "--pid", str(api.server_pid), "--rate", "250", "--format", "raw",
        "--nonblocking", "--threads", "--duration", str(round(warmup + seconds)), "--output", str(raw),
    ]  # fmt: skip
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sample = measure_api(pool, api, loops, warmup, seconds)
    finally:
        recorder.wait(60)
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[0].endswith(": MainThread") and len(frames) > 1:
            own[frames[-1]] += int(count)
    total = sum(own.values()) or 1
    groups: Counter[str] = Counter()
    for frame, count in own.items():
        group = next(
            (name for name, marks in _GROUPS if any(m in frame for m in marks)),
            "other (stdlib: asyncio, json, ...)",
        )
        groups[group] += count
    loop_us = sample.cpu.get("server event loop", 0.0)
    lines = [
        "| where the event-loop thread's time goes (py-spy, own time) | share | ≈ µs/message |",
        "| --- | ---: | ---: |",
    ]
    for name, count in groups.most_common():
        lines.append(f"| {name} | {count / total:.0%} | {loop_us * count / total:,.0f} |")
    lines += [
        "",
        "py-spy's samples are of wall time in which it found the thread running; a thread that "
        "waits in C for the GIL (on SQLite, while the database thread holds it) can count as "
        "running, in `Runner.run`: the µs column spreads the thread's measured CPU over the shares.",
        "",
        "| top functions (own time) | share |",
        "| --- | ---: |",
    ]
    for frame, count in own.most_common(8):
        lines.append(f"| `{frame}` | {count / total:.1%} |")
    return sample, "\n".join(lines)

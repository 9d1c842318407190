"""Counting and timing inside a worker process (standard library only: it runs in every venv).

A benchmark run tells the worker, through the environment, what to record:

* ``BENCH_PROBE_DIR``: where to write the records (one directory per run);
* ``BENCH_MODE``: ``drain`` (count records) or ``latency`` (measure each record's age);
* ``BENCH_EXPECT``: how many records make the run complete.

In ``drain`` mode the first record writes ``first-PID`` (its time) and the ``BENCH_EXPECT``-th
writes ``done-PID`` (first and last times). In ``latency`` mode every body carries its send time
``t`` (``time.monotonic()`` of the sender: CLOCK_MONOTONIC is one clock for every process on Linux)
and ``latency-PID.json`` gets every record's age once ``BENCH_EXPECT`` records arrived; bodies
with ``"w": 1`` are warm-up messages, not measured. The work per record is a lock and an integer
addition, so the probe does not weigh on what it measures; files are written once per run.
"""

from __future__ import annotations

import json
import os
import threading
import time

_DIR = os.environ.get("BENCH_PROBE_DIR", "")
_LATENCY = os.environ.get("BENCH_MODE", "drain") == "latency"
_EXPECT = int(os.environ.get("BENCH_EXPECT", "0") or 0)

_lock = threading.Lock()  # thread-pool workers call in from several threads
_count = 0
_first = 0.0
_ages: list[float] = []

#: the drain payload: about 100 bytes of JSON, as the issue asks
_PAD = "x" * 48


def make_body(index: int) -> str:
    """The body of drain message ``index`` (~100 bytes of JSON)."""
    return json.dumps({"id": index, "kind": "bench.noop", "customer": "c-42", "pad": _PAD})


def latency_body(warmup: bool = False) -> str:
    """A latency message: its send time, read by :func:`record_body` in the worker."""
    body = {"t": time.monotonic(), "kind": "bench.latency", "pad": _PAD}
    if warmup:
        body["w"] = 1
    return json.dumps(body)


def _write(name: str, text: str) -> None:
    if not _DIR:
        return
    path = os.path.join(_DIR, name)
    with open(path + ".tmp", "w") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)  # readers never see half a file


def add(records: int = 1) -> None:
    """Count ``records`` processed records (drain mode)."""
    global _count, _first
    with _lock:
        before = _count
        _count = before + records
        now = time.monotonic()
        if before == 0:
            _first = now
            _write(f"first-{os.getpid()}", repr(now))
        if before < _EXPECT <= _count:
            _write(f"done-{os.getpid()}", f"{_first!r} {now!r} {_count}")


def record_body(body: str) -> None:
    """One record: counted in drain mode; its age measured in latency mode."""
    if not _LATENCY:
        add(1)
        return
    now = time.monotonic()
    data = json.loads(body)
    if data.get("w"):
        _write(f"first-{os.getpid()}", repr(now))
        return
    with _lock:
        _ages.append(now - data["t"])
        if len(_ages) == _EXPECT:
            _write(f"latency-{os.getpid()}.json", json.dumps(_ages))

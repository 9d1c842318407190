"""A latency handler that also times each stage of a wake-up inside the worker (SQLite only).

``python -m benchmarks.bench_sqlite --latency`` runs it in one extra, instrumented worker so the
figures of the plain runs carry no instrumentation. Importing this module (``qworker run``
imports the handler before it connects) wraps, in this process only:

* ``Probe.woken``: the worker thread wakes on its inotify descriptor (a write to the WAL file);
* ``Probe._attempts``: the worker thread's probe found a new ``data_version`` (and now makes the
  waiter's receive attempt);
* ``Wakeups.changed``: the event loop hears of it (waiters are woken here);
* ``receive.receive``: the receive attempt on the worker thread (start, end), when it returns
  messages, and ``Store.write``: when its ``BEGIN IMMEDIATE`` starts and has the write lock;
* ``SQLiteBackend.receive``: the backend hands messages to the runtime;
* ``Batcher.next_batches``: the runtime has made records and batches of them;
* ``Dispatcher.run_batch``: the batch's task starts (the handler is called next).

Each stage keeps its recent times (``time.monotonic()``, the sender's clock too); the handler
picks, for its message, the first time of each stage after the message's send time, and writes
every message's stages to ``anatomy-PID.json`` once ``BENCH_EXPECT`` arrived.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import threading
import time
from typing import Any

from benchmarks.apps import probe
from qworker.runtime.batcher import Batcher
from qworker.runtime.schedule import Dispatcher
from qworker_sqlite import backend as sqlite_backend
from qworker_sqlite import receive as receiving
from qworker_sqlite import wakeups, watch
from qworker_sqlite.store import Store

STAGES = (
    "write_event",
    "probe_changed",
    "loop_changed",
    "txn_start",
    "begin",
    "locked",
    "txn_end",
    "returned",
    "batched",
    "task_started",
)
_marks: dict[str, collections.deque[float]] = {name: collections.deque(maxlen=64) for name in STAGES}
_lock = threading.Lock()
_rows: list[dict[str, float]] = []


def _mark(stage: str) -> None:
    _marks[stage].append(time.monotonic())


def _install() -> None:
    _wrap_probe()
    _wrap_backend()
    _wrap_runtime()


def _wrap_probe() -> None:
    woken = watch.Probe.woken

    @functools.wraps(woken)
    def on_woken(self: watch.Probe) -> None:
        _mark("write_event")
        woken(self)

    attempts = watch.Probe._attempts

    @functools.wraps(attempts)
    def on_attempts(self: watch.Probe, *args: Any) -> Any:
        _mark("probe_changed")  # called only when the probe read a new data_version
        return attempts(self, *args)

    changed = wakeups.Wakeups.changed

    @functools.wraps(changed)
    def on_changed(self: wakeups.Wakeups, *args: Any) -> None:
        _mark("loop_changed")
        changed(self, *args)

    watch.Probe.woken = on_woken  # type: ignore[method-assign]
    watch.Probe._attempts = on_attempts  # type: ignore[method-assign]
    wakeups.Wakeups.changed = on_changed  # type: ignore[method-assign]


def _wrap_backend() -> None:
    take = receiving.receive

    @functools.wraps(take)
    def on_receive(*args: Any, **kwargs: Any) -> receiving.ReceiveOutcome:
        began = time.monotonic()
        outcome = take(*args, **kwargs)
        if outcome.messages:
            _marks["txn_start"].append(began)
            _mark("txn_end")
        return outcome

    receive = sqlite_backend.SQLiteBackend.receive

    @functools.wraps(receive)
    async def on_backend_receive(self: Any, *args: Any, **kwargs: Any) -> Any:
        messages = await receive(self, *args, **kwargs)
        if messages:
            _mark("returned")
        return messages

    write = Store.write

    @contextlib.contextmanager
    def on_write(self: Store) -> Any:
        _mark("begin")
        with write(self) as conn:
            _mark("locked")
            yield conn

    receiving.receive = on_receive
    Store.write = on_write  # type: ignore[method-assign]
    sqlite_backend.SQLiteBackend.receive = on_backend_receive  # type: ignore[method-assign]


def _wrap_runtime() -> None:
    next_batches = Batcher.next_batches

    @functools.wraps(next_batches)
    async def on_next_batches(self: Batcher, *args: Any, **kwargs: Any) -> Any:
        batches = await next_batches(self, *args, **kwargs)
        if batches:
            _mark("batched")
        return batches

    run_batch = Dispatcher.run_batch

    @functools.wraps(run_batch)
    async def on_run_batch(self: Dispatcher, *args: Any, **kwargs: Any) -> Any:
        _mark("task_started")
        return await run_batch(self, *args, **kwargs)

    Batcher.next_batches = on_next_batches  # type: ignore[method-assign]
    Dispatcher.run_batch = on_run_batch  # type: ignore[method-assign]


_install()


async def handler(event: dict[str, Any], context: Any) -> None:
    """Record each latency record's stage times (warm-up records only say the worker is up)."""
    now = time.monotonic()
    for record in event["Records"]:
        data = json.loads(record["body"])
        if data.get("w"):
            probe.record_body(record["body"])
            continue
        sent = data["t"]
        row = {"sent": sent, "handler": now}
        for stage in STAGES:
            row[stage] = next((t for t in _marks[stage] if t >= sent), float("nan"))
        with _lock:
            _rows.append(row)
            if len(_rows) == probe._EXPECT:
                probe._write(f"anatomy-{os.getpid()}.json", json.dumps(_rows))

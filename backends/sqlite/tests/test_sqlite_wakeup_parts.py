"""The parts of SQLite's long-poll wake-ups on their own: the probe's schedule, the waiters'
hand-over of attempts made for them, the worker thread's wake source, the URL option.

The behaviour across processes is in test_sqlite_wakeups.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from qworker.errors import ConfigError
from qworker_sqlite import watch
from qworker_sqlite.url import parse_url, url_of
from qworker_sqlite.wakeups import Prefetched, Wakeups
from qworker_sqlite.worker import WorkerThread

#: seconds after which a call that should have returned counts as hung (not a measurement)
HANG = 30.0


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


def test_the_wakeup_option_round_trips() -> None:
    for mode in ("inotify", "poll"):
        options = parse_url(f"sqlite:////tmp/q.db?wakeup={mode.upper()}")
        assert options.wakeup == mode
        assert parse_url(url_of(options)) == options
    assert parse_url("sqlite:////tmp/q.db").wakeup == "auto"
    assert url_of(parse_url("sqlite:////tmp/q.db?wakeup=auto")) == "sqlite:////tmp/q.db"
    with pytest.raises(ConfigError, match="wakeup='fast'; valid values: auto"):
        parse_url("sqlite:////tmp/q.db?wakeup=fast")


class _Store:
    """A store whose ``data_version`` readings are scripted."""

    def __init__(self, versions: list[int]) -> None:
        self.versions = versions
        self.stamp = 0

    def data_version(self) -> tuple[int, int]:
        self.stamp += 1
        return self.versions.pop(0), self.stamp


async def test_after_a_write_the_probe_looks_again_soon_then_backs_off() -> None:
    """The write may come before its commit is visible (and another writer's with a visible
    one): after a reported write the probe runs at each of SETTLE_DELAYS, then every interval."""
    changes: list[tuple[int, int]] = []
    wakeups = Wakeups(lambda: None, lambda: None)
    wakeups.changed = lambda version, stamp, made=None: changes.append((version, stamp))  # type: ignore[method-assign]
    store = _Store([1, 1, 1] + [2] * (len(watch.SETTLE_DELAYS) + 2))
    probe = watch.Probe(store, wakeups, asyncio.get_running_loop(), 0.1)  # type: ignore[arg-type]
    assert probe() == 0.1  # first reading: reported, nothing to settle
    probe._written = True  # a write was reported...
    assert probe() == watch.SETTLE_DELAYS[0]  # ...but no commit shows yet: look again soon
    assert probe() == watch.SETTLE_DELAYS[1]
    assert [probe() for _ in watch.SETTLE_DELAYS[2:]] == list(watch.SETTLE_DELAYS[2:])  # it showed
    assert probe() == 0.1
    probe._written = True  # a write whose commit shows at once still settles
    assert probe() == watch.SETTLE_DELAYS[0]
    await asyncio.sleep(0)
    assert [version for version, _ in changes] == [1, 2]


async def test_a_waiter_cancelled_as_its_attempt_arrives_hands_it_over() -> None:
    orphans: list[tuple[str, Prefetched]] = []
    wakeups = Wakeups(lambda: None, lambda: None, lambda queue, result: orphans.append((queue, result)))
    task = asyncio.create_task(wakeups.wait("q", 0, (0, 0), within=30, attempt=lambda reading: None))
    await until(lambda: wakeups.waiting)
    (waiter,) = wakeups.waiting
    result = Prefetched(time.monotonic(), "outcome")
    wakeups.changed(1, 5, [(waiter, result)])
    task.cancel()  # in the same turn: the waiter never sees its result
    with pytest.raises(asyncio.CancelledError):
        await task
    assert orphans == [("q", result)]
    assert not wakeups.waiting


async def test_a_waiter_whose_timeout_comes_with_its_attempt_keeps_it() -> None:
    wakeups = Wakeups(lambda: None, lambda: None, lambda queue, result: pytest.fail("orphaned"))
    task = asyncio.create_task(wakeups.wait("q", 0, (0, 0), within=0.05, attempt=lambda reading: None))
    await until(lambda: wakeups.waiting)
    (waiter,) = wakeups.waiting
    result = Prefetched(time.monotonic(), "outcome")
    time.sleep(0.1)  # the timeout is due; it fires in the loop's next turn, just after this:
    asyncio.get_running_loop().call_soon(wakeups.changed, 1, 5, [(waiter, result)])
    assert await task is result


class _Pipe:
    """A wake source for :class:`WorkerThread`: readable once a byte is written."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.woken_count = 0

    def fileno(self) -> int:
        return self.read_end

    def woken(self) -> None:
        self.woken_count += 1
        os.read(self.read_end, 64)

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


async def test_the_worker_thread_waiting_on_a_wake_source_still_serves_calls() -> None:
    worker = WorkerThread("test")
    pipe = _Pipe()
    runs: list[float] = []
    try:
        worker.set_idle_task(lambda: runs.append(time.monotonic()) or 3600.0, 3600.0, wake=pipe)
        await asyncio.sleep(0.05)  # parked in select() on the pipe, the task an hour away
        assert await asyncio.wait_for(worker.submit(lambda: "served"), HANG) == "served"
        assert not runs
        os.write(pipe.write_end, b"x")  # the wake source fires: the task runs at once
        await until(lambda: runs)
        assert pipe.woken_count == 1
        assert await asyncio.wait_for(worker.submit(lambda: "again"), HANG) == "again"
    finally:
        worker.set_idle_task(None)
        await worker.submit(lambda: None)  # no longer waiting on the pipe
        worker.stop()
        pipe.close()


async def test_a_closed_wake_source_does_not_stop_the_worker_thread() -> None:
    worker = WorkerThread("test")
    pipe = _Pipe()
    try:
        worker.set_idle_task(lambda: 0.01, 0.0, wake=pipe)
        await asyncio.sleep(0.05)
        os.close(pipe.read_end)  # as if closed under it
        assert await asyncio.wait_for(worker.submit(lambda: "served"), HANG) == "served"
    finally:
        worker.set_idle_task(None)
        worker.stop()
        os.close(pipe.write_end)

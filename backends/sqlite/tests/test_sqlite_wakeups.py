"""Long polls woken by other processes' commits: inotify (the fast path), polling (the fallback).

What must hold in both modes: a commit by another process wakes a waiting receive (a missed
wake-up costs a whole long poll), whenever it lands, even while the wait is starting; and an
idle long poll does not spin. Senders are real OS processes. Nothing here measures a duration:
the long polls last an hour, so a missed wake-up shows as a receive that hangs (:data:`HANG`
is a hang detector), and to prove a wake-up came from inotify the tests take the other ways
away (the backstop probe is set to an hour too).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from qworker.backend import QueueSpec, SendEntry
from qworker.errors import ConfigError
from qworker_sqlite import SQLiteBackend, inotify, watch
from qworker_sqlite import receive as receiving
from qworker_sqlite.url import parse_url
from qworker_sqlite.wakeups import Prefetched, Wakeups

linux_only = pytest.mark.skipif(inotify.unavailable_reason() is not None, reason="inotify is Linux-only")
MODES = [pytest.param("inotify", marks=linux_only), "poll"]
#: seconds after which a receive that should have been woken counts as hung (not a measurement)
HANG = 30.0

_SENDER = """
import asyncio, sys, time
from qworker.backend import SendEntry
from qworker_sqlite import SQLiteBackend

async def main():
    async with SQLiteBackend.from_url(sys.argv[1]) as backend:
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            delay, queue, body = line.split()
            time.sleep(float(delay))
            result = await backend.send(queue, [SendEntry(body)])
            assert not result.failed, result.failed
            print("sent", flush=True)

asyncio.run(main())
"""


class Sender:
    """Another OS process that sends a message to a queue of the database on each request."""

    def __init__(self, url: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_SENDER), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._read() == "ready"

    def _read(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()

    def request(self, body: str, queue: str = "q", delay: float = 0.0) -> None:
        """Ask for a send (``delay`` s from now, in the other process); does not wait for it."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{delay} {queue} {body}\n")
        self._process.stdin.flush()

    def confirmed(self) -> None:
        """Wait until the requested send is committed."""
        assert self._read() == "sent"

    def send(self, body: str, queue: str = "q") -> None:
        """Send and wait until committed (blocking: also callable on the backend's thread)."""
        self.request(body, queue)
        self.confirmed()

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(30)
        assert self._process.stdout is not None
        self._process.stdout.close()


def file_url(tmp_path: Path, mode: str) -> str:
    return f"sqlite:///{tmp_path / 'q.db'}?wakeup={mode}"


@pytest.fixture
async def setup(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[SQLiteBackend, Sender]]:
    """A backend in ``request.param`` mode with queues ``q`` and ``other``, and a sender process."""
    url = file_url(tmp_path, request.param)
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec("q"))
        await backend.create_queue(QueueSpec("other"))
        assert backend.wakeup_mode == request.param
        sender = await asyncio.to_thread(Sender, url)
        try:
            yield backend, sender
        finally:
            await asyncio.to_thread(sender.close)


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


async def receive_woken(backend: SQLiteBackend, queue: str = "q") -> list[str]:
    """The bodies a long poll of an hour returns; fails if no wake-up comes (it would hang)."""
    messages = await asyncio.wait_for(backend.receive(queue, wait_seconds=3600), HANG)
    return [m.body for m in messages]


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count calls of ``owner.name`` (from any thread); the count is the list's length."""
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


# == the fast path ==============================================================================


@linux_only
@pytest.mark.parametrize("setup", ["inotify"], indirect=True)
async def test_inotify_wakes_a_waiter_on_another_process_commit(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, sender = setup
    monkeypatch.setattr(watch, "BACKSTOP_INTERVAL", 3600.0)  # nothing but a reported write can wake it
    woken = count_calls(monkeypatch, watch.Probe, "woken")
    waiting = asyncio.create_task(receive_woken(backend))
    await until(lambda: backend._wakeups.waiting)
    await asyncio.sleep(0.2)  # past the probes that follow the start of a wait (SETTLE_DELAYS)
    await asyncio.to_thread(sender.send, "hello")
    assert await waiting == ["hello"]
    assert woken, "the worker thread was not woken by the inotify descriptor"


@linux_only
@pytest.mark.parametrize("setup", ["inotify"], indirect=True)
async def test_a_commit_to_another_queue_wakes_spuriously_and_the_waiter_waits_on(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, sender = setup
    monkeypatch.setattr(watch, "BACKSTOP_INTERVAL", 3600.0)
    waiting = asyncio.create_task(receive_woken(backend))
    await until(lambda: backend._wakeups.waiting)
    await asyncio.to_thread(sender.send, "elsewhere", "other")
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await asyncio.to_thread(sender.send, "mine")
    assert await waiting == ["mine"]


# == the fallback =================================================================================


@pytest.mark.parametrize("setup", ["poll"], indirect=True)
async def test_polling_wakes_a_waiter_on_another_process_commit(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, sender = setup
    woken = count_calls(monkeypatch, watch.Probe, "woken")
    waiting = asyncio.create_task(receive_woken(backend))
    await until(lambda: backend._wakeups.waiting)
    await asyncio.to_thread(sender.send, "hello")
    assert await waiting == ["hello"]
    assert not woken  # no inotify in this mode


async def test_auto_polls_where_inotify_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inotify, "unavailable_reason", lambda: "not here")
    async with SQLiteBackend.from_url(f"sqlite:///{tmp_path / 'q.db'}") as backend:
        assert backend.wakeup_mode == "poll"
    with pytest.raises(ConfigError, match="wakeup=inotify is not possible here: not here"):
        await SQLiteBackend.from_url(file_url(tmp_path, "inotify")).connect()


async def test_auto_polls_on_a_network_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "filesystem_type", lambda path: "nfs4")
    async with SQLiteBackend.from_url(f"sqlite:///{tmp_path / 'q.db'}") as backend:
        assert backend.wakeup_mode == "poll"
    assert (
        watch.choose_mode(parse_url(f"sqlite:///{tmp_path / 'q.db'}"))[1]
        == "the database is on a nfs4 file system"
    )


@linux_only
def test_the_file_system_type_is_read_from_mountinfo(tmp_path: Path) -> None:
    assert watch.filesystem_type(str(tmp_path / "q.db"))  # the directory's, before the file exists


@linux_only
async def test_a_watch_that_cannot_be_set_up_falls_back_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: str) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(inotify, "FileWatch", refuse)
    url = file_url(tmp_path, "inotify")
    with capture_logs() as logs:
        async with SQLiteBackend.from_url(url) as backend:
            await backend.create_queue(QueueSpec("q"))
            sender = await asyncio.to_thread(Sender, url)
            try:
                waiting = asyncio.create_task(receive_woken(backend))
                await until(lambda: backend._wakeups.waiting)
                await asyncio.to_thread(sender.send, "hello")
                assert await waiting == ["hello"]
            finally:
                await asyncio.to_thread(sender.close)
    (warning,) = [log for log in logs if log["event"] == "sqlite.wakeup_polling"]
    assert "Too many open files" in warning["reason"]


@linux_only
def test_a_watch_reports_writes_and_a_file_moved_away(tmp_path: Path) -> None:
    path = tmp_path / "db-wal"
    path.write_bytes(b"")
    file_watch = inotify.FileWatch(str(path))
    try:
        assert not file_watch.drain()
        with path.open("ab") as handle:
            handle.write(b"frame")
        assert file_watch.drain() and not file_watch.lost
        path.rename(tmp_path / "elsewhere")
        assert file_watch.drain() and file_watch.lost
    finally:
        file_watch.close()


# == races ========================================================================================


@pytest.mark.parametrize("setup", MODES, indirect=True)
async def test_a_commit_between_the_failed_attempt_and_the_wait_still_wakes(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst moment: the attempt has read ``data_version`` and found nothing, the waiter is
    not registered and nothing watches yet; another process commits right then."""
    backend, sender = setup
    monkeypatch.setattr(watch, "BACKSTOP_INTERVAL", 3600.0)
    attempt = receiving.receive
    raced: list[int] = []

    def attempt_then_race(*args: Any) -> receiving.ReceiveOutcome:
        outcome = attempt(*args)
        if not outcome.messages and not raced:
            raced.append(1)
            sender.send("raced")  # on the backend's thread, before the outcome reaches the loop
        return outcome

    monkeypatch.setattr(receiving, "receive", attempt_then_race)
    assert await receive_woken(backend) == ["raced"]
    assert raced


@linux_only
@pytest.mark.parametrize("setup", ["inotify"], indirect=True)
async def test_a_commit_as_the_watch_is_set_up_still_wakes(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, sender = setup
    monkeypatch.setattr(watch, "BACKSTOP_INTERVAL", 3600.0)
    set_up = watch.CommitWatch._file_watch

    def set_up_then_race(self: watch.CommitWatch, worker: Any) -> Any:
        file_watch = set_up(self, worker)
        sender.send("raced")  # watched already, the first probe not run yet
        return file_watch

    monkeypatch.setattr(watch.CommitWatch, "_file_watch", set_up_then_race)
    assert await receive_woken(backend) == ["raced"]


@pytest.mark.parametrize("setup", MODES, indirect=True)
async def test_sends_racing_the_start_of_each_wait_are_never_missed(
    setup: tuple[SQLiteBackend, Sender], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process sends 0-3 ms after each long poll starts: every one is received, none
    by the backstop (an hour)."""
    backend, sender = setup
    monkeypatch.setattr(watch, "BACKSTOP_INTERVAL", 3600.0)
    for index in range(60):
        sender.request(f"m{index}", delay=(index % 7) / 2000)
        got = await asyncio.wait_for(backend.receive("q", wait_seconds=3600), HANG)
        assert [m.body for m in got] == [f"m{index}"]
        await asyncio.to_thread(sender.confirmed)
        assert not await backend.delete("q", [m.receipt_handle for m in got])


# == idle =========================================================================================


@pytest.mark.parametrize(("mode", "most"), [pytest.param("inotify", 40, marks=linux_only), ("poll", 400)])
async def test_an_idle_long_poll_does_not_spin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, most: int
) -> None:
    """2 s of waiting on an empty queue, with one commit to another queue (by another connection)
    early on: probes stay within what the schedule asks for (inotify: the settle probes after the
    write, then one per 100 ms; poll: one per 10 ms) and the event loop hears of at most the
    first reading and that commit."""
    probes = count_calls(monkeypatch, watch.Probe, "__call__")
    changes = count_calls(monkeypatch, Wakeups, "changed")
    url = file_url(tmp_path, mode)
    async with SQLiteBackend.from_url(url) as backend, SQLiteBackend.from_url(url) as other:
        await backend.create_queue(QueueSpec("q"))
        await backend.create_queue(QueueSpec("other"))
        waiting = asyncio.create_task(backend.receive("q", wait_seconds=2))
        await until(lambda: backend._wakeups.waiting)
        await other.send("other", [SendEntry("elsewhere")])
        assert await waiting == []
    assert 0 < len(probes) <= most
    assert len(changes) <= 2


# == pieces =======================================================================================


async def test_an_attempt_whose_waiter_left_gives_its_messages_back(tmp_path: Path) -> None:
    async with SQLiteBackend.from_url(f"sqlite:///{tmp_path / 'q.db'}?wakeup=poll") as backend:
        await backend.create_queue(QueueSpec("q"))
        await backend.send("q", [SendEntry("taken for nobody")])
        outcome = await backend._call(receiving.receive, "q", 1, None, True)
        assert len(outcome.messages) == 1
        backend._orphaned("q", Prefetched(time.monotonic(), outcome))
        await backend.give_backs.wait()
        (again,) = await backend.receive("q", wait_seconds=0)
        assert again.body == "taken for nobody"
        assert again.attributes["ApproximateReceiveCount"] == "2"


@pytest.mark.parametrize("mode", MODES)
async def test_closing_while_the_probe_takes_messages_for_a_cancelled_waiter_gives_them_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A worker shutting down: its long poll is cancelled while the probe is taking a message
    for it, and the backend closes at once. The message must not stay hidden until its
    visibility timeout."""
    url = file_url(tmp_path, mode)
    inside, release = threading.Event(), threading.Event()
    attempt = receiving.receive

    def slow_attempt(*args: Any) -> receiving.ReceiveOutcome:
        if len(args) > 5 and args[5] is not None:  # the probe's attempt (it passes its reading)
            inside.set()
            release.wait(10)
        return attempt(*args)

    monkeypatch.setattr(receiving, "receive", slow_attempt)
    backend = SQLiteBackend.from_url(url)
    await backend.connect()
    async with SQLiteBackend.from_url(url) as other:
        await other.create_queue(QueueSpec("q"))
        waiting = asyncio.create_task(backend.receive("q", wait_seconds=3600))
        await until(lambda: backend._wakeups.waiting)
        await other.send("q", [SendEntry("kept")])
        await asyncio.to_thread(inside.wait, 10)  # the probe is taking it for the waiter...
        waiting.cancel()  # ...which goes away
        closing = asyncio.create_task(backend.close())
        await asyncio.sleep(0.05)
        release.set()
        await closing
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert [m.body for m in await other.receive("q", wait_seconds=0)] == ["kept"]

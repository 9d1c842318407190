"""Shared pieces of the fault tests: recording handlers, worker processes, a sender, fixtures.

The worker under test runs as ``python -m qworker run`` (a real process that gets real signals);
its handlers are the two recorders below, which the worker imports as
``tests.reliability.conftest:async_recorder`` / ``:sync_recorder``. Each invocation writes a
``start`` line to the ledger when it begins and an ``end`` line (``ok``, ``error`` or
``cancelled``) when it returns, raises or is cancelled, so an invocation killed by ``kill -9``
shows as a start without an end. The ledger is a JSON-lines file outside the system under test
(one ``write`` per line on an ``O_APPEND`` file: lines of concurrent processes never interleave,
and what was written survives the writer's SIGKILL).

Bodies are JSON objects: ``k`` is the sender's unique key, ``g``/``s`` the group and sequence
number for FIFO tests, and these steer the handler, each a number or a map from receive count to
number (``{"sleep": {"1": 3}}`` sleeps 3 s on the first delivery only; ``"*"`` is the default):
``sleep`` (``await asyncio.sleep``; ``time.sleep`` in the sync recorder), ``block``
(``time.sleep`` *inside the async handler*: blocks the event loop), ``spin`` (a busy loop inside
the async handler: blocks the loop and holds the GIL), ``fail`` (raise).

The sender (:func:`send_keys`) records each message it tries to send with what the send call said
(:class:`tests.reliability.checker.Sent`), in memory and as JSON lines, so the checker can tell
lost from never-sent. ``QWORKER_SOAK=1`` lengthens the loops for manual runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend, SendEntry
from qworker.registry import open_backend
from tests.reliability.checker import Invocation, Kill, Sent, invocations_from_ledger
from tests.runtime.conftest import Ledger

REPO = Path(__file__).resolve().parent.parent.parent
ASYNC_HANDLER = "tests.reliability.conftest:async_recorder"
SYNC_HANDLER = "tests.reliability.conftest:sync_recorder"
#: QWORKER_SOAK=1: the long version of every loop (manual runs; CI runs the quick one)
SOAK = os.environ.get("QWORKER_SOAK", "") not in ("", "0")
#: set only in a worker's environment: importing the handler module takes this long (a heavy
#: import, like a framework or a model), to see whether it counts against the function timeout
_IMPORT_DELAY = float(os.environ.get("QW_TEST_IMPORT_DELAY", "0") or 0)
if _IMPORT_DELAY:
    time.sleep(_IMPORT_DELAY)


# -- the handlers (run inside the worker under test) -----------------------------------------------


def _write(path: str, line: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def _line(phase: str, event: dict[str, Any], context: Any, **extra: Any) -> dict[str, Any]:
    records = event["Records"]
    return {
        "phase": phase,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "request_id": context.aws_request_id,
        "ids": [r["messageId"] for r in records],
        "bodies": [r["body"] for r in records],
        "counts": [int(r["attributes"]["ApproximateReceiveCount"]) for r in records],
        "groups": [r["attributes"].get("MessageGroupId") for r in records],
        "time": time.time(),
        **extra,
    }


def _steer(event: dict[str, Any], name: str) -> float:
    """The largest value of ``name`` over the batch's bodies, for each record's receive count."""
    found = 0.0
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
        except ValueError:
            continue
        value = body.get(name) if isinstance(body, dict) else None
        if isinstance(value, dict):
            count = record["attributes"]["ApproximateReceiveCount"]
            value = value.get(str(count), value.get("*", 0))
        if value:
            found = max(found, float(value))
    return found


async def async_recorder(event: dict[str, Any], context: Any) -> None:
    """An ``async def`` handler that records its start and end (see the module docstring)."""
    path = os.environ["QW_TEST_LEDGER"]
    _write(path, _line("start", event, context))
    outcome = "error"
    try:
        block = _steer(event, "block")
        if block:
            time.sleep(block)  # on purpose: a sync call inside an async handler (T12)
        spin = _steer(event, "spin")
        deadline = time.monotonic() + spin
        while time.monotonic() < deadline:  # CPU work on the event loop, holding the GIL
            pass
        sleep = _steer(event, "sleep")
        if sleep:
            await asyncio.sleep(sleep)
        if _steer(event, "fail"):
            raise RuntimeError("a record asked to fail")
        outcome = "ok"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        _write(path, _line("end", event, context, outcome=outcome))


def sync_recorder(event: dict[str, Any], context: Any) -> None:
    """A ``def`` handler (thread or process isolation) that records its start and end."""
    path = os.environ["QW_TEST_LEDGER"]  # read now: a timed-out thread may finish after the test
    _write(path, _line("start", event, context))
    outcome = "error"
    try:
        sleep = max(_steer(event, "sleep"), _steer(event, "block"))
        if sleep:
            time.sleep(sleep)
        if _steer(event, "fail"):
            raise RuntimeError("a record asked to fail")
        outcome = "ok"
    finally:
        _write(path, _line("end", event, context, outcome=outcome))


# -- the ledger ------------------------------------------------------------------------------------


class History(Ledger):
    """The ledger file, read back as the checker's invocations."""

    def invocations(self) -> list[Invocation]:
        return invocations_from_ledger(self.lines())

    def started_keys(self) -> set[str]:
        return {r.key for inv in self.invocations() for r in inv.records}

    def completed_keys(self) -> set[str]:
        return {r.key for inv in self.invocations() if inv.completed for r in inv.records}


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> History:
    """The ledger of this test; worker processes started after this fixture write to it."""
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("QW_TEST_LEDGER", str(path))
    return History(path)


# -- worker processes ------------------------------------------------------------------------------


class WorkerProcess:
    """``python -m qworker run HANDLER --queue Q --backend URL ARGS`` with its log in a file.

    The log goes to a file, not a pipe: a worker that logs a line per batch for minutes would
    fill a pipe nobody reads and stall on it.
    """

    def __init__(
        self,
        handler: str,
        queue: str,
        backend_url: str,
        args: Sequence[str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        command = [
            sys.executable,
            "-m",
            "qworker",
            "run",
            handler,
            "--queue",
            queue,
            "--backend",
            backend_url,
        ]
        command += [*args, "--app-dir", str(REPO), "--log-format", "json"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=str(log_dir), env=full_env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.pid = self.proc.pid
        self.started = time.time()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines."""
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def event_names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events()]

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the worker logged "worker started" (it has connected and checked its queue)."""
        deadline = time.monotonic() + timeout
        while "worker started" not in self.log():
            if not self.alive():
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.02)

    def kill9(self) -> Kill:
        """SIGKILL, reaped; the kill's time is taken after the process is gone."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)
        return Kill(self.pid, time.time())

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker did not exit within {timeout}s:\n{self.log()[-3000:]}") from None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (graceful drain), then wait for the exit code."""
        self.signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def cleanup(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)


class Workers:
    """Starts worker processes for a test and kills any still running at its end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(
        self,
        queue: str,
        backend_url: str,
        *args: str,
        handler: str = ASYNC_HANDLER,
        env: Mapping[str, str] | None = None,
    ) -> WorkerProcess:
        process = WorkerProcess(handler, queue, backend_url, args, self.log_dir, env)
        self.started.append(process)
        return process

    def cleanup(self) -> None:
        for process in self.started:
            process.cleanup()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.cleanup()


# the backends (redis_server, backend_url, backend) are in tests/conftest.py


# -- the sender ------------------------------------------------------------------------------------


class SendRecord:
    """What the sender tried and what each send call said (in memory, and as JSON lines)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.items: list[Sent] = []

    def add(self, items: Sequence[Sent]) -> None:
        self.items.extend(items)
        if self.path is not None and items:
            _write(str(self.path), {"batch": [s.to_json() for s in items]})

    @classmethod
    def load(cls, path: Path) -> SendRecord:
        record = cls()
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    record.items += [Sent.from_json(s) for s in json.loads(line)["batch"]]
        return record

    def acked(self) -> set[str]:
        return {s.key for s in self.items if s.status == "ok"}


def body(key: str, group: str | None = None, seq: int | None = None, **steer: Any) -> str:
    data: dict[str, Any] = {"k": key, **steer}
    if group is not None:
        data |= {"g": group, "s": seq}
    return json.dumps(data)


async def send_keys(
    backend: Backend,
    queue: str,
    keys: Sequence[str],
    record: SendRecord,
    *,
    groups: Sequence[str | None] | None = None,
    seqs: Sequence[int | None] | None = None,
    steer: Mapping[str, Any] | None = None,
    batch: int = 10,
) -> None:
    """Send ``keys`` in batches and record each outcome: ``ok`` for an entry the backend accepted,
    ``failed`` for one it refused, ``unknown`` for every entry of a call that raised (it may have
    run). FIFO messages take their key as deduplication id, so a retried send is not doubled."""
    fifo = queue.endswith(".fifo")
    groups = groups or [None] * len(keys)
    seqs = seqs or [None] * len(keys)
    for start in range(0, len(keys), batch):
        chunk = range(start, min(start + batch, len(keys)))
        entries = [
            SendEntry(
                body(keys[i], groups[i], seqs[i], **(steer or {})),
                message_group_id=groups[i] if fifo else None,
                message_deduplication_id=keys[i] if fifo else None,
            )
            for i in chunk
        ]
        now = time.time()
        try:
            result = await backend.send(queue, entries)
        except Exception:
            record.add([Sent(keys[i], "unknown", groups[i], seqs[i], time=now) for i in chunk])
            continue
        ok = {int(r.id): r.message_id for r in result.successful}
        record.add(
            [
                Sent(keys[i], "ok" if n in ok else "failed", groups[i], seqs[i], ok.get(n), now)
                for n, i in enumerate(chunk)
            ]
        )


async def _sender_main(url: str, queue: str, prefix: str, count: int, rate: float, path: str) -> None:
    record = SendRecord(Path(path))
    async with open_backend(url) as backend:
        started = time.monotonic()
        for start in range(0, count, 10):
            await asyncio.sleep(max(0.0, started + start / rate - time.monotonic()))
            keys = [f"{prefix}-{n}" for n in range(start, min(start + 10, count))]
            await send_keys(backend, queue, keys, record)


def sender_main() -> None:
    """``python -c 'from tests.reliability.conftest import sender_main; sender_main()' URL QUEUE
    PREFIX COUNT RATE RECORD``: a sender process that records every send's outcome."""
    url, queue, prefix, count, rate, path = sys.argv[1:7]
    asyncio.run(_sender_main(url, queue, prefix, int(count), float(rate), path))


def start_sender(
    url: str, queue: str, prefix: str, count: int, rate: float, record: Path, log_dir: Path
) -> subprocess.Popen[bytes]:
    code = "from tests.reliability.conftest import sender_main; sender_main()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with (log_dir / "sender.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code, url, queue, prefix, str(count), str(rate), str(record)],
            cwd=str(log_dir),
            env=env,
            stdout=log,
            stderr=log,
        )


async def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``predicate()`` (sync, cheap) without blocking the loop; returns the time it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.time()

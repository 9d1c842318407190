"""Fixtures for end-to-end runtime tests: a queue backend, a ledger, workers in and out of process.

Runtime tests run the real worker against a real backend. In-process runs (fast) use
:func:`run_worker_until_empty`; life-cycle tests start ``python -m qworker run`` as a subprocess
and send it real signals. Handlers live in ``tests/runtime/apps`` and write every invocation to a
ledger file outside the system under test (RELIABILITY.md §2.0).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy, SendEntry
from qworker.runtime.config import MappingConfig
from qworker.runtime.metrics import RuntimeMetrics
from qworker.runtime.worker import Worker, WorkerOptions

APP_DIR = Path(__file__).parent
REPO = APP_DIR.parent.parent


@dataclass
class Ledger:
    """The invocations handlers recorded, read back from the ledger file."""

    path: Path

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def bodies(self) -> list[str]:
        return [body for line in self.lines() for body in line["bodies"]]

    def ids(self) -> list[str]:
        return [i for line in self.lines() for i in line["ids"]]

    async def until(self, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait (without blocking the event loop) until ``predicate(lines)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"ledger condition not met in {timeout}s; ledger has {len(lines)} lines")
            await asyncio.sleep(0.02)

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Blocking wait, for tests that drive a worker process."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"ledger condition not met in {timeout}s; ledger has {len(lines)} lines")
            time.sleep(0.05)


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("QW_TEST_LEDGER", str(path))
    return Ledger(path)


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The worker sets Lambda's environment variables; put the test process's back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


async def make_queue(
    backend: Backend, name: str, *, dlq: str | None = None, max_receive_count: int = 3, **attrs: Any
) -> str:
    if dlq is not None:
        await backend.create_queue(QueueSpec(dlq))
        attrs["redrive_policy"] = RedrivePolicy(dlq, max_receive_count)
    await backend.create_queue(QueueSpec(name, **attrs))
    return name


async def send_json(
    backend: Backend, queue: str, bodies: list[dict[str, Any]], *, group: str | None = None
) -> list[str]:
    fifo = queue.endswith(".fifo")
    ids: list[str] = []
    for start in range(0, len(bodies), 500):
        entries = [
            SendEntry(
                json.dumps(body),
                message_group_id=(body.get("group") or group or "g") if fifo else None,
                message_deduplication_id=f"d{start + i}-{time.time_ns()}" if fifo else None,
            )
            for i, body in enumerate(bodies[start : start + 500])
        ]
        result = await backend.send(queue, entries)
        assert not result.failed, result.failed
        ids += [r.message_id for r in result.successful]
    return ids


async def run_worker_until_empty(
    backend_url: str, *configs: MappingConfig, metrics: RuntimeMetrics | None = None, **options: Any
) -> int:
    """Run a worker in this process until its queues are empty; returns its exit code."""
    opts = WorkerOptions(backend_url=backend_url, until_empty=True, app_dir=str(APP_DIR), **options)
    return await Worker(list(configs), opts, metrics=metrics).serve()


def mapping(handler: str, queue: str, **kwargs: Any) -> MappingConfig:
    return MappingConfig(handler=f"apps.ledger:{handler}", queue=queue, **kwargs)


class WorkerProcess:
    """``python -m qworker run ...`` as a child process."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qworker",
                "run",
                *args,
                "--app-dir",
                str(APP_DIR),
                "--log-format",
                "json",
            ],
            cwd=str(APP_DIR),
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"worker did not exit within {timeout}s; stderr:\n{err[-4000:]}") from None
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def worker_processes() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts; any still running at the end are killed."""
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.kill()


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines of a worker's stderr."""
    events = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events

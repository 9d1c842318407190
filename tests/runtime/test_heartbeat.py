"""The visibility heartbeat survives what it does not expect (issue 13 defect 6)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from qworker.backend import QueueSpec, SendEntry
from qworker.registry import open_backend
from qworker.runtime.heartbeat import REOPEN_AFTER, LoopHeartbeat, ThreadHeartbeat
from qworker_sqlite import SQLiteBackend


@pytest.mark.parametrize("kind", ["thread", "loop"])
async def test_heartbeat_logs_and_recovers_from_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A beat that fails on an error that is not a BackendError (a bug, a driver's surprise) used
    to end the heartbeat thread silently, and every long handler's messages reappeared while it
    still ran. Now each such error is logged with its traceback, the beat goes on, and after
    REOPEN_AFTER errors in a row the thread heartbeat opens a fresh connection: the lease holds."""
    url = f"sqlite:///{tmp_path}/hb.db"
    real = SQLiteBackend.change_visibility
    calls = {"n": 0}

    async def flaky(self: SQLiteBackend, queue: str, changes: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= REOPEN_AFTER + 1:
            raise RuntimeError("surprise from the driver")
        return await real(self, queue, changes)

    monkeypatch.setattr(SQLiteBackend, "change_visibility", flaky)
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("q", visibility_timeout=2))
        await backend.send("q", [SendEntry("long job")])
        (message,) = await backend.receive("q", max_messages=1)
        beat = (
            ThreadHeartbeat(backend, "q", 0.1, 2) if kind == "thread" else LoopHeartbeat(backend, "q", 0.1, 2)
        )
        with capture_logs() as logs:
            await beat.start()
            beat.add([message.receipt_handle], time.monotonic() + 30)
            await asyncio.sleep(3.5)  # well past the 2 s visibility timeout
            assert await backend.receive("q", max_messages=1) == [], "the lease ran out"
            beat.stop()
    failed = [e for e in logs if e["event"].startswith("heartbeat failed on an unexpected error")]
    assert len(failed) >= REOPEN_AFTER + 1 and failed[0]["log_level"] == "error"
    assert calls["n"] > REOPEN_AFTER + 1, "the heartbeat stopped beating"
    if kind == "thread":
        assert any(e["event"] == "heartbeat reopened its backend connection" for e in logs)

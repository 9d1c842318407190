"""T14 on SQLite: a step of the wall clock of an hour, forward or back, on one host.

The processes are real: each step is a process whose wall clock libfaketime moves by an hour
(``FAKETIME=+1h`` / ``-1h``) while leaving the boot clock alone (``FAKETIME_DONT_FAKE_MONOTONIC``),
exactly what a host sees after an NTP step or ``date -s``. Pass: a process whose clock jumped an
hour ahead does not get a message another process holds (no early redelivery), and a process
whose clock jumped an hour back gets a message as soon as its lease ended (nothing stranded).
Before the host clock (:mod:`qworker_sqlite.hostclock`) the first delivered the message
at once and the second saw it only an hour later.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qworker.backend import QueueSpec, SendEntry
from qworker.registry import open_backend
from tests.reliability import figures

REPO = Path(__file__).resolve().parent.parent
LIBFAKETIME = next(
    (p for p in Path("/usr/lib").glob("*/faketime/libfaketime.so.1")),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)

pytestmark = pytest.mark.skipif(
    not LIBFAKETIME.exists(),
    reason="libfaketime is missing: apt-get install faketime (.ci/run installs it)",
)

_RECEIVE = """
import asyncio, json, sys, time
from qworker.registry import open_backend

async def main():
    async with open_backend(sys.argv[1]) as backend:
        got = await backend.receive(sys.argv[2], max_messages=10, wait_seconds=float(sys.argv[3]))
        print(json.dumps({"wall": time.time(), "bodies": [m.body for m in got]}))

asyncio.run(main())
"""


def _receive_in_stepped_process(url: str, queue: str, step: str, wait: float) -> dict[str, object]:
    env = {
        **os.environ,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": step,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", _RECEIVE, url, queue, str(wait)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def test_a_wall_clock_step_of_an_hour_moves_no_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/clock.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("held", visibility_timeout=30))
        await backend.create_queue(QueueSpec("ending", visibility_timeout=2))
        await backend.send("held", [SendEntry("held by another worker")])
        await backend.send("ending", [SendEntry("lease ends in 2 s")])
        assert len(await backend.receive("held", max_messages=1)) == 1
        received = time.monotonic()
        assert len(await backend.receive("ending", max_messages=1)) == 1

        ahead = await asyncio.to_thread(_receive_in_stepped_process, url, "held", "+1h", 0)
        assert ahead["wall"] > time.time() + 3000, "libfaketime did not move the wall clock"
        assert ahead["bodies"] == [], "a worker whose clock jumped an hour ahead took a held message"

        behind = await asyncio.to_thread(_receive_in_stepped_process, url, "ending", "-1h", 10)
        waited = time.monotonic() - received
        assert behind["wall"] < time.time() - 3000, "libfaketime did not move the wall clock"
        assert behind["bodies"] == ["lease ends in 2 s"], (
            "a worker whose clock jumped back an hour waited for it"
        )
        assert waited < 10, f"the lease's end was seen {waited:.1f} s after the receive, not about 2 s"
    figures.record(
        "T14 sqlite",
        {
            "step_ahead_early_redeliveries": len(ahead["bodies"]),  # type: ignore[arg-type]
            "step_back_seconds_to_redelivery": round(waited, 2),
            "visibility_timeout_s": 2,
        },
    )

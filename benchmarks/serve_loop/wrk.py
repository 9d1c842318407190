"""The loop as a wrk Lua script (:file:`loop.lua`): a load generator that costs the machine
almost nothing, so the server's own rate shows.

wrk runs ``loops`` threads with one keep-alive connection each (``-t N -c N``), each thread one
sequential send → receive → delete state machine. It is started ``warmup`` seconds before the
window and runs on past its end (wrk's duration is whole seconds); the script counts the
messages whose ``DeleteMessageBatch`` answer arrived inside the window (CLOCK_MONOTONIC, the
clock of ``time.monotonic()``), the same rule as the Python loops. wrk's own CPU over the
window is read from ``/proc`` by the caller (:attr:`WrkLoad.pid`).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.serve_loop.loops import BODY

SCRIPT = Path(__file__).with_name("loop.lua")
_SUMMARY = re.compile(r"qworker-loop deleted=(\d+) errors=(\d+) first_error=(.*)")


def available() -> bool:
    return shutil.which("wrk") is not None


class WrkLoad:
    """One wrk process running the loop against ``endpoint`` over the window."""

    def __init__(self, endpoint: str, queue_url: str, loops: int, start_at: float, end_at: float) -> None:
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
        send = json.dumps({"QueueUrl": queue_url, "Entries": entries})
        receive = json.dumps({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0})
        delete_prefix = json.dumps({"QueueUrl": queue_url, "Entries": []})[:-2]  # up to the '['
        duration = math.ceil(end_at - time.monotonic()) + 1
        command = [
            "wrk", f"-t{loops}", f"-c{loops}", f"-d{duration}s", "--timeout", "30s", "-s", str(SCRIPT),
            endpoint, "--", send, receive, delete_prefix, repr(start_at), repr(end_at),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pid = self.process.pid
        self.timeout = duration + 60

    def result(self) -> tuple[int, None]:
        """(messages deleted inside the window, None: wrk's CPU is read from /proc)."""
        out, err = self.process.communicate(timeout=self.timeout)
        found = _SUMMARY.search(out)
        if self.process.returncode != 0 or found is None:
            raise RuntimeError(f"wrk failed ({self.process.returncode}): {out[-2000:]} {err[-2000:]}")
        deleted, errors, first_error = int(found[1]), int(found[2]), found[3]
        if errors:
            raise RuntimeError(f"wrk: {errors} failed calls in the loop, the first: {first_error}")
        return deleted, None

"""CPU time of a process, or of its main thread, from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path


def _ticks(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    return _ticks(Path(f"/proc/{pid}/stat").read_text())


def main_thread_seconds(pid: int) -> float:
    """User + system CPU seconds of a process's main thread (the event loop's, here)."""
    return _ticks(Path(f"/proc/{pid}/task/{pid}/stat").read_text())

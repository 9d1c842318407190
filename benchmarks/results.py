"""Write one benchmark's section of ``benchmarks/RESULTS.md`` without touching the others.

Each benchmark owns a section delimited by ``<!-- name:start -->`` / ``<!-- name:end -->``
markers; running it again replaces only that section, so results of different benchmarks (and
different runs) can sit side by side in one file.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\n"
    "Each section is written by the benchmark named in it, with the command that produced it.\n"
)


def machine_facts() -> str:
    """One line describing the machine, for the record next to each result."""
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    try:
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.split()[2]
    except (OSError, IndexError, subprocess.SubprocessError):
        redis_version = "n/a"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, redis-server {redis_version}"
    )


def write_section(name: str, body: str, command: str) -> Path:
    """Replace (or append) section ``name`` of RESULTS.md with ``body``.

    ``command`` is the exact command that produced the figures; it is recorded with the date
    and the machine facts.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- {name}:start -->\n{body.rstrip()}\n\n"
        f"_Command:_ `{command}`  \n_Run:_ {stamp} on {machine_facts()}\n<!-- {name}:end -->\n"
    )
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else _HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS_FILE.write_text(text)
    return RESULTS_FILE

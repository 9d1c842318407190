"""Figures the reliability battery measures, collected for the generated report.

A test calls :func:`record` with a scenario name (``"T5"``, ``"T7 blackhole"``, ``"T6"``...) and a
flat dict of what it measured (counts, seconds, ...). The figures are printed (``pytest -s``
shows them) and, when the environment variable ``QWORKER_FIGURES`` names a file, appended to it
as one JSON line each. ``make reliability`` sets that variable, runs the battery and then
``python -m tests.reliability.report`` turns the file into the tables of ``RELIABILITY.md``: no
figure in that document is typed by hand.

Appending one ``write`` per line to an ``O_APPEND`` file keeps the lines of concurrent pytest-xdist
workers whole.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: the environment variable naming the JSON-lines file that collects figures
ENV = "QWORKER_FIGURES"


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(scenario: str, values: Mapping[str, Any], *, test: str | None = None) -> None:
    """Print a scenario's figures and append them to ``$QWORKER_FIGURES`` when it is set."""
    line = {
        "scenario": scenario,
        "values": _plain(dict(values)),
        "test": test or os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
        "time": round(time.time(), 3),
    }
    text = json.dumps(line)
    print(f"\nFIGURES {scenario} {json.dumps(line['values'], sort_keys=True)}")
    path = os.environ.get(ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def read(path: str | Path) -> Iterator[dict[str, Any]]:
    """The figures recorded in ``path``, in the order they were written."""
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if raw.strip():
            yield json.loads(raw)

"""The pictures of a benchmark run: PNG charts drawn from the run's JSON record.

``python -m benchmarks`` writes ``benchmarks/charts/run.json`` (every figure it measured) and
then calls :func:`draw`, so the charts always show the run that RESULTS.md's tables show.
``python -m benchmarks.charts`` draws them again from the JSON (to restyle without re-measuring).

matplotlib is an optional benchmark dependency (``pip install -e '.[bench]'``; ``python -m
benchmarks setup`` installs it): without it the run still writes its tables and says that the
charts were skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CHARTS_DIR = Path(__file__).with_name("charts")
RUN_JSON = CHARTS_DIR / "run.json"

#: chart file -> what it shows (RESULTS.md and the README link them with these captions)
CAPTIONS = {
    "throughput.png": "Drain throughput per system and batch size (messages/s, log scale)",
    "latency.png": "Idle send-to-handler latency, cumulative distribution per system",
    "backlog.png": "Drain rate over time with 1,000 / 100,000 / 1,000,000 messages waiting",
    "anatomy.png": "Redis time per message (receive + delete) by anatomy step",
}

_QWORKER_REDIS = "#c0392b"
_QWORKER_SQLITE = "#2980b9"
_PEER = "#7f8c8d"


def matplotlib_missing() -> str | None:
    """None when charts can be drawn, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    return None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    return plt


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _colour(label: str) -> str:
    if label.startswith("qworker redis"):
        return _QWORKER_REDIS
    if label.startswith("qworker sqlite"):
        return _QWORKER_SQLITE
    return _PEER


def throughput(run: dict[str, Any], path: Path) -> bool:
    """Horizontal bars, one per system and batch size, median msgs/s on a log axis."""
    drains = {label: rates for label, rates in run.get("drains", {}).items() if rates}
    if not drains:
        return False
    plt = _pyplot()
    rows = sorted(((label, _median(rates)) for label, rates in drains.items()), key=lambda item: item[1])
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.6))
    ax.barh([label for label, _ in rows], [rate for _, rate in rows], color=[_colour(lb) for lb, _ in rows])
    for index, (_, rate) in enumerate(rows):
        ax.text(rate * 1.05, index, f"{rate:,.0f}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("messages/s (median of the runs; log scale)")
    ax.set_title(f"Drain {run.get('n', 0):,} messages, one worker process, same Redis, same run")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_xlim(right=max(rate for _, rate in rows) * 4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def latency(run: dict[str, Any], path: Path) -> bool:
    """One CDF line per system, milliseconds on a log axis."""
    series = {label: sorted(ms) for label, ms in run.get("latencies_ms", {}).items() if ms}
    if not series:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for label, ms in sorted(series.items(), key=lambda item: _median(item[1])):
        fractions = [(index + 1) / len(ms) for index in range(len(ms))]
        style = "-" if label.startswith("qworker") else "--"
        ax.plot(ms, fractions, style, label=f"{label} (p50 {_median(ms):.2f} ms)", linewidth=1.4)
    ax.set_xscale("log")
    ax.set_xlabel("send to handler (ms, log scale)")
    ax.set_ylabel("fraction of messages")
    ax.set_title("Idle latency: one message at a time, random gaps")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _rates_over_time(samples: list[list[float]]) -> tuple[list[float], list[float]]:
    """(seconds since the drain began, msgs/s over each step) from sorted (t, left) samples.

    The drain begins at the last sample before the count first falls (start-up is left out);
    a step is a 25th of the drain, at least 20 ms, so a 1,000-message drain shows one step
    (its mean rate) and a 1,000,000-message one shows how the rate moves."""
    start = next((i for i in range(1, len(samples)) if samples[i][1] < samples[i - 1][1]), None)
    if start is None:
        return [], []
    points = samples[start - 1 :]
    end = next((i for i in range(len(points) - 1, 0, -1) if points[i][1] < points[i - 1][1]), 0)
    points = points[: end + 1]
    origin = points[0][0]
    step = max((points[-1][0] - origin) / 25, 0.02)
    times, rates = [], []
    anchor = points[0]
    for index, (t, left) in enumerate(points[1:], 1):
        if t - anchor[0] >= step or index == len(points) - 1:
            times += [anchor[0] - origin, t - origin]
            rates += [(anchor[1] - left) / (t - anchor[0])] * 2
            anchor = (t, left)
    return times, rates


def backlog(run: dict[str, Any], path: Path) -> bool:
    """Drain rate (msgs/s) over time for each backlog size and backend, time on a log axis so
    that a 20 ms drain and a 60 s one share the picture."""
    runs = [entry for entry in run.get("backlog_series", []) if len(entry.get("series", [])) >= 2]
    if not runs:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for entry in runs:
        times, rates = _rates_over_time(entry["series"])
        if not times:
            continue
        label = f"{entry['backend']}, {entry['waiting']:,} waiting"
        ax.plot([max(t, 1e-3) for t in times], rates, label=label, linewidth=1.4)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xscale("log")
    ax.set_xlabel("seconds since the drain began (log scale)")
    ax.set_ylabel("messages/s")
    ax.set_title("Backlog: qworker, batch 10, async handler, drain rate while the rest waits")
    ax.set_ylim(bottom=0)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def anatomy(run: dict[str, Any], path: Path) -> bool:
    """Grouped horizontal bars: Redis µs per message for each step, at batch 10 and 100."""
    steps = run.get("anatomy", {})
    if not steps:
        return False
    plt = _pyplot()
    batches = sorted(steps, key=int)
    labels = list(steps[batches[0]])
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(labels) + 1.6))
    height = 0.8 / len(batches)
    for offset, batch in enumerate(batches):
        values = [steps[batch].get(label, 0.0) for label in labels]
        ys = [index + offset * height for index in range(len(labels))]
        ax.barh(ys, values, height=height, label=f"batch {batch}")
        for y, value in zip(ys, values, strict=True):
            ax.text(value + 0.1, y, f"{value:.2f}", va="center", fontsize=8)
    ax.set_yticks([index + height * (len(batches) - 1) / 2 for index in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel("Redis µs per message (INFO commandstats), receive + delete")
    ax.set_title("Where Redis time goes: from the minimal pair to qworker's scripts")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw(run: dict[str, Any], out: Path = CHARTS_DIR) -> list[str]:
    """Draw every chart the run has data for into ``out``; returns the file names written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, painter in (
        ("throughput.png", throughput),
        ("latency.png", latency),
        ("backlog.png", backlog),
        ("anatomy.png", anatomy),
    ):
        if painter(run, out / name):
            written.append(name)
    return written


def markdown_links(names: list[str], prefix: str = "charts/") -> list[str]:
    """Image lines for the charts written, with their captions."""
    return [f"![{CAPTIONS[name]}]({prefix}{name})" for name in names]


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else RUN_JSON
    missing = matplotlib_missing()
    if missing:
        raise SystemExit(missing)
    print("\n".join(draw(json.loads(source.read_text()), source.parent)))

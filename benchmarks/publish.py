"""What one ``python -m benchmarks`` run publishes beside its RESULTS.md section: the run's JSON
record (``benchmarks/charts/run.json``, from which the charts are drawn) and the README's
"Performance" section, written between ``<!-- performance:start -->`` and
``<!-- performance:end -->`` so that no figure in the README is typed by hand.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness import REPO, Stats, percentile
from benchmarks.results import machine_facts

if TYPE_CHECKING:
    from benchmarks.__main__ import Plan, Results

README = REPO / "README.md"
_MARKERS = ("<!-- performance:start -->", "<!-- performance:end -->")


def record(results: Results, plan: Plan, command: str) -> dict[str, Any]:
    """Every figure of the run as plain JSON (the charts' input)."""
    return {
        "command": command,
        "run": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "n": plan.n,
        "repeat": plan.repeat,
        "drains": {label: [d.rate for d in drains] for label, drains in results.drains.items()},
        "startups": {label: [d.startup for d in drains] for label, drains in results.drains.items()},
        "rows": results.rows,
        "latencies_ms": {label: [age * 1000 for age in ages] for label, ages in results.latencies.items()},
        "backlog_series": results.backlog_series,
        "anatomy": {str(batch): steps for batch, steps in results.anatomy.items()},
        "scaling": {label: [d.rate for d in drains] for label, drains in results.scaling.items()},
        "versions": results.versions,
        "failures": results.failures,
    }


def write_record(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def readme_section(results: Results, plan: Plan, charts: list[str], command: str) -> str:
    """The README's Performance text: the headline ratios, latency, start-up and the charts."""
    from benchmarks.__main__ import RATIO_TARGETS, best_qworker, fastest_peer, peer_titles, startups

    lines = [
        f"`{command}` (after `python -m benchmarks setup`, which builds the peers' virtualenvs) "
        f"drains the same {plan.n:,} messages with qworker and with arq, saq, dramatiq, rq, celery, "
        "taskiq and huey, one worker process each, on one private Redis in one run, and writes "
        "[`benchmarks/RESULTS.md`](benchmarks/RESULTS.md), its charts and this section. Latest run, "
        f"on {machine_facts()} (a shared machine: compare ratios within the run):",
        "",
    ]
    fastest = fastest_peer(results)
    if fastest is not None:
        lines += [
            "| batch size | qworker, best row | msgs/s | × the fastest peer |",
            "| ---: | --- | ---: | ---: |",
        ]
        for batch, _ in RATIO_TARGETS:
            best = best_qworker(results, batch)
            if best:
                lines.append(f"| {batch} | {best[0]} | {best[1]:,.0f} | {best[1] / fastest[1]:.1f}× |")
        lines += ["", f"The fastest peer was {fastest[0]} at {fastest[1]:,.0f} msgs/s.", ""]
    titles = peer_titles()
    ours = {label: ages for label, ages in results.latencies.items() if label.startswith("qworker") and ages}
    theirs = {label: ages for label, ages in results.latencies.items() if label in titles and ages}
    if ours and theirs:
        label, ages = min(ours.items(), key=lambda item: percentile(item[1], 50))
        peer, peer_ages = min(theirs.items(), key=lambda item: percentile(item[1], 50))
        lines += [
            f"Idle send-to-handler latency, one message at a time: p50 {percentile(ages, 50) * 1000:.2f} ms, "
            f"p99 {percentile(ages, 99) * 1000:.2f} ms ({label}); the best peer, {peer}: p50 "
            f"{percentile(peer_ages, 50) * 1000:.2f} ms.",
            "",
        ]
    for backend in ("redis", "sqlite"):
        starts = startups(results, backend)
        if starts:
            median = Stats(starts).median
            lines.append(f"* Start-up on {backend} (process start to first record): {median:.2f} s, median.")
    if any(line.startswith("* ") for line in lines):
        lines.append("")
    lines += [f"![{name}](benchmarks/charts/{name})" for name in charts if name == "throughput.png"]
    lines += [
        "",
        "Every figure, the other charts (latency distributions, backlog drain over time, Redis time "
        "per message by step), scaling, memory and each peer's settings: "
        "[`benchmarks/RESULTS.md`](benchmarks/RESULTS.md).",
    ]
    return "\n".join(lines)


def write_readme(section: str, readme: Path = README) -> bool:
    """Replace the text between the performance markers; False when the README has none."""
    text = readme.read_text()
    start, end = _MARKERS
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: f"{start}\n{section.rstrip()}\n{end}", text))
    return True

"""Start-up of ``qworker run``: process start to the first record, on SQLite and on Redis.

``python -m benchmarks.bench_startup [--runs 15] [--compare REV]``

Each run puts one message on a fresh queue, starts ``python -m qworker run`` on it (a sync
handler, ``--log-format json``) and reads, from the handler (:mod:`benchmarks.apps.startup_app`),
the wall-clock time and the worker's own CPU seconds at the first record. The CPU time is what
the machine's other load disturbs least; the wall time is what a user waits. Then one run per
case under ``python -X importtime`` shows where the imports go (importtime's own overhead
inflates its figures; compare them with each other).

``--compare REV`` also runs the code of git revision ``REV`` (a temporary worktree put first on
``PYTHONPATH``), interleaved run by run with the working tree, so that "before" and "after" come
from one run on one machine. Both trees are byte-compiled first, as pip does at install
(:func:`benchmarks.harness.compile_bytecode`). The result goes to the ``startup`` section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import (
    REPO,
    BenchmarkError,
    PrivateRedis,
    compile_bytecode,
    qworker_sources,
    worker_env,
)
from benchmarks.results import write_section
from benchmarks.startup_floor import Floor
from benchmarks.startup_floor import report as floor_report

SECTION = "startup"
TARGET = 0.2  #: seconds, issue #17
#: top-level imports always shown in the importtime table, whether or not they are the heaviest
NAMED = ("redis", "structlog", "rich", "importlib.metadata", "tomllib", "click")


@dataclass
class Tree:
    """A version of qworker's code: the working tree, or a git revision checked out beside it."""

    label: str
    root: Path

    def pythonpath(self) -> str:
        # the checkout itself holds the qworker package; the backends' packages are under src/
        paths = [self.root, *qworker_sources(self.root)[1:], REPO]
        return os.pathsep.join(str(path) for path in paths)


@dataclass
class Case:
    tree: Tree
    backend: str
    url: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    imports: dict[str, float] = field(default_factory=dict)  #: top-level module -> ms
    import_total: float = 0.0


def _argv(url: str, queue: str, *, importtime: bool = False) -> list[str]:
    return [
        sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "qworker", "run",
        "benchmarks.apps.startup_app:handler",
        "--queue", queue, "--backend", url,
        "--log-level", "warning", "--log-format", "json", "--app-dir", str(REPO),
    ]  # fmt: skip


def _one_message(url: str) -> str:
    """A fresh queue holding one message; its name."""
    from qworker import Client

    queue = f"startup-{uuid.uuid4().hex[:10]}"
    with Client.from_url(url) as client:
        client.create_queue(queue)
        client.send(queue, '{"n": 1}')
    return queue


def _start_once(case: Case, folder: Path, *, importtime: bool = False) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one worker from process start to its first record."""
    queue = _one_message(case.url)
    first = folder / f"first-{uuid.uuid4().hex}"
    env = worker_env({"BENCH_FIRST_FILE": str(first), "PYTHONPATH": case.tree.pythonpath()})
    began = time.time()
    done = subprocess.run(
        _argv(case.url, queue, importtime=importtime), env=env, cwd=REPO, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if not first.exists():
        raise BenchmarkError(f"{case.backend}: the worker ended ({done.returncode}) before a record:\n"
                             f"{done.stderr[-2000:]}")  # fmt: skip
    wall, cpu = (float(part) for part in first.read_text().split())
    return wall - began, cpu, done.stderr


def parse_importtime(stderr: str) -> tuple[float, dict[str, float]]:
    """Total import ms and ms per top-level import from ``-X importtime`` output."""
    top: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith(" ") or name.startswith("  "):  # nested: counted in its parent
            continue
        top[name.strip()] = top.get(name.strip(), 0.0) + int(cumulative) / 1000
    return sum(top.values()), top


def _checkout(rev: str, folder: Path) -> Tree:
    root = folder / "compare"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(root), rev], cwd=REPO, check=True)
    compile_bytecode(root)
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True)
    return Tree(f"{rev} ({sha.stdout.strip()})", root)


def measure(cases: list[Case], runs: int, folder: Path, floors: list[Floor]) -> None:
    for _ in range(runs):
        for case in cases:  # interleaved: the machine's load falls on every case alike
            wall, cpu, _ = _start_once(case, folder)
            case.walls.append(wall)
            case.cpus.append(cpu)
        for floor in floors:
            floor.sample()
    for case in cases:
        _, _, stderr = _start_once(case, folder, importtime=True)
        case.import_total, case.imports = parse_importtime(stderr)


def _heaviest(cases: list[Case], count: int = 8) -> list[str]:
    names: set[str] = set()
    for case in cases:
        names |= set(sorted(case.imports, key=case.imports.__getitem__, reverse=True)[:count])
    names |= {name for case in cases for name in case.imports if name.split(".")[0] in NAMED}
    return sorted(names, key=lambda name: -max(case.imports.get(name, 0.0) for case in cases))


def report(cases: list[Case], runs: int, floors: list[Floor]) -> str:
    lines = [
        "## Start-up: `qworker run`, process start to the first record",
        "",
        f"One message on a fresh queue, `python -m qworker run` (sync handler, `--log-format json`), "
        f"{runs} runs per case interleaved; wall = process start to the first record, CPU = the "
        "worker's user + system seconds then (10 ms ticks). qworker's modules are byte-compiled "
        "first, as pip does at install.",
        "",
        "| code | backend | wall median s (min–max) | CPU median s | target ≤ 0.2 s (wall median) |",
        "| --- | --- | ---: | ---: | :-: |",
    ]
    for case in cases:
        median, low, high = statistics.median(case.walls), min(case.walls), max(case.walls)
        lines.append(
            f"| {case.tree.label} | {case.backend} | {median:.3f} ({low:.3f}–{high:.3f}) "
            f"| {statistics.median(case.cpus):.2f} | {'yes' if median <= TARGET else '**no**'} |"
        )
    lines += ["", "`python -X importtime`, one run per case: ms per top-level import (instrumented, so "
              "inflated; compare the columns with each other).", ""]  # fmt: skip
    lines.append("| import | " + " | ".join(f"{c.tree.label}, {c.backend}" for c in cases) + " |")
    lines.append("| --- |" + " ---: |" * len(cases))
    lines.append("| **all imports** | " + " | ".join(f"**{c.import_total:.0f}**" for c in cases) + " |")
    for name in _heaviest(cases):
        cells = " | ".join(f"{c.imports[name]:.1f}" if name in c.imports else "–" for c in cases)
        lines.append(f"| `{name}` | {cells} |")
    walls = {case.backend: case.walls for case in cases if case.tree.root == REPO}
    lines += ["", *floor_report(floors, walls, TARGET)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per case (default 15)")
    parser.add_argument("--compare", metavar="REV", help="also run git revision REV, interleaved")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    compile_bytecode()
    redis = PrivateRedis().start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trees = [Tree("this tree", REPO)]
        try:
            if args.compare:
                trees.insert(0, _checkout(args.compare, folder))
            cases = [
                Case(tree, backend, url)
                for backend, url in (("sqlite", f"sqlite:///{tmp}/startup.db"), ("redis", redis.url))
                for tree in trees
            ]
            env = worker_env({"PYTHONPATH": trees[-1].pythonpath()})
            floors = [Floor(backend, env).prepare() for backend in ("sqlite", "redis")]
            measure(cases, args.runs, folder, floors)
        finally:
            redis.stop()
            if args.compare:
                subprocess.run(["git", "worktree", "remove", "--force", str(folder / "compare")], cwd=REPO)
    body = report(cases, args.runs, floors)
    print(body)
    if not args.no_write:
        command = "python -m benchmarks.bench_startup " + " ".join(sys.argv[1:])
        write_section(SECTION, body, command.strip())


if __name__ == "__main__":
    main()

"""Where ``qworker run``'s start-up goes: the interpreter, the libraries, qworker's own modules.

Part of :mod:`benchmarks.bench_startup`. Each probe is a fresh interpreter that first imports
every library module a worker imports (the standard library's and the third-party packages',
listed in import order by a worker-like import in a first interpreter, with rich, colorama and greenlet hidden
as :mod:`qworker.logs` hides them), then qworker's own modules, timing each phase, and the time
:mod:`dataclasses` spends building qworker's classes (it compiles each generated method with
``exec``; Python 3.11). The interpreter's own start is ``python -c pass``, timed from outside.
What is left of the start-up (the worker's wall time to its first record, less these) is the
run itself: settings, the event loop, opening the backend, the first receive.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

#: what a worker on ``backend`` imports before its first record (qworker's side)
_WORKER_IMPORTS = "import qworker.cli, qworker.commands.run, qworker.runtime.worker, {module}"
_HIDDEN = ("rich", "colorama", "greenlet")

_LIST = (
    "import sys\nbefore = set(sys.modules)\n" + _WORKER_IMPORTS + "\n"
    "print(' '.join(m for m in sys.modules if m not in before and m.split('.')[0] not in "
    "('qworker', 'qworker_sqlite', 'qworker_redis')))\n"
)  # in the order they were imported

_PROBE = f"""
import sys, time, json, importlib
t0 = time.perf_counter()
for name in {_HIDDEN!r}:
    sys.modules.setdefault(name, None)
for name in sys.argv[1].split():
    try:
        importlib.import_module(name)
    except Exception:  # a module that cannot be imported on its own: its package imports it
        pass
for name in {_HIDDEN!r}:
    if sys.modules.get(name, 0) is None:
        del sys.modules[name]
t1 = time.perf_counter()
import dataclasses
spent, original = [0.0, 0], dataclasses._process_class
def timed(*args, **kwargs):
    began = time.perf_counter()
    try:
        return original(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - began
        spent[1] += 1
dataclasses._process_class = timed
{_WORKER_IMPORTS}
t2 = time.perf_counter()
print(json.dumps({{"libraries": t1 - t0, "qworker": t2 - t1, "dataclasses": spent[0], "classes": spent[1]}}))
"""

BACKEND_MODULES = {"sqlite": "qworker_sqlite.backend", "redis": "qworker_redis.backend"}


@dataclass
class Floor:
    """One backend's probes (seconds; ``classes``: how many qworker dataclasses were built).
    :meth:`prepare` once, then :meth:`sample` once per round, between the worker runs, so that
    the machine's load falls on the probes and the runs alike."""

    backend: str
    env: dict[str, str]  #: the tree's PYTHONPATH
    interpreter: list[float] = field(default_factory=list)
    libraries: list[float] = field(default_factory=list)
    qworker: list[float] = field(default_factory=list)
    dataclasses: list[float] = field(default_factory=list)
    classes: int = 0
    _code: str = ""
    _modules: str = ""

    def prepare(self) -> Floor:
        module = BACKEND_MODULES[self.backend]
        self._modules = _run(_LIST.replace("{module}", module), [], self.env)
        self._code = _PROBE.replace("{module}", module)
        return self

    def sample(self) -> None:
        began = time.perf_counter()
        _run("pass", [], self.env)
        self.interpreter.append(time.perf_counter() - began)
        figures = json.loads(_run(self._code, [self._modules], self.env))
        self.libraries.append(figures["libraries"])
        self.qworker.append(figures["qworker"])
        self.dataclasses.append(figures["dataclasses"])
        self.classes = figures["classes"]


def _run(code: str, args: list[str], env: dict[str, str]) -> str:
    argv = [sys.executable, "-c", code, *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"start-up probe failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def report(floors: list[Floor], walls: dict[str, list[float]], target: float) -> list[str]:
    """Markdown lines: where this tree's start-up goes, per backend, in ms (medians)."""
    ms = lambda values: f"{1000 * statistics.median(values):.0f}"  # noqa: E731
    lines = [
        "Where this tree's start-up goes (ms, medians of fresh interpreters, one per round between "
        "the runs; the run's rest = the wall median above less the others):",
        "",
        "| backend | interpreter (`python -c pass`) | libraries qworker imports | qworker's modules "
        "| of which building dataclasses | the run's rest | wall median | libraries + interpreter, "
        f"share of the {1000 * target:.0f} ms target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for floor in floors:
        wall = statistics.median(walls[floor.backend])
        parts = [statistics.median(values) for values in (floor.interpreter, floor.libraries, floor.qworker)]
        rest = wall - sum(parts)
        share = (parts[0] + parts[1]) / target
        lines.append(
            f"| {floor.backend} | {ms(floor.interpreter)} | {ms(floor.libraries)} | {ms(floor.qworker)} "
            f"| {ms(floor.dataclasses)} ({floor.classes} classes) | {1000 * rest:.0f} | {1000 * wall:.0f} "
            f"| {100 * share:.0f}% |"
        )
    return lines

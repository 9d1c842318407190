"""What the benchmark needs to know about a peer (standard library only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Peer:
    """One peer library, its worker command and its settings, with the docs that justify them."""

    name: str  #: module name in benchmarks.peers, and the --only name
    title: str  #: the row label
    dist: str  #: distribution whose version is reported
    venv: str  #: the virtual environment it runs in, relative to the repository
    delivery: str  #: what happens to a message whose worker dies mid-task
    settings: str  #: the settings used, in words
    docs: tuple[str, ...]  #: the documentation behind the settings
    #: argv of the worker, given the venv's bin directory
    worker: Callable[[Path], list[str]]
    #: extra environment of worker and client (the tuned knobs, BENCH_*)
    env: dict[str, str] = field(default_factory=dict)
    #: the knob the --tune sweep varies, and its values
    sweep: tuple[str, tuple[str, ...]] | None = None
    #: further distributions whose versions are reported (a broker plug-in)
    also: tuple[str, ...] = ()
    #: how long a worker may take to drain N messages before the run is declared failed, per message
    seconds_per_message: float = 0.01

    def command(self, bin_dir: Path, redis_url: str, override: str | None = None) -> list[str]:
        """The worker's argv; ``override`` replaces the swept command-line value (``--threads``...)."""
        argv = [arg.replace("{redis_url}", redis_url) for arg in self.worker(bin_dir)]
        if override is not None and self.sweep is not None and not self.sweep[0].startswith("BENCH_"):
            flag = f"--{self.sweep[0]}"
            argv[argv.index(flag) + 1] = override
        return argv

    def environment(self, override: str | None = None) -> dict[str, str]:
        """The worker's and client's extra environment; ``override`` sets the swept BENCH_ knob."""
        env = dict(self.env)
        if override is not None and self.sweep is not None and self.sweep[0].startswith("BENCH_"):
            env[self.sweep[0]] = override
        return env

"""The peer task queues, one module each: what runs, with which settings, and why.

Each module has a :class:`~benchmarks.peers.base.Peer` ``SPEC`` (plain data, importable without
the library) and a ``Client`` that enqueues with the library's own client; the client runs only
in the peer's virtual environment, through :mod:`benchmarks.peers.driver`.
"""

from __future__ import annotations

import importlib

from benchmarks.peers.base import Peer

#: every peer, in the order of the results table
NAMES = ("arq", "saq", "dramatiq", "rq", "celery", "taskiq_list", "taskiq_stream", "huey")


def load(name: str) -> Peer:
    """The spec of peer ``name``."""
    module = importlib.import_module(f"benchmarks.peers.{name}")
    return module.SPEC


def all_peers() -> list[Peer]:
    return [load(name) for name in NAMES]

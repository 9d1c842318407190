"""Fixtures shared by every test under ``tests/``: real backends of each local kind.

Nothing here touches the shared Redis on 6379: Redis tests get a private ``redis-server`` on a
free port and a fresh key prefix each.

``QWORKER_TEST_BACKENDS`` (comma-separated, default ``sqlite,redis``) chooses the backends the
``backend_url`` fixture runs each test on: ``memory``, ``sqlite``, ``redis``. So
``QWORKER_TEST_BACKENDS=memory,sqlite pytest tests/runtime`` needs no Redis server. A test that
cannot run on one of them skips there and says why: a test marked ``cross_process`` (it runs
``qworker`` in another process, which cannot see a ``memory://`` store) skips on ``memory``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend
from qworker.registry import open_backend


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A private redis-server (a ``qworker_redis.testing.RedisServer``) for the session; tests
    that fault the connection reach it through ``.port``."""
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


KNOWN_TEST_BACKENDS = ("memory", "sqlite", "redis")


def selected_backends() -> list[str]:
    """The backends named by ``QWORKER_TEST_BACKENDS`` (default ``sqlite,redis``), checked."""
    names = [n.strip() for n in os.environ.get("QWORKER_TEST_BACKENDS", "sqlite,redis").split(",")]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(KNOWN_TEST_BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(
            f"QWORKER_TEST_BACKENDS={os.environ.get('QWORKER_TEST_BACKENDS')!r}: expected a "
            f"comma-separated list of {', '.join(KNOWN_TEST_BACKENDS)}"
        )
    return list(dict.fromkeys(names))


@pytest.fixture(params=selected_backends())
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test runs once per backend of ``QWORKER_TEST_BACKENDS``: on the embedded SQLite
    backend (a file in ``tmp_path``), on Redis (a fresh key prefix on the session's private
    server), on ``memory://`` (a store of its own, forgotten afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/queues.db"
    elif request.param == "memory":
        from qworker.memory import drop_store

        marker = request.node.get_closest_marker("cross_process")
        if marker is not None:
            why = marker.args[0] if marker.args else "the test runs qworker in another process"
            pytest.skip(f"memory:// is process-local and {why}: that process cannot see its queues")

        name = f"t{uuid.uuid4().hex[:12]}"
        yield f"memory://{name}"
        drop_store(name)
    else:
        server = request.getfixturevalue("redis_server")
        yield f"{server.url}?prefix=t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[Backend]:
    """An open backend for :func:`backend_url` (the worker under test opens its own)."""
    async with open_backend(backend_url) as backend:
        yield backend

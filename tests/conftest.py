"""Fixtures shared by every test under ``tests/``: real backends of each local kind.

Nothing here touches the shared Redis on 6379: Redis tests get a private ``redis-server`` on a
free port and a fresh key prefix each."""

from __future__ import annotations

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


@pytest.fixture(params=["sqlite", "redis"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test runs twice: on the embedded SQLite backend and on Redis (a fresh key prefix on
    the session's private server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/queues.db"
    server = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[Backend]:
    """An open backend for :func:`backend_url` (the worker under test opens its own)."""
    async with open_backend(backend_url) as backend:
        yield backend

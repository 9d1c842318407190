"""Fixtures shared by the top-level backend tests: one real backend of each local kind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qworker.backend import Backend
from qworker.registry import open_backend


@pytest.fixture(scope="module")
def private_redis_url() -> Iterator[str]:
    """A redis-server of the module's own on a free port (never the shared one)."""
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
async def sqlite_or_redis(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The test runs twice: on a SQLite file and on the private Redis (a fresh key prefix)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/q.db"
    else:
        url = f"{request.getfixturevalue('private_redis_url')}?prefix=t{uuid.uuid4().hex[:8]}"
    async with open_backend(url) as backend:
        yield backend

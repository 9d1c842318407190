"""The backend conformance suite on a real Redis 7 node and on a real 3-node Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qworker.testing.conformance import BackendConformance, OffsetClock
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer
from tests.corruption import corrupt_envelope


class TestRedisConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_envelope)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(redis_server.url, clock_offset=lambda: clock.offset) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(
        self, clock: OffsetClock, redis_server: RedisServer
    ) -> AsyncIterator[RedisBackend]:
        """A second client (another process's view: its own connections and caches)."""
        async with RedisBackend(redis_server.url, clock_offset=lambda: clock.offset) as other:
            yield other


class TestRedisClusterConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_envelope)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, cluster_url: str) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(cluster_url, clock_offset=lambda: clock.offset) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, clock: OffsetClock, cluster_url: str) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(cluster_url, clock_offset=lambda: clock.offset) as other:
            yield other

"""The backend conformance suite on a real Redis 7 node and on a real 3-node Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgpack
import pytest

from qworker.backend import Backend
from qworker.testing.conformance import BackendConformance, OffsetClock
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer


async def corrupt_envelope(backend: Backend, queue: str, message_id: str, part: str) -> None:
    """Overwrite a message's envelope in Redis, as a foreign writer could (the conformance
    suite's ``corrupt_message`` hook, T16): ``attributes`` keeps a well-formed envelope whose
    attributes are not a list; ``body`` writes bytes that are not msgpack at all."""
    assert isinstance(backend, RedisBackend)
    await backend.get_queue(queue)
    key = backend._refs[queue].keys.key("msgs")
    envelope = await backend._call("HGET", key, message_id)
    assert envelope is not None
    if part == "attributes":
        items = msgpack.unpackb(envelope)
        items[2] = "not a list of attributes"
        damaged = msgpack.packb(items, use_bin_type=True)
    else:
        damaged = b"\xc1\xc1 not msgpack"
    await backend._call("HSET", key, message_id, damaged)


class TestRedisConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_envelope)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(redis_server.url, clock_offset=lambda: clock.offset) as backend:
            yield backend


class TestRedisClusterConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_envelope)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, cluster_url: str) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(cluster_url, clock_offset=lambda: clock.offset) as backend:
            yield backend

"""The Redis backend, unchanged, on fakeredis: the conformance suite without a Redis server.

A fast extra beside the real-server runs (``backends/redis/tests``), never instead of them; it
runs when ``fakeredis[lua]`` is installed (the ``dev`` extra) and is skipped, saying so, when not.

fakeredis replaces redis-py's connection class, but the backend's single-node hot path does not go
through redis-py: script calls and long polls use its own pipelined RESP connections
(``qworker_redis.fastlane``: ``loop.create_connection`` to the URL's host and port). So an
in-process ``FakeAsyncRedis`` cannot carry them. What runs the backend unchanged is fakeredis's
own TCP server, ``fakeredis.TcpFakeServer`` (a thread serving RESP on a loopback port, the Lua
scripts run by ``lupa``): the backend connects to ``redis://127.0.0.1:PORT`` as to any Redis.
``docs/testing-with-fakeredis.md`` records what works there and what does not, and why.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import pytest

fakeredis = pytest.importorskip(
    "fakeredis", reason="fakeredis is not installed: pip install 'fakeredis[lua]'"
)
pytest.importorskip("lupa", reason="fakeredis runs Lua through lupa: pip install 'fakeredis[lua]'")

from qworker.testing.conformance import BackendConformance, OffsetClock  # noqa: E402
from qworker_redis import RedisBackend  # noqa: E402
from tests.corruption import corrupt_envelope  # noqa: E402

# the cancellation tests on this server too: CLIENT UNBLOCK ends a waiting BLPOP pipelined with
# the receive script (they take the ``backend`` fixture below)
from tests.test_receive_cancellation import (  # noqa: E402, F401
    test_cancelled_long_poll_ends_at_once_and_strands_nothing,
    test_cancelled_receive_gives_its_messages_back,
)


@pytest.fixture(scope="module")
def fake_redis_url() -> Iterator[str]:
    """A fakeredis server on a free loopback port, in a thread, for this module."""
    server = fakeredis.TcpFakeServer(("127.0.0.1", 0), server_type="redis", server_version=(7, 4))
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
async def backend(fake_redis_url: str) -> AsyncIterator[RedisBackend]:
    """For the cancellation tests imported above."""
    async with RedisBackend(fake_redis_url) as backend:
        yield backend


class TestFakeRedisConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True  # the backend adds the clock's offset to TIME in every script
    corrupt_message = staticmethod(corrupt_envelope)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, fake_redis_url: str) -> AsyncIterator[RedisBackend]:
        async with RedisBackend(fake_redis_url, clock_offset=lambda: clock.offset) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, clock: OffsetClock, fake_redis_url: str) -> AsyncIterator[RedisBackend]:
        """A second client: its own connections (fast lane, wait lanes, redis-py pool)."""
        async with RedisBackend(fake_redis_url, clock_offset=lambda: clock.offset) as other:
            yield other

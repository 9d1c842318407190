"""One back-off per Redis backend object, shared by every call (qworker_redis.outage).

A worker or a producer keeps making calls while Redis is unreachable. Were the back-off each
call's own, every new call would start again at the base delay and an outage would see
connections at a steady rate however long it lasted; shared, calls made during the outage wait
for the next turn and the reconnects thin out. RELIABILITY.md's T7 counts the same thing through
a whole worker; this test pins it down at the backend, where the policy lives.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from qworker.backend import QueueSpec
from qworker.errors import BackendUnavailable
from qworker_redis import RedisBackend
from qworker_redis.outage import BACKOFF_CAP
from tests.reliability.proxy import FaultProxy

RETRY_TIMEOUT = 0.3


@pytest.mark.timeout(60)
async def test_calls_during_an_outage_share_one_growing_backoff(redis_server: Any) -> None:
    proxy = await FaultProxy(("127.0.0.1", redis_server.port)).start()
    url = f"redis://127.0.0.1:{proxy.port}/0?prefix=shared-backoff-{id(proxy)}&retry_timeout={RETRY_TIMEOUT}"
    try:
        async with RedisBackend(url) as backend:
            await backend.create_queue(QueueSpec("q"))
            proxy.reset()  # every connection, the open ones and new ones, is reset
            began = time.time()
            failures = 0
            # a caller that calls every 50 ms, each call giving up after RETRY_TIMEOUT: with a
            # back-off of its own, each call would reconnect 3-4 times (~25 connections a second)
            while time.time() - began < 4.0:
                with pytest.raises(BackendUnavailable):
                    await backend.get_queue("q")
                failures += 1
                await asyncio.sleep(0.05)
            ended = time.time()
            first = proxy.connections_between(began, began + 2.0)
            second = proxy.connections_between(began + 2.0, ended)
            assert failures >= 5, "the calls did not give up after retry_timeout"
            assert first + second <= 16, f"reconnect loop: {first} + {second} connections in 4 s"
            assert second <= max(first, 3), f"reconnects did not thin out: {first}, {second}"

            proxy.heal()
            healed = time.monotonic()
            while True:  # the first call after the shared turn reaches Redis again
                try:
                    queue = await backend.get_queue("q")
                    break
                except BackendUnavailable:
                    assert time.monotonic() - healed < 10 * BACKOFF_CAP, "no recovery after the heal"
            assert queue.spec.name == "q"
            # and the outage is over for every call: no turn to wait for any more
            assert backend._transport._outage.failures == 0
            await asyncio.gather(*(backend.get_queue("q") for _ in range(10)))
    finally:
        await proxy.close()

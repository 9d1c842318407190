"""T5: redis-server with AOF (appendfsync everysec) killed with SIGKILL and restarted during sends
and receives loses no acknowledged send; the backend reconnects by itself."""

from __future__ import annotations

import asyncio

import structlog

from qworker.backend import QueueSpec, SendEntry
from qworker_redis import RedisBackend
from qworker_redis.testing import RedisServer


async def test_sigkill_and_restart_loses_no_acknowledged_send() -> None:
    server = RedisServer("--appendonly", "yes", "--appendfsync", "everysec").start()
    acked: set[str] = set()
    received: set[str] = set()
    stop = asyncio.Event()
    try:
        async with RedisBackend(server.url + "?retry_timeout=20") as backend:
            await backend.create_queue(QueueSpec("crash-q", visibility_timeout=1))

            async def producer() -> None:
                n = 0
                while not stop.is_set():
                    result = await backend.send("crash-q", [SendEntry(f"m{n + i}") for i in range(10)])
                    acked.update(r.message_id for r in result.successful)
                    n += 10

            async def consumer() -> None:
                while not stop.is_set():
                    got = await backend.receive("crash-q", max_messages=10, wait_seconds=0.2)
                    received.update(m.message_id for m in got)
                    await backend.delete("crash-q", [m.receipt_handle for m in got])

            with structlog.testing.capture_logs() as logs:
                tasks = [asyncio.create_task(producer()), asyncio.create_task(consumer())]
                await asyncio.sleep(0.5)
                before = len(acked)
                server.kill()
                await asyncio.sleep(0.3)
                server.start()
                await asyncio.sleep(0.7)
                stop.set()
                await asyncio.gather(*tasks)
            assert before > 0 and len(acked) > before, "sends did not resume after the restart"
            events = [e["event"] for e in logs]
            assert "redis.reconnecting" in events and "redis.reconnected" in events
            # drain: everything acknowledged is either already received or still in the queue
            while True:
                got = await backend.receive("crash-q", max_messages=1000, wait_seconds=1.5)
                if not got:
                    break
                received.update(m.message_id for m in got)
                await backend.delete("crash-q", [m.receipt_handle for m in got])
            lost = acked - received
            assert not lost, f"{len(lost)} acknowledged sends lost of {len(acked)}"
    finally:
        server.cleanup()

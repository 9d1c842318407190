"""taskiq's client, shared by the two taskiq-redis brokers (standard library + taskiq only)."""

from __future__ import annotations

import asyncio
import os
from typing import Any


class TaskiqClient:
    broker_kind = "list"

    async def open(self) -> None:
        os.environ["BENCH_TASKIQ_BROKER"] = self.broker_kind
        from benchmarks.apps import taskiq_app

        self.app: Any = taskiq_app
        await taskiq_app.broker.startup()

    async def fill(self, bodies: list[str]) -> None:
        limit = asyncio.Semaphore(64)

        async def one(body: str) -> None:
            async with limit:
                await self.app.noop.kiq(body)

        await asyncio.gather(*(one(body) for body in bodies))

    async def send(self, body: str) -> None:
        await self.app.noop.kiq(body)

    async def pending(self) -> int:
        from redis.asyncio import Redis

        from benchmarks.apps import _env

        client = Redis.from_url(_env.redis_url())
        try:
            if self.broker_kind == "list":
                return int(await client.llen("bench"))
            groups = await client.xinfo_groups("bench")
            if not groups:  # no consumer yet: every entry is waiting
                return int(await client.xlen("bench"))
            return sum(int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups)
        finally:
            await client.aclose()

    async def close(self) -> None:
        await self.app.broker.shutdown()

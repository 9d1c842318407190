"""arq: asyncio jobs in a Redis sorted set, polled by the worker."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="arq",
    title="arq",
    dist="arq",
    venv=".venv-arq",  # arq pins redis-py < 6, the others need 8: it gets a venv of its own
    delivery="at-least-once (job stays in the queue until it completes; re-run if the worker dies)",
    settings="max_jobs=100, poll_delay=1 ms (default 0.5 s), queue_read_limit=max_jobs*5, "
    "keep_result=0, log_results=False, uvloop",
    docs=(
        "https://arq-docs.helpmanual.io/#arq.worker.Worker",
        "https://arq-docs.helpmanual.io/#usage",
    ),
    worker=lambda bin_dir: [str(bin_dir / "python"), "-m", "benchmarks.apps.arq_app"],
    sweep=("BENCH_ARQ_POLL_DELAY_MS", ("1", "10", "500")),
    seconds_per_message=0.02,
)


class Client:
    async def open(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        from benchmarks.apps import _env

        self.pool: Any = await create_pool(RedisSettings.from_dsn(_env.redis_url()))

    async def fill(self, bodies: list[str]) -> None:
        limit = asyncio.Semaphore(64)

        async def one(body: str) -> None:
            async with limit:
                await self.pool.enqueue_job("noop", body)

        await asyncio.gather(*(one(body) for body in bodies))

    async def send(self, body: str) -> None:
        await self.pool.enqueue_job("noop", body)

    async def pending(self) -> int:
        return int(await self.pool.zcard("arq:queue"))

    async def close(self) -> None:
        await self.pool.aclose()

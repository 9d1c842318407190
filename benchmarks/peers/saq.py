"""saq: asyncio jobs on Redis lists (BLMOVE), the fastest asyncio peer in its own benchmarks."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="saq",
    title="saq",
    dist="saq",
    venv=".venv-peers",
    delivery="at-least-once (job moves to an active list; a sweep re-queues stuck jobs)",
    settings="concurrency=32 (default 10), job ttl=-1 (no job record kept after completion), --quiet, uvloop",
    docs=(
        "https://saq-py.readthedocs.io/en/latest/getting_started.html",
        "https://github.com/tobymao/saq/blob/master/benchmarks/README.md",
    ),
    worker=lambda bin_dir: [str(bin_dir / "saq"), "benchmarks.apps.saq_app.settings", "--quiet"],
    sweep=("BENCH_SAQ_CONCURRENCY", ("10", "32", "100")),
)


class Client:
    async def open(self) -> None:
        from saq import Queue

        from benchmarks.apps import _env

        self.queue: Any = Queue.from_url(_env.redis_url())
        await self.queue.connect()

    def _job(self, body: str) -> Any:
        from saq import Job

        return Job(function="noop", kwargs={"body": body}, ttl=-1)

    async def fill(self, bodies: list[str]) -> None:
        limit = asyncio.Semaphore(64)

        async def one(body: str) -> None:
            async with limit:
                await self.queue.enqueue(self._job(body))

        await asyncio.gather(*(one(body) for body in bodies))

    async def send(self, body: str) -> None:
        await self.queue.enqueue(self._job(body))

    async def pending(self) -> int:
        return int(await self.queue.count("incomplete"))

    async def close(self) -> None:
        await self.queue.disconnect()

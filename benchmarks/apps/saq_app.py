"""saq: the no-op job and the worker settings (``saq benchmarks.apps.saq_app.settings``)."""

from __future__ import annotations

from typing import Any

from saq import Queue

from benchmarks.apps import _env, probe

_env.use_uvloop()

queue = Queue.from_url(_env.redis_url())


async def noop(ctx: dict[str, Any], *, body: str) -> None:
    probe.record_body(body)


settings = {
    "queue": queue,
    "functions": [noop],
    "concurrency": _env.setting("saq_concurrency", 32),
}

"""arq: the no-op job and the worker settings (run in arq's own venv: arq needs redis-py < 6)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq.connections import RedisSettings
from arq.worker import run_worker

from benchmarks.apps import _env, probe

_env.use_uvloop()


async def noop(ctx: dict[str, Any], body: str) -> None:
    probe.record_body(body)


class WorkerSettings:
    """arq's documented worker settings (https://arq-docs.helpmanual.io/#arq.worker.Worker)."""

    functions: ClassVar[list[Any]] = [noop]
    redis_settings = RedisSettings.from_dsn(_env.redis_url())
    max_jobs = _env.setting("arq_max_jobs", 100)
    poll_delay = _env.setting("arq_poll_delay_ms", 1) / 1000
    queue_read_limit = max(_env.setting("arq_max_jobs", 100) * 5, 100)  # arq's own default rule
    keep_result = 0  # results are not kept: the benchmark has none
    log_results = False


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)  # arq's CLI logs every job at INFO
    run_worker(WorkerSettings)  # type: ignore[arg-type]

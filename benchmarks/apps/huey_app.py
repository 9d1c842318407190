"""huey: RedisHuey and the no-op task (``huey_consumer benchmarks.apps.huey_app.huey``)."""

from __future__ import annotations

from huey import RedisHuey

from benchmarks.apps import _env, probe

# blocking=True (the default): workers wait on BRPOP instead of polling with back-off.
huey = RedisHuey("bench", url=_env.redis_url(), results=False, blocking=True)


@huey.task()
def noop(body: str) -> None:
    probe.record_body(body)

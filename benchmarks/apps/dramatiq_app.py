"""dramatiq: the no-op actor on the RedisBroker (``dramatiq benchmarks.apps.dramatiq_app``)."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.apps import _env, probe

broker = RedisBroker(url=_env.redis_url())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop(body: str) -> None:
    probe.record_body(body)

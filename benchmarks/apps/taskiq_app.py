"""taskiq: the no-op task on a taskiq-redis broker (``taskiq worker benchmarks.apps.taskiq_app:broker``).

``BENCH_TASKIQ_BROKER=list`` uses ListQueueBroker (LPUSH/BRPOP, no acknowledgements);
``stream`` uses RedisStreamBroker (consumer group, XACK after the task).
"""

from __future__ import annotations

import os

from taskiq_redis import ListQueueBroker, RedisStreamBroker

from benchmarks.apps import _env, probe

if os.environ.get("BENCH_TASKIQ_BROKER", "list") == "stream":
    broker = RedisStreamBroker(_env.redis_url(), queue_name="bench")
else:
    broker = ListQueueBroker(_env.redis_url(), queue_name="bench")


@broker.task(task_name="noop")
async def noop(body: str) -> None:
    probe.record_body(body)

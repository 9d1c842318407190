"""celery: the app on the Redis broker and the no-op task (``celery -A benchmarks.apps.celery_app``)."""

from __future__ import annotations

from celery import Celery

from benchmarks.apps import _env, probe

app = Celery("bench", broker=_env.redis_url())
app.conf.update(
    # https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits: "If you have
    # lots of short tasks, and throughput/round trip latency is important to you, this number
    # should be large" (they suggest 64 or 128).
    worker_prefetch_multiplier=_env.setting("celery_prefetch", 128),
    # https://docs.celeryq.dev/en/stable/userguide/tasks.html#ignore-results-you-don-t-want
    task_ignore_result=True,
    task_default_queue="bench",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(body: str) -> None:
    probe.record_body(body)

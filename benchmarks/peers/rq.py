"""rq: sync jobs on Redis lists; SimpleWorker runs them in the worker process."""

from __future__ import annotations

from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="rq",
    title="rq (SimpleWorker)",
    dist="rq",
    venv=".venv-peers",
    delivery="at-most-once (a job whose worker dies goes to the failed/abandoned registry, not retried)",
    settings="--worker-class rq.worker.SimpleWorker (no fork per job; the default Worker forks one "
    "process per job and is far slower), result_ttl=0, --disable-job-desc-logging, --quiet",
    docs=(
        "https://python-rq.org/docs/workers/#worker-classes",
        "https://python-rq.org/docs/results/",
        "https://python-rq.org/docs/workers/",
    ),
    worker=lambda bin_dir: [
        str(bin_dir / "rq"),
        "worker",
        "--url",
        "{redis_url}",
        "--worker-class",
        "rq.worker.SimpleWorker",
        "--disable-job-desc-logging",
        "--quiet",
        "bench",
    ],
    seconds_per_message=0.02,
)


class Client:
    def open(self) -> None:
        from redis import Redis
        from rq import Queue

        from benchmarks.apps import _env

        self.redis: Any = Redis.from_url(_env.redis_url())
        self.queue: Any = Queue("bench", connection=self.redis)

    def fill(self, bodies: list[str]) -> None:
        from rq import Queue

        for start in range(0, len(bodies), 1000):
            with self.redis.pipeline() as pipe:
                jobs = [
                    Queue.prepare_data("benchmarks.apps.rq_app.noop", (body,), result_ttl=0)
                    for body in bodies[start : start + 1000]
                ]
                self.queue.enqueue_many(jobs, pipeline=pipe)
                pipe.execute()

    def send(self, body: str) -> None:
        self.queue.enqueue("benchmarks.apps.rq_app.noop", body, result_ttl=0)

    def pending(self) -> int:
        return int(self.queue.count + self.queue.started_job_registry.count)

    def close(self) -> None:
        self.redis.close()

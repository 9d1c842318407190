"""celery: tasks on the Redis transport (kombu), one worker process."""

from __future__ import annotations

from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="celery",
    title="celery",
    dist="celery",
    venv=".venv-peers",
    delivery="at-most-once by default (acks_late=False: acknowledged when the task starts)",
    settings="redis broker, --pool solo (the task runs in the worker process, no IPC) "
    "--concurrency 1, worker_prefetch_multiplier=128, task_ignore_result=True, "
    "--without-gossip --without-mingle --without-heartbeat, --loglevel WARNING",
    docs=(
        "https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits",
        "https://docs.celeryq.dev/en/stable/userguide/concurrency/index.html",
        "https://docs.celeryq.dev/en/stable/userguide/tasks.html#ignore-results-you-don-t-want",
        "https://docs.celeryq.dev/en/stable/reference/cli.html#celery-worker",
    ),
    worker=lambda bin_dir: [
        str(bin_dir / "celery"),
        "-A",
        "benchmarks.apps.celery_app",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
        "--queues",
        "bench",
    ],
    sweep=("BENCH_CELERY_PREFETCH", ("4", "128", "1000")),
)


class Client:
    def open(self) -> None:
        from benchmarks.apps import celery_app

        self.app: Any = celery_app

    def fill(self, bodies: list[str]) -> None:
        with self.app.app.producer_or_acquire() as producer:
            for body in bodies:
                self.app.noop.apply_async((body,), producer=producer)

    def send(self, body: str) -> None:
        self.app.noop.apply_async((body,))

    def pending(self) -> int:
        with self.app.app.connection_for_write() as connection:
            client = connection.default_channel.client
            return int(client.llen("bench")) + int(client.hlen("unacked"))

    def close(self) -> None:
        self.app.app.close()

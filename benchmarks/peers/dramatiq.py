"""dramatiq: actors on the RedisBroker, worker threads in one process."""

from __future__ import annotations

from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="dramatiq",
    title="dramatiq",
    dist="dramatiq",
    venv=".venv-peers",
    delivery="at-least-once (acknowledged after the actor returns; unacked messages are re-queued)",
    settings="RedisBroker, --processes 1 --threads 64 (default 8; prefetch 2 per thread), max_retries=0",
    docs=(
        "https://dramatiq.io/reference.html#dramatiq.brokers.redis.RedisBroker",
        "https://dramatiq.io/guide.html#workers",
        "https://dramatiq.io/cookbook.html",
    ),
    worker=lambda bin_dir: [
        str(bin_dir / "dramatiq"),
        "benchmarks.apps.dramatiq_app",
        "--processes",
        "1",
        "--threads",
        "64",
    ],
    sweep=("threads", ("8", "32", "64", "128")),
)


class Client:
    def open(self) -> None:
        from benchmarks.apps import dramatiq_app

        self.app: Any = dramatiq_app

    def fill(self, bodies: list[str]) -> None:
        for body in bodies:
            self.app.noop.send(body)

    def send(self, body: str) -> None:
        self.app.noop.send(body)

    def pending(self) -> int:
        client = self.app.broker.client
        return int(client.hlen("dramatiq:bench.msgs"))

    def close(self) -> None:
        self.app.broker.close()

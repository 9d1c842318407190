"""huey: RedisHuey, one consumer process with worker threads."""

from __future__ import annotations

from typing import Any

from benchmarks.peers.base import Peer

SPEC = Peer(
    name="huey",
    title="huey",
    dist="huey",
    venv=".venv-peers",
    delivery="at-most-once (BRPOP: a task is gone from Redis once a worker pops it)",
    settings="RedisHuey(blocking=True, results=False), huey_consumer --workers 8 (default 1) "
    "--worker-type thread --no-periodic --quiet",
    docs=(
        "https://huey.readthedocs.io/en/latest/consumer.html#options-for-the-consumer",
        "https://huey.readthedocs.io/en/latest/api.html#RedisHuey",
    ),
    worker=lambda bin_dir: [
        str(bin_dir / "huey_consumer"),
        "benchmarks.apps.huey_app.huey",
        "--workers",
        "8",
        "--worker-type",
        "thread",
        "--no-periodic",
        "--quiet",
    ],
    sweep=("workers", ("1", "8", "32")),
)


class Client:
    def open(self) -> None:
        from benchmarks.apps import huey_app

        self.app: Any = huey_app

    def fill(self, bodies: list[str]) -> None:
        for body in bodies:
            self.app.noop(body)

    def send(self, body: str) -> None:
        self.app.noop(body)

    def pending(self) -> int:
        return int(self.app.huey.pending_count())

    def close(self) -> None:
        pass

"""taskiq with taskiq-redis's ListQueueBroker."""

from __future__ import annotations

from benchmarks.peers._taskiq import TaskiqClient
from benchmarks.peers.base import Peer

SPEC = Peer(
    name="taskiq_list",
    title="taskiq (ListQueueBroker)",
    dist="taskiq",
    venv=".venv-peers",
    delivery="at-most-once (BRPOP: a message is gone once popped, whatever happens to the task)",
    settings="ListQueueBroker, taskiq worker --workers 1 (default 2) --max-async-tasks 100 (default) "
    "--log-level WARNING, uvloop (taskiq uses it when installed)",
    docs=(
        "https://taskiq-python.github.io/guide/cli.html#worker",
        "https://github.com/taskiq-python/taskiq-redis#readme",
    ),
    worker=lambda bin_dir: [
        str(bin_dir / "taskiq"),
        "worker",
        "benchmarks.apps.taskiq_app:broker",
        "--workers",
        "1",
        "--max-async-tasks",
        "100",
        "--log-level",
        "WARNING",
    ],
    also=("taskiq-redis",),
    env={"BENCH_TASKIQ_BROKER": "list"},
    sweep=("max-async-tasks", ("10", "100", "1000")),
)


class Client(TaskiqClient):
    broker_kind = "list"

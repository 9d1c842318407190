"""T17: one worker serving many queues on one Redis: idle cost and no starvation.

Pass: with 300 queues, a message sent to any of them is handled promptly (the last of a round of
sends to 10 random queues within a few seconds), and while idle the worker uses little CPU and
sends Redis a handful of commands per queue per minute (long polls, not a polling loop). The
number of queues is kept modest for CI; ``QWORKER_SOAK=1`` runs 1,000.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from pathlib import Path

import pytest

from qworker.backend import QueueSpec, SendEntry
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from qworker.runtime.worker import Worker, WorkerOptions
from tests.reliability import figures
from tests.runtime.conftest import APP_DIR, Ledger

pytestmark = pytest.mark.slow
QUEUES = 1000 if os.environ.get("QWORKER_SOAK") else 300


def _requests(server_cli: object) -> int:
    """Client requests Redis has served: script calls and long polls (``INFO commandstats``
    also counts the commands scripts run inside, which are not traffic)."""
    info = server_cli("INFO", "commandstats")  # type: ignore[operator]
    total = 0
    for line in info.splitlines():
        name, _, stats = line.partition(":")
        if name in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_blpop"):
            total += int(stats.split(",")[0].split("=")[1])
    return total


@pytest.mark.timeout(180)
async def test_many_idle_queues_cost_little_and_none_starves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qworker_redis.testing import RedisServer

    ledger = Ledger(tmp_path / "ledger.jsonl")
    monkeypatch.setenv("QW_TEST_LEDGER", str(ledger.path))

    server = RedisServer().start()
    try:
        url = f"{server.url}?prefix=t17{uuid.uuid4().hex[:6]}"
        names = [f"q{i:04d}" for i in range(QUEUES)]
        async with open_backend(url) as backend:
            for name in names:
                await backend.create_queue(QueueSpec(name))
            mappings = [
                MappingConfig(handler="apps.ledger:async_handler", queue=name, function_name=f"f{name}")
                for name in names
            ]
            options = WorkerOptions(backend_url=url, app_dir=str(APP_DIR), set_lambda_environment=False)
            worker = Worker(mappings, options)
            task = asyncio.create_task(worker.serve())
            while len(worker.runners) < QUEUES or not all(r.scaler for r in worker.runners):
                assert not task.done(), task
                await asyncio.sleep(0.05)
            await asyncio.sleep(2)  # every poller in its long poll
            # idle: CPU of this process (the worker runs here) and Redis commands per second
            cpu0, wall0, cmd0 = time.process_time(), time.monotonic(), _requests(server.cli)
            await asyncio.sleep(10)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            per_second = (_requests(server.cli) - cmd0) / (time.monotonic() - wall0)
            # no starvation: 10 random queues get a message each; all are handled promptly
            chosen = random.Random(17).sample(names, 10)
            sent_at = time.monotonic()
            for name in chosen:
                await backend.send(name, [SendEntry(f'{{"queue": "{name}"}}')])
            await ledger.until(lambda lines: len(lines) >= 10, timeout=30)
            slowest = time.monotonic() - sent_at
            worker.request_stop()
            assert await task == 0
        figures.record(
            "T17",
            {
                "queues": QUEUES,
                "idle_cpu": cpu,
                "redis_requests_per_s": per_second,
                "slowest_handling_s": slowest,
            },
        )
        assert sorted(line["bodies"][0] for line in ledger.lines()) == sorted(
            f'{{"queue": "{name}"}}' for name in chosen
        )
        assert cpu < 0.25, f"an idle worker with {QUEUES} queues used {cpu:.0%} of a CPU"
        # an idle poller sends one receive script and one long poll per 10 s wait
        assert per_second < QUEUES / 2, f"{per_second:.0f} Redis requests/s while idle"
        assert slowest < 5, f"a queue waited {slowest:.1f}s"
    finally:
        server.stop()

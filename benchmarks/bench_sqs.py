"""SQS backend benchmark: the runtime on moto's SQS server next to a bare aiobotocore loop.

Run: ``python -m benchmarks.bench_sqs`` (``--quick`` for a smoke run, ``--no-write`` to only
print). It starts moto's server in a child process on a free port (serialized, as in the tests:
:mod:`qworker_sqs.testing`; a process of its own, so moto's CPU does not compete with the client's
for one GIL) and measures, in the same run and on fresh queues of the same size, messages per
second for:

* **bare loop**: aiobotocore alone, ``ReceiveMessage`` (10) then ``DeleteMessageBatch``, one
  task: the floor any SQS consumer pays on this server;
* **backend loop**: the same loop through :class:`~qworker_sqs.SQSBackend` (``receive`` +
  ``delete``): the adapter's own cost;
* **runtime**: ``qworker run`` in process (``Worker`` with ``--until-empty``), a no-op async
  handler, BatchSize 10: polling, batching, records, invocation and deletes.

The ratio runtime / bare loop is the runtime's own overhead on this server. moto is slow (and
slower as a queue grows: SERVICES.md), so the absolute figures say little about AWS, where a
ReceiveMessage round trip takes tens of milliseconds and throughput scales with pollers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession

from benchmarks.results import write_section
from qworker import logs
from qworker.backend import QueueSpec, SendEntry
from qworker.runtime.config import MappingConfig
from qworker.runtime.worker import Worker, WorkerOptions
from qworker_sqs import SQSBackend
from qworker_sqs.testing import MotoSQSServer, free_port

REPO = Path(__file__).resolve().parent.parent
BODY = "x" * 200
RUNS = 3


class _Handled:
    """What the benchmark handler saw (read through sys.modules: the worker imports this module)."""

    count = 0
    target = 0
    first_at = 0.0
    first_batch = 0
    done_at = 0.0


async def noop(event: dict[str, Any], context: Any) -> None:
    """The benchmark's handler: counts records, notes when the first and the last arrived."""
    if not _Handled.first_at:
        _Handled.first_at = time.perf_counter()
        _Handled.first_batch = len(event["Records"])
    _Handled.count += len(event["Records"])
    if _Handled.count >= _Handled.target and not _Handled.done_at:
        _Handled.done_at = time.perf_counter()


@contextmanager
def moto_process() -> Iterator[MotoSQSServer]:
    """moto's serialized server in a child process; the returned object only names its port."""
    with moto_child() as (server, _):
        yield server


@contextmanager
def moto_child() -> Iterator[tuple[MotoSQSServer, subprocess.Popen[bytes]]]:
    """:func:`moto_process`, with the child process (for its pid: its CPU time)."""
    server = MotoSQSServer(free_port())
    code = (
        "import threading\n"
        "from qworker_sqs.testing import MotoSQSServer\n"
        f"MotoSQSServer({server.port}).start()\n"
        "threading.Event().wait()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield server, child
    finally:
        child.terminate()
        child.wait(timeout=10)


async def fill(backend: SQSBackend, queue: str, count: int) -> None:
    await backend.create_queue(QueueSpec(queue, visibility_timeout=60))
    for start in range(0, count, 100):
        result = await backend.send(queue, [SendEntry(BODY) for _ in range(min(100, count - start))])
        assert not result.failed, result.failed


class Measure:
    """Wall time and this process's CPU time (all threads) over a stretch of work."""

    def __enter__(self) -> Measure:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


async def bare_loop(server: MotoSQSServer, queue: str, count: int) -> tuple[float, float]:
    """aiobotocore only: receive 10, delete them, until ``count`` are done; (messages/s, CPU µs/message)."""
    session = AioSession()
    client = session.create_client("sqs", endpoint_url=server.endpoint_url, region_name=server.REGION)
    async with client as sqs:
        queue_url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
        done = 0
        with Measure() as measure:
            while done < count:
                response = await sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                messages = response.get("Messages", [])
                if not messages:
                    continue
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                result = await sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
                assert not result.get("Failed"), result
                done += len(messages)
    return count / measure.wall, measure.cpu / count * 1e6


async def backend_loop(backend: SQSBackend, queue: str, count: int) -> tuple[float, float]:
    """The same loop through SQSBackend.receive/delete; (messages/s, CPU µs/message)."""
    done = 0
    with Measure() as measure:
        while done < count:
            messages = await backend.receive(queue, max_messages=10, wait_seconds=1)
            if messages:
                assert await backend.delete(queue, [m.receipt_handle for m in messages]) == []
                done += len(messages)
    return count / measure.wall, measure.cpu / count * 1e6


async def runtime(url: str, queue: str, count: int) -> tuple[float, float, float]:
    """The worker until the queue is empty: messages/s from the first invocation to the last,
    messages/s from the worker's start to its exit, CPU µs/message over the whole run."""
    handled = sys.modules["benchmarks.bench_sqs"]._Handled  # the copy the worker imports
    handled.count, handled.target, handled.first_at, handled.done_at = 0, count, 0.0, 0.0
    config = MappingConfig(handler="benchmarks.bench_sqs:noop", queue=queue, batch_size=10)
    options = WorkerOptions(backend_url=url, until_empty=True, app_dir=str(REPO))
    with Measure() as measure:
        assert await Worker([config], options).serve() == 0
    assert handled.count == count, (handled.count, count)
    steady = (count - handled.first_batch) / (handled.done_at - handled.first_at)
    return steady, count / measure.wall, measure.cpu / count * 1e6


async def main(messages: int) -> str:
    import benchmarks.bench_sqs  # noqa: F401  (the module the worker imports the handler from)

    bare: list[tuple[float, float]] = []
    adapter: list[tuple[float, float]] = []
    worker: list[tuple[float, float, float]] = []
    with moto_process() as server:
        url = server.url()
        async with SQSBackend(url) as backend:
            for _ in range(RUNS):
                queue = f"bench-{uuid.uuid4().hex[:8]}"
                await fill(backend, queue, messages)
                bare.append(await bare_loop(server, queue, messages))
                queue = f"bench-{uuid.uuid4().hex[:8]}"
                await fill(backend, queue, messages)
                adapter.append(await backend_loop(backend, queue, messages))
                queue = f"bench-{uuid.uuid4().hex[:8]}"
                await fill(backend, queue, messages)
                worker.append(await runtime(url, queue, messages))

    def median(values: list[tuple[float, ...]], index: int) -> float:
        return statistics.median(v[index] for v in values)

    bare_rate = median(bare, 0)
    rows = [
        (
            "bare aiobotocore loop: ReceiveMessage (10) + DeleteMessageBatch, one task",
            median(bare, 0),
            median(bare, 1),
        ),
        ("SQSBackend loop: receive (10) + delete, one task", median(adapter, 0), median(adapter, 1)),
        (
            "runtime: Worker, no-op async handler, BatchSize 10, first to last invocation",
            median(worker, 0),
            None,
        ),
        (
            "runtime, whole run: start-up, invocations, --until-empty exit",
            median(worker, 1),
            median(worker, 2),
        ),
    ]
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    lines = [
        "## SQS backend on moto (`sqs://?endpoint_url=...`)",
        "",
        f"moto 5.2.5 server in a child process (serialized), {messages} messages of 200 bytes per run, "
        f"a fresh queue per run, {loop_name} event loop; median of {RUNS} runs. CPU is the client "
        "process's (all threads), per message.",
        "",
        "| what | messages/s | vs bare loop | client CPU µs/message |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, rate, cpu in rows:
        cpu_text = f"{cpu:,.0f}" if cpu is not None else "-"
        lines.append(f"| {label} | {rate:,.0f} | {rate / bare_rate:.2f} | {cpu_text} |")
    lines += [
        "",
        "moto is the bottleneck: it serves one SQS operation at a time and each receive scans the "
        "whole queue, so messages/s measure moto, and their ratios show that the runtime adds no "
        "throughput cost of its own here (it overlaps deletes with the next receive). The client CPU "
        "per message is the runtime's own cost. On AWS a receive round trip takes tens of "
        "milliseconds and throughput grows with pollers and concurrency.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 messages per run (smoke run)")
    parser.add_argument("--messages", type=int, default=300, help="messages per run (default 300)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    count = 100 if args.quick else args.messages
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", MotoSQSServer.REGION)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    logs.configure("json", "warning")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a core dependency on CPython/Unix
        runner = asyncio.run
    body = runner(main(count))
    print(body)
    if not args.no_write:
        command = "python -m benchmarks.bench_sqs" + (" --quick" if args.quick else "")
        print(write_section("sqs-backend", body, command))

"""What the Python client costs: ``qworker.AsyncClient``/``qworker.Client`` against a raw
``backend.send`` of one entry, in the same run, on SQLite and on a private Redis.

Run: ``python -m benchmarks.bench_client`` (``--quick`` for a smoke run). It writes the
``client`` section of ``benchmarks/RESULTS.md``:

* one sender, one message per call: the client's own cost per send (conversion, the coalescing
  batcher's extra loop turn, for the sync client the hop to its loop thread and back);
* many senders at once (tasks on one AsyncClient, threads on one Client): what coalescing
  concurrent sends into batch calls buys, against the same senders each making its own call;
* the per-batch cost the worker pays for tracing with OpenTelemetry off (a new trace header and
  a context variable set and reset per invocation).

Each figure is the best of ``--repeat`` interleaved runs (the machine is shared: the best run is
the one least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import qworker
from benchmarks.results import write_section
from qworker import tracing
from qworker.backend import Backend, QueueSpec, SendEntry
from qworker.registry import open_backend

BODY = '{"id":12345,"kind":"order.created","payload":"' + "x" * 48 + '"}'  # ~100 bytes
LPUSH = "LPUSH round trip, same client and connection (Redis)"
SEND_TARGET = 1.5  #: issue #17: a send costs at most 1.5x an LPUSH round trip
DICT_BODY = {"id": 12345, "kind": "order.created", "payload": "x" * 48}


async def _raw_sequential(backend: Backend, queue: str, n: int) -> None:
    for _ in range(n):
        await backend.send(queue, [SendEntry(BODY)])


async def _client_sequential(client: qworker.AsyncClient, queue: str, n: int, body: Any = BODY) -> None:
    for _ in range(n):
        await client.send(queue, body)


async def _lpush_sequential(client: qworker.AsyncClient, n: int) -> None:
    """LPUSH round trips through the client's own Redis connection (lane, retry policy)."""
    transport = client.backend._transport  # type: ignore[attr-defined]
    key = f"qworker:bench-lpush:{uuid.uuid4().hex[:8]}"
    for _ in range(n):
        await transport.call("LPUSH", key, BODY)
    await transport.call("DEL", key)


async def _concurrently(send: Callable[[], Awaitable[Any]], n: int, senders: int) -> None:
    async def sender(count: int) -> None:
        for _ in range(count):
            await send()

    await asyncio.gather(*(sender(n // senders) for _ in range(senders)))


async def _timed(work: Awaitable[Any]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


def _threads(client: qworker.Client, queue: str, n: int, threads: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def sender() -> None:
        barrier.wait()
        for _ in range(n // threads):
            client.send(queue, BODY)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(sender) for _ in range(threads)]
        barrier.wait()
        started = time.perf_counter()
        for future in futures:
            future.result()
    return time.perf_counter() - started


async def measure(url: str, n: int, senders: int, repeat: int) -> dict[str, float]:
    """Seconds per message for each way of sending (best of ``repeat``)."""
    best: dict[str, float] = {}

    def keep(name: str, seconds: float, count: int) -> None:
        best[name] = min(best.get(name, float("inf")), seconds / count)

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec(queue))
        coalesced = qworker.AsyncClient(open_backend(url))
        single = qworker.AsyncClient(open_backend(url), coalesce=False)
        sync = qworker.Client.from_url(url)
        sync_single = qworker.Client.from_url(url, coalesce=False)
        async with coalesced, single:
            sync.connect()
            sync_single.connect()
            try:
                for _ in range(repeat):
                    keep("raw backend.send, 1 entry", await _timed(_raw_sequential(backend, queue, n)), n)
                    keep("AsyncClient.send", await _timed(_client_sequential(coalesced, queue, n)), n)
                    keep(
                        "AsyncClient.send, coalesce=False",
                        await _timed(_client_sequential(single, queue, n)),
                        n,
                    )
                    if url.startswith("redis"):  # issue #17: a send against the bare round trip
                        keep(LPUSH, await _timed(_lpush_sequential(single, n)), n)
                    keep(
                        "AsyncClient.send, dict body",
                        await _timed(_client_sequential(coalesced, queue, n, DICT_BODY)),
                        n,
                    )
                    keep(
                        "Client.send (sync, 1 thread)",
                        await asyncio.to_thread(_sync_sequential, sync, queue, n),
                        n,
                    )
                    m = n * 4
                    raw = _concurrently(lambda: backend.send(queue, [SendEntry(BODY)]), m, senders)
                    keep(f"raw backend.send, {senders} tasks", await _timed(raw), m)
                    many = _concurrently(lambda: coalesced.send(queue, BODY), m, senders)
                    keep(f"AsyncClient.send, {senders} tasks", await _timed(many), m)
                    alone = _concurrently(lambda: single.send(queue, BODY), m, senders)
                    keep(f"AsyncClient.send, {senders} tasks, coalesce=False", await _timed(alone), m)
                    keep("Client.send, 8 threads", await asyncio.to_thread(_threads, sync, queue, m, 8), m)
                    keep(
                        "Client.send, 8 threads, coalesce=False",
                        await asyncio.to_thread(_threads, sync_single, queue, m, 8),
                        m,
                    )
            finally:
                sync.close()
                sync_single.close()
    return best


def _sync_sequential(client: qworker.Client, queue: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        client.send(queue, BODY)
    return time.perf_counter() - started


def tracing_cost() -> float:
    """Seconds per batch the worker spends on tracing with OpenTelemetry off."""

    def per_batch() -> None:
        token = tracing.set_trace_header()
        tracing.reset_trace_header(token)

    return min(timeit.repeat(per_batch, number=100_000, repeat=5)) / 100_000


def table(results: dict[str, dict[str, float]]) -> str:
    names = list(dict.fromkeys(name for figures in results.values() for name in figures))
    lines = ["| how | " + " | ".join(f"{b} µs/msg | {b} msg/s" for b in results) + " |"]
    lines.append("|---|" + "---:|---:|" * len(results))
    for name in names:
        cells = []
        for figures in results.values():
            seconds = figures.get(name)
            cells += ["–", "–"] if seconds is None else [f"{seconds * 1e6:.1f}", f"{1 / seconds:,.0f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="messages per sequential run (x4 concurrent)")
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 300, 1
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = {
                "SQLite": asyncio.run(
                    measure(f"sqlite:///{tmp}/bench.db", args.n, args.senders, args.repeat)
                ),
                "Redis": asyncio.run(
                    measure(f"{server.url}?prefix=b{uuid.uuid4().hex[:6]}", args.n, args.senders, args.repeat)
                ),
            }
    finally:
        server.cleanup()
    per_batch = tracing_cost()
    redis = results["Redis"]
    send_rows = ("AsyncClient.send", "AsyncClient.send, coalesce=False", "raw backend.send, 1 entry")
    send_vs_lpush = "\n".join(
        f"| {name} | {redis[name] * 1e6:.1f} µs | {redis[name] / redis[LPUSH]:.2f}× "
        f"| {'yes' if redis[name] / redis[LPUSH] <= SEND_TARGET else '**no**'} |"
        for name in send_rows
    )
    header_cost = min(timeit.repeat(tracing.new_trace_header, number=100_000, repeat=5)) / 100_000
    body = (
        "## The Python client (`qworker.Client`, `qworker.AsyncClient`) against a raw `backend.send`\n\n"
        f"One message per call, ~100-byte body; sequential runs of {args.n} messages, concurrent runs of "
        f"{args.n * 4}; best of {args.repeat} interleaved runs.\n\n"
        + table(results)
        + f"\n\nOne send against one LPUSH round trip through the same client (Redis, the same "
        f"run; LPUSH: {redis[LPUSH] * 1e6:.1f} µs), issue #17's target ≤ {SEND_TARGET}×:\n\n"
        "| send | µs/msg | × LPUSH | met |\n| --- | ---: | ---: | :-: |\n"
        + send_vs_lpush
        + f"\n\nPer-batch cost of tracing with OpenTelemetry off (a context variable set and reset, "
        f"the invocation's X-Ray header made only if read; making one costs {header_cost * 1e6:.2f} µs): "
        f"{per_batch * 1e6:.2f} µs.\n"
    )
    print(body)
    if not args.no_write:
        write_section(
            "client", body, "python -m benchmarks.bench_client" + (" --quick" if args.quick else "")
        )


if __name__ == "__main__":
    main()

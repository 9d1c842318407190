"""Redis backend benchmark: throughput and latency of the Lua-script design on one process.

Run: ``python -m benchmarks.bench_redis`` (``--quick`` for a smoke run). It starts its own
redis-server on a free port (never the shared one), measures with redis-py + hiredis, and writes
the ``redis-backend`` section of ``benchmarks/RESULTS.md``:

* send batch, receive+delete batch at batch sizes 1, 10, 100 (one task, and 8 concurrent tasks);
* the physical limit of this design, driven the same way: a minimal script that only moves N ids
  from a ready LIST to an in-flight ZSET, and one that only removes them from the ZSET;
* one receive-to-delete round trip, and send -> waiting receiver wake-up latency;
* receive cost with 1,000 versus 1,000,000 messages waiting;
* redis-benchmark figures for the same server;
* the transport: the same operations through qworker's pipelined lanes
  (:mod:`qworker_redis.fastlane`) and through redis-py's script path (``register_script``:
  EVALSHA, reloading on NOSCRIPT, hiredis, the same connection settings), side by side in one
  run; written to the ``redis-transport`` section (``--transport-only`` runs only that).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import ResponseError

from benchmarks.results import write_section
from qworker.backend import QueueSpec, SendEntry
from qworker.errors import BackendError
from qworker_redis import RedisBackend
from qworker_redis.fastlane import FastLane, pack_head
from qworker_redis.scripts import Script
from qworker_redis.testing import RedisServer
from qworker_redis.transport import Transport

MINIMAL_RECEIVE = b"""-- move up to ARGV[1] ids from the ready LIST to the in-flight ZSET (score ARGV[2])
local ids = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not ids then return {} end
local z = {}
for i, id in ipairs(ids) do z[2 * i - 1] = ARGV[2]; z[2 * i] = id end
redis.call('ZADD', KEYS[2], unpack(z))
return ids
"""
MINIMAL_DELETE = b"""-- remove the given ids from the in-flight ZSET
return redis.call('ZREM', KEYS[1], unpack(ARGV))
"""
# The anatomy of the gap: the minimal pair, then the same skeleton with each piece of per-message
# work that SQS semantics add. Receives: KEYS ready, in-flight, messages hash; ARGV n, deadline,
# token. Deletes: KEYS in-flight, messages hash; ARGV the ids (as MINIMAL_DELETE).
ENVELOPE_RECEIVE = b"""-- the minimal receive, plus reading each message's envelope and returning it
local ids = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not ids then return {} end
local envs = redis.call('HMGET', KEYS[3], unpack(ids))
local z, out = {}, {}
for i, id in ipairs(ids) do
  z[2 * i - 1] = ARGV[2]; z[2 * i] = id; out[2 * i - 1] = id; out[2 * i] = envs[i]
end
redis.call('ZADD', KEYS[2], unpack(z))
return out
"""
ENVELOPE_DELETE = b"""-- the minimal delete, plus removing each message's envelope
local n = redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
return n
"""
STATE_RECEIVE = b"""-- plus writing each message's receive state (fencing token, count, first receive)
local ids = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not ids then return {} end
local envs = redis.call('HMGET', KEYS[3], unpack(ids))
local st = ARGV[3] .. '|1|' .. ARGV[2] .. '|' .. ARGV[2] .. '|||'
local z, s, out = {}, {}, {}
for i, id in ipairs(ids) do
  z[2 * i - 1] = ARGV[2]; z[2 * i] = id; s[2 * i - 1] = '~' .. id; s[2 * i] = st
  out[2 * i - 1] = id; out[2 * i] = envs[i]
end
redis.call('HSET', KEYS[3], unpack(s))
redis.call('ZADD', KEYS[2], unpack(z))
return out
"""
STATE_DELETE = b"""-- plus the fence: read each state, delete only on a matching token, remove both fields
local f = {}
for i = 1, #ARGV do f[i] = '~' .. ARGV[i] end
local st = redis.call('HMGET', KEYS[2], unpack(f))
local del, h = {}, {}
for i = 1, #ARGV do
  if st[i] and string.sub(st[i], 1, 16) == '0123456789abcdef' then del[#del + 1] = ARGV[i] end
end
if #del == 0 then return 0 end
for i = 1, #del do h[i] = del[i]; h[#del + i] = '~' .. del[i] end
local n = redis.call('ZREM', KEYS[1], unpack(del))
redis.call('HDEL', KEYS[2], unpack(h))
return n
"""
BATCHES = (1, 10, 100)
SKELETON = "+ receive state and fenced delete"  #: the anatomy row qworker's scripts are held to
CONCURRENCY = 8
REPEATS = 3


def _script(name: str, source: bytes) -> Script:
    import hashlib

    return Script(name, source, hashlib.sha1(source, usedforsecurity=False).hexdigest(), ())


async def _eval(backend: RedisBackend, script: Script, keys: list[bytes], args: Any, head: bytes) -> Any:
    """A script call through the backend's own transport (the hot path's)."""
    return await backend._transport.eval(script, keys, args, head)


class Bench:
    def __init__(self, backend: RedisBackend, quick: bool) -> None:
        self.b = backend
        self.quick = quick
        self.cpu_per_message = 0.0  #: this process's CPU µs per message in the last run_tasks

    def n_for(self, batch: int) -> int:
        base = {1: 5_000, 10: 40_000, 100: 200_000}[batch]
        return base // 10 if self.quick else base

    async def new_queue(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        await self.b.create_queue(QueueSpec(name, visibility_timeout=600))
        return name

    async def fill(self, queue: str, n: int) -> None:
        for i in range(0, n, 1000):
            result = await self.b.send(
                queue, [SendEntry(f"message body {j}") for j in range(min(1000, n - i))]
            )
            assert not result.failed

    async def run_tasks(self, tasks: int, work: Callable[[], Awaitable[int]]) -> float:
        """msgs/s of ``tasks`` concurrent loops of ``work`` (each returns messages handled, 0 = done)."""

        async def loop() -> int:
            done = 0
            while n := await work():
                done += n
            return done

        start, cpu = time.perf_counter(), time.process_time()
        total = sum(await asyncio.gather(*(loop() for _ in range(tasks))))
        elapsed = time.perf_counter() - start
        self.cpu_per_message = (time.process_time() - cpu) / max(1, total) * 1e6
        return total / elapsed

    async def send_rate(self, batch: int, tasks: int) -> float:
        queue = await self.new_queue()
        remaining = [self.n_for(batch)]
        entries = [SendEntry(f"message body {j}") for j in range(batch)]

        async def work() -> int:
            if remaining[0] <= 0:
                return 0
            remaining[0] -= batch
            await self.b.send(queue, entries)
            return batch

        rate = await self.run_tasks(tasks, work)
        await self.b.delete_queue(queue)
        return rate

    async def receive_delete_rate(self, batch: int, tasks: int) -> float:
        queue = await self.new_queue()
        await self.fill(queue, self.n_for(batch))

        async def work() -> int:
            got = await self.b.receive(queue, max_messages=batch, wait_seconds=0)
            if got:
                await self.b.delete(queue, [m.receipt_handle for m in got])
            return len(got)

        rate = await self.run_tasks(tasks, work)
        await self.b.delete_queue(queue)
        return rate

    async def minimal_rate(self, batch: int, tasks: int) -> float:
        """The physical limit: LPOP N + ZADD, then ZREM, through the backend's own fast path."""
        tag = uuid.uuid4().hex[:8]
        ready, inflight = f"min:{{{tag}}}:ready".encode(), f"min:{{{tag}}}:inflight".encode()
        n = self.n_for(batch)
        for i in range(0, n, 10_000):
            await self.b._call("RPUSH", ready, *[f"{uuid.uuid4()}" for _ in range(min(10_000, n - i))])
        receive = _script("minimal_receive", MINIMAL_RECEIVE)
        delete = _script("minimal_delete", MINIMAL_DELETE)
        rhead, dhead = pack_head(receive.sha, [ready, inflight]), pack_head(delete.sha, [inflight])
        deadline = int(time.time() * 1000) + 600_000

        async def work() -> int:
            ids = await _eval(self.b, receive, [ready, inflight], [batch, deadline], rhead)
            if ids:
                await _eval(self.b, delete, [inflight], ids, dhead)
            return len(ids)

        rate = await self.run_tasks(tasks, work)
        await self.b._call("DEL", ready, inflight)
        return rate

    async def anatomy(self, batch: int) -> dict[str, float]:
        """Server time per message (receive + delete, INFO commandstats) of the minimal pair, of the
        same skeleton plus envelopes, plus the receive state and the fenced delete, and of
        qworker's own scripts: where the gap to the minimal pair comes from."""
        n = batch * 500
        body = b"x" * 250  # about the size of a 200-byte body's envelope
        out: dict[str, float] = {}
        variants = (
            ("minimal", MINIMAL_RECEIVE, MINIMAL_DELETE),
            ("+ envelope read and removal", ENVELOPE_RECEIVE, ENVELOPE_DELETE),
            ("+ receive state and fenced delete", STATE_RECEIVE, STATE_DELETE),
        )
        for label, receive_source, delete_source in variants:
            tag = uuid.uuid4().hex[:8]
            keys = [f"anatomy:{{{tag}}}:{part}".encode() for part in ("ready", "inflight", "msgs")]
            for i in range(0, n, 1000):
                ids = [str(uuid.uuid4()) for _ in range(min(1000, n - i))]
                await self.b._call("RPUSH", keys[0], *ids)
                await self.b._call("HSET", keys[2], *[v for k in ids for v in (k, body)])
            receive = _script("anatomy_receive", receive_source)
            delete = _script("anatomy_delete", delete_source)
            rhead, dhead = pack_head(receive.sha, keys), pack_head(delete.sha, keys[1:])
            deadline = str(int(time.time() * 1000) + 600_000)
            await self.b._call("CONFIG", "RESETSTAT")
            done = 0
            while reply := await _eval(self.b, receive, keys, [batch, deadline, "0123456789abcdef"], rhead):
                ids = reply if label == "minimal" else reply[0::2]
                await _eval(self.b, delete, keys[1:], ids, dhead)
                done += len(ids)
            usec = (await self.b._call("INFO", "commandstats"))["cmdstat_evalsha"]["usec"]
            out[label] = usec / done
            await self.b._call("DEL", *keys)
        queue = await self.new_queue()
        await self.fill(queue, n)
        await self.b._call("CONFIG", "RESETSTAT")
        while got := await self.b.receive(queue, max_messages=batch, wait_seconds=0):
            await self.b.delete(queue, [m.receipt_handle for m in got])
        out["qworker's scripts"] = (await self.b._call("INFO", "commandstats"))["cmdstat_evalsha"]["usec"] / n
        await self.b.delete_queue(queue)
        return out

    async def round_trip(self, samples: int) -> list[float]:
        """One message waiting: receive(1) then delete(1), in microseconds."""
        queue = await self.new_queue()
        out = []
        for _ in range(samples):
            await self.b.send(queue, [SendEntry("x")])
            start = time.perf_counter()
            (message,) = await self.b.receive(queue, wait_seconds=0)
            await self.b.delete(queue, [message.receipt_handle])
            out.append((time.perf_counter() - start) * 1e6)
        await self.b.delete_queue(queue)
        return out

    async def wake_up(self, receiver: RedisBackend, samples: int) -> list[float]:
        """Send on an empty queue while another client long-polls it: send start -> receive return."""
        queue = await self.new_queue()
        out = []
        for _ in range(samples):
            waiting = asyncio.create_task(receiver.receive(queue, wait_seconds=5))
            await asyncio.sleep(0.005)  # let the receiver block in BLPOP
            start = time.perf_counter()
            await self.b.send(queue, [SendEntry("wake")])
            (message,) = await waiting
            out.append((time.perf_counter() - start) * 1e6)
            await receiver.delete(queue, [message.receipt_handle])
        await self.b.delete_queue(queue)
        return out

    async def backlog_cost(self, backlog: int, samples: int) -> tuple[list[float], float]:
        """receive(10) + delete latency in us with ``backlog`` messages waiting; bytes/message."""
        queue = await self.new_queue()
        before = (await self.b._call("INFO", "memory"))["used_memory"]
        await self.fill(queue, backlog + samples * 10)
        after = (await self.b._call("INFO", "memory"))["used_memory"]
        out = []
        for _ in range(samples):
            start = time.perf_counter()
            got = await self.b.receive(queue, max_messages=10, wait_seconds=0)
            out.append((time.perf_counter() - start) * 1e6)
            await self.b.delete(queue, [m.receipt_handle for m in got])
        await self.b.delete_queue(queue)
        return out, (after - before) / (backlog + samples * 10)

    async def script_cost(self, batch: int) -> dict[str, float]:
        """Server-side microseconds per call of receive and delete (INFO commandstats)."""
        queue = await self.new_queue()
        n = batch * 200
        await self.fill(queue, n)
        got = []
        await self.b._call("CONFIG", "RESETSTAT")
        while len(got) < n:
            got += await self.b.receive(queue, max_messages=batch, wait_seconds=0)
        receive = (await self.b._call("INFO", "commandstats"))["cmdstat_evalsha"]["usec_per_call"]
        await self.b._call("CONFIG", "RESETSTAT")
        for i in range(0, n, batch):
            await self.b.delete(queue, [m.receipt_handle for m in got[i : i + batch]])
        delete = (await self.b._call("INFO", "commandstats"))["cmdstat_evalsha"]["usec_per_call"]
        await self.b.delete_queue(queue)
        return {"receive": receive, "delete": delete}


# -- the transport: qworker's lanes against redis-py's script path ---------------------------------


class RedisPyScripts(Transport):
    """The candidate transport: every script through redis-py's ``register_script`` (EVALSHA,
    reloading on NOSCRIPT), over the same client qworker makes (hiredis, the same timeouts,
    redis-py's retries off), with qworker's own retry policy around each call as on the lanes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registered: dict[str, Any] = {}

    async def eval(
        self, script: Script, keys: Sequence[bytes], args: Sequence[Any], head: bytes | None = None
    ) -> Any:
        registered = self._registered.get(script.name)
        if registered is None:
            registered = self._registered[script.name] = self.client.register_script(script.source)
        try:
            return await self.retrying(lambda: registered(keys=keys, args=args))
        except ResponseError as exc:
            raise BackendError(f"Redis script {script.name} failed: {exc}") from None

    async def wait_then_eval(
        self,
        notify: bytes,
        timeout: float,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        head: bytes,
        waiting: list[FastLane],
    ) -> Any | None:
        await self.wait(notify, timeout)  # BLPOP through redis-py, then the receive as usual
        return None


def on_transport(url: str, transport: type[Transport]) -> RedisBackend:
    """A backend whose commands go through ``transport`` (not connected yet)."""
    backend = RedisBackend(url)
    backend._transport = backend._core.transport = transport(backend._core.settings)
    return backend


TRANSPORT_CASES = (("send", 1), ("receive+delete", 1), ("receive+delete", 10))
TRANSPORT_REPEATS = 5


async def compare_transports(url: str, quick: bool) -> list[dict[str, Any]]:
    """Messages/s and client CPU per message of each case on each transport, 1 and 8 tasks;
    median of TRANSPORT_REPEATS runs, the two transports alternating within each repeat."""
    rows: list[dict[str, Any]] = []
    async with on_transport(url, Transport) as lanes, on_transport(url, RedisPyScripts) as redispy:
        benches = {"lanes": Bench(lanes, quick), "redis-py": Bench(redispy, quick)}
        for kind, batch in TRANSPORT_CASES:
            for tasks in (1, CONCURRENCY):
                samples: dict[str, list[tuple[float, float]]] = {name: [] for name in benches}
                for repeat in range(TRANSPORT_REPEATS):
                    order = list(benches) if repeat % 2 == 0 else list(reversed(benches))
                    for name in order:
                        bench = benches[name]
                        measure = bench.send_rate if kind == "send" else bench.receive_delete_rate
                        rate = await measure(batch, tasks)
                        samples[name].append((rate, bench.cpu_per_message))
                row: dict[str, Any] = {"case": kind, "batch": batch, "tasks": tasks}
                for name, values in samples.items():
                    row[name] = statistics.median(rate for rate, _ in values)
                    row[f"{name} cpu"] = statistics.median(cpu for _, cpu in values)
                rows.append(row)
                print(row, file=sys.stderr)
    return rows


def transport_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparison, and the decision it supports: keep the lanes only if they are at least
    1.3x faster end to end at batch 1 and at batch 10."""
    lines = [
        "### Redis transport: qworker's pipelined lanes against redis-py's script path",
        "",
        "The whole backend (validation, envelopes, the Lua scripts, decoding) with its script calls "
        "sent two ways, side by side in one run against one local redis-server: *lanes* "
        "(`qworker_redis.fastlane`: one pipelined asyncio Protocol per backend, hiredis) and "
        "*redis-py* (`register_script`: EVALSHA, reloading on NOSCRIPT, over the client qworker "
        "makes: hiredis, RESP2, the same timeouts, redis-py's own retries off, qworker's retry "
        "policy around each call on both). Messages/s, median of "
        f"{TRANSPORT_REPEATS} runs with the two alternating; client CPU = the benchmark process's "
        "CPU time per message while the operations ran.",
        "",
        "| operation | batch | tasks | lanes msgs/s | redis-py msgs/s | lanes ÷ redis-py "
        "| lanes CPU µs/msg | redis-py CPU µs/msg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['batch']} | {r['tasks']} | {r['lanes']:,.0f} | {r['redis-py']:,.0f} "
            f"| {r['lanes'] / r['redis-py']:.2f}x | {r['lanes cpu']:.0f} | {r['redis-py cpu']:.0f} |"
        )
    ends = [r for r in rows if r["case"] == "receive+delete"]
    worst = min(r["lanes"] / r["redis-py"] for r in ends)
    keep = worst >= 1.3
    lines += [
        "",
        f"Smallest end-to-end gain (receive+delete, batch 1 and 10, 1 and {CONCURRENCY} tasks): "
        f"**{worst:.2f}x**. Rule: keep a hand-written transport only if it is at least 1.3x faster "
        "end to end at batch 1 and 10. "
        + (
            "Decision: **keep the lanes** for script calls and long polls on a single node; "
            "redis-py carries the other commands and Redis Cluster, and one module "
            "(`qworker_redis.transport`) owns TLS, error mapping, NOSCRIPT and retries for both."
            if keep
            else "Decision: **drop the lanes**: redis-py's script path is close enough."
        ),
    ]
    return "\n".join(lines)


def redis_benchmark(port: int, quick: bool) -> list[tuple[str, str, str]]:
    rows = []
    n = "20000" if quick else "200000"
    for pipeline in ("1", "16"):
        out = subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-q",
                "-n",
                n,
                "-P",
                pipeline,
                "-t",
                "ping,set,get,lpush,lpop",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
        for line in out.replace("\r", "\n").splitlines():
            m = re.match(r"^(\S+): ([\d.]+) requests per second", line.strip())
            if m:
                rows.append((m.group(1), pipeline, m.group(2)))
    return rows


def targets(rows: list[dict[str, Any]], wake: list[float], small: list[float], big: list[float]) -> list[str]:
    by = {r["batch"]: r for r in rows}
    c = CONCURRENCY
    lines = []
    for batch, goal in ((10, 60_000), (100, 150_000)):
        best = max(by[batch]["full1"], by[batch][f"full{c}"])
        lines.append(
            f"| receive+delete {goal:,}/s at batch {batch} | {by[batch]['full1']:,.0f} (1 task), "
            f"{by[batch][f'full{c}']:,.0f} ({c} tasks) | {'yes' if best >= goal else 'no'} |"
        )
    for batch in (10, 100):
        r = by[batch]
        ratios = (r["full1"] / r["min1"], r[f"full{c}"] / r[f"min{c}"])
        lines.append(
            f"| ≥ 70% of the minimal pair at batch {batch} | {ratios[0]:.0%} (1 task), {ratios[1]:.0%} "
            f"({c} tasks) | {'yes' if max(ratios) >= 0.7 else 'no'} |"
        )
    lines.append(
        f"| wake-up < 1 ms median | {statistics.median(wake):,.0f} µs | "
        f"{'yes' if statistics.median(wake) < 1000 else 'no'} |"
    )
    growth = statistics.median(big) / statistics.median(small)
    lines.append(
        f"| receive cost at 1M within 20% of 1k | {growth:.2f}x | {'yes' if growth <= 1.2 else 'no'} |"
    )
    return lines


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else values[0]


async def main(quick: bool) -> str:
    server = RedisServer("--appendonly", "no", "--maxmemory-policy", "noeviction").start()
    try:
        async with RedisBackend(server.url) as backend, RedisBackend(server.url) as receiver:
            bench = Bench(backend, quick)
            rows: list[dict[str, Any]] = []
            for batch in BATCHES:
                row: dict[str, Any] = {"batch": batch}
                for tasks in (1, CONCURRENCY):
                    # best of REPEATS, interleaved, so a noisy neighbour hurts both sides alike
                    for _ in range(REPEATS):
                        for key, measure in (
                            ("send", bench.send_rate),
                            ("full", bench.receive_delete_rate),
                            ("min", bench.minimal_rate),
                        ):
                            rate = await measure(batch, tasks)
                            row[f"{key}{tasks}"] = max(rate, row.get(f"{key}{tasks}", 0.0))
                row["cost"] = await bench.script_cost(batch)
                rows.append(row)
                print(row, file=sys.stderr)
            anatomy = {batch: await bench.anatomy(batch) for batch in (10, 100)}
            trip = await bench.round_trip(200 if quick else 2000)
            wake = await bench.wake_up(receiver, 50 if quick else 300)
            small, _ = await bench.backlog_cost(1_000, 200 if quick else 1000)
            big_n = 100_000 if quick else 1_000_000
            big, per_message = await bench.backlog_cost(big_n, 200 if quick else 1000)
        bench_rows = redis_benchmark(server.port, quick)
    finally:
        server.cleanup()

    lines = [
        "### Redis backend (`qworker_redis`), one Python process, redis-py + hiredis, local redis-server",
        "",
        f"Messages/s, best of {REPEATS} interleaved runs. *1 task*: one coroutine, each call "
        "awaited before the next. *8 tasks*: eight "
        "coroutines on one event loop (calls overlap; Redis or the Python process saturates). "
        "*minimal*: the physical limit of this design, measured in the same run through the same "
        "client path: a script that only moves N ids from a ready LIST to an in-flight ZSET and "
        "one that only removes them. *ratio* = full / minimal. Server-side script time per call "
        "from `INFO commandstats`.",
        "",
        "| batch | send, 1 task | send, 8 tasks | receive+delete, 1 task | minimal, 1 task | ratio "
        "| receive+delete, 8 tasks | minimal, 8 tasks | ratio | receive script µs/call "
        "| delete script µs/call |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['send1']:,.0f} | {r[f'send{CONCURRENCY}']:,.0f} | {r['full1']:,.0f} "
            f"| {r['min1']:,.0f} | {r['full1'] / r['min1']:.0%} | {r[f'full{CONCURRENCY}']:,.0f} "
            f"| {r[f'min{CONCURRENCY}']:,.0f} | {r[f'full{CONCURRENCY}'] / r[f'min{CONCURRENCY}']:.0%} "
            f"| {r['cost']['receive']:.0f} | {r['cost']['delete']:.0f} |"
        )
    lines += [
        "",
        "| latency (µs) | median | p99 |",
        "|---|---:|---:|",
        f"| receive(1) + delete(1) round trip | {statistics.median(trip):,.0f} | {pct(trip, 99):,.0f} |",
        f"| send on an empty queue -> waiting receiver returns | {statistics.median(wake):,.0f} "
        f"| {pct(wake, 99):,.0f} |",
        f"| receive(10), 1,000 messages waiting | {statistics.median(small):,.0f} | {pct(small, 99):,.0f} |",
        f"| receive(10), {big_n:,} messages waiting | {statistics.median(big):,.0f} | {pct(big, 99):,.0f} |",
        "",
        f"Receive cost at {big_n:,} versus 1,000 waiting: "
        f"{statistics.median(big) / statistics.median(small):.2f}x (median). "
        f"Memory: {per_message:,.0f} bytes per waiting message (body ~16 bytes).",
        "",
        "Against the issue's targets:",
        "",
        "| target | measured | met |",
        "|---|---|:-:|",
        *targets(rows, wake, small, big),
        "",
        "What bounds the ratio: server-side work per message that SQS semantics need. With calls "
        "overlapped (8 tasks) Redis saturates first, so the ratio approaches the ratio of server "
        "time per message. The anatomy below builds up from the minimal pair, one skeleton "
        "script per step, in Redis time per message (receive + delete, `INFO commandstats`, one "
        "task, 250-byte envelopes): reading and removing the envelope, then writing the receive "
        "state (fencing token, count, first receive) and the fenced delete that checks it. A "
        "receive must return the message and a delete must not remove a message received again "
        "since (ESM-F-6), so no design on this data path can skip those steps; 70% of the minimal "
        "pair allows 1/0.7 = 1.43x. qworker's scripts add, per call, the queue's attributes and "
        "incarnation check, Redis's clock, retention, delays and visibility returns, and per "
        "message the DLQ check, ghosts and quarantine.",
        "",
        *anatomy_table(anatomy),
        "",
        "redis-benchmark against the same server (requests/s):",
        "",
        "| test | pipeline | requests/s |",
        "|---|---:|---:|",
        *[f"| {test} | {pipeline} | {float(rps):,.0f} |" for test, pipeline, rps in bench_rows],
    ]
    return "\n".join(lines)


def anatomy_table(anatomy: dict[int, dict[str, float]]) -> list[str]:
    """The anatomy rows: µs per message at batch 10 and 100, and each as a multiple of the minimal pair."""
    return [
        "| Redis µs per message | batch 10 | batch 100 |",
        "|---|---:|---:|",
        *[
            f"| {label} | {anatomy[10][label]:.2f} ({anatomy[10][label] / anatomy[10]['minimal']:.1f}x) "
            f"| {anatomy[100][label]:.2f} ({anatomy[100][label] / anatomy[100]['minimal']:.1f}x) |"
            for label in anatomy[10]
        ],
    ]


async def anatomy_main(runs: int) -> str:
    """Only the anatomy, ``runs`` times on one server; each run's table, and qworker's scripts
    as a multiple of the skeleton ("+ receive state and fenced delete") of the same run."""
    server = RedisServer("--appendonly", "no", "--maxmemory-policy", "noeviction").start()
    lines: list[str] = []
    try:
        async with RedisBackend(server.url) as backend:
            bench = Bench(backend, quick=False)
            for run in range(1, runs + 1):
                anatomy = {batch: await bench.anatomy(batch) for batch in (10, 100)}
                ours = {b: anatomy[b]["qworker's scripts"] / anatomy[b][SKELETON] for b in (10, 100)}
                title = f"run {run}: qworker / skeleton: {ours[10]:.2f}x at batch 10, {ours[100]:.2f}x at 100"
                table = [title, "", *anatomy_table(anatomy), ""]
                print("\n".join(table), file=sys.stderr)
                lines += table
    finally:
        server.cleanup()
    return "\n".join(lines)


async def transport_main(quick: bool) -> str:
    server = RedisServer("--appendonly", "no", "--maxmemory-policy", "noeviction").start()
    try:
        rows = await compare_transports(server.url, quick)
    finally:
        server.cleanup()
    return transport_markdown(rows)


def _run(coroutine: Awaitable[str]) -> str:
    try:  # the qworker runtime runs on uvloop when it is installed; measure the same loop
        import uvloop

        return uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--transport-only", action="store_true", help="only the lanes / redis-py comparison")
    parser.add_argument(
        "--anatomy-only",
        type=int,
        nargs="?",
        const=3,
        metavar="RUNS",
        help="only the anatomy (Redis µs per message), RUNS times (3), printed; RESULTS.md untouched",
    )
    options = parser.parse_args()
    if options.anatomy_only:
        print(_run(anatomy_main(options.anatomy_only)))
        sys.exit(0)
    flags = (" --quick" if options.quick else "") + (" --transport-only" if options.transport_only else "")
    command = "python -m benchmarks.bench_redis" + flags
    if not options.transport_only:
        markdown = _run(main(options.quick))
        print(markdown)
        if not options.quick:
            write_section("redis-backend", markdown, command)
    markdown = _run(transport_main(options.quick))
    print(markdown)
    if not options.quick:
        write_section("redis-transport", markdown, command)

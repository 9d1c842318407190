"""The send-batch(10) + receive(10) + delete-batch(10) loop through ``qworker serve`` with boto3,
beside the same loop through moto's SQS server and through qworker's Python client, in one run.

Run: ``python -m benchmarks.bench_serve_loop`` (``--quick`` for a smoke run, ``--no-write`` to
only print, ``--profile`` to add py-spy's view of the server's event-loop thread). It writes the
``serve-loop`` section of ``benchmarks/RESULTS.md`` and prints one JSON line with the figures.

One loop is: ``SendMessageBatch`` of 10 ~100-byte bodies, ``ReceiveMessage``
(``MaxNumberOfMessages=10``, ``WaitTimeSeconds=0``), ``DeleteMessageBatch`` of what was received.
Five cases, interleaved in every round (``--rounds``, default 3; medians):

* **serve, SQLite** and **serve, Redis**: one ``qworker serve`` process (its defaults, one
  uvicorn worker) on ``sqlite:///`` (a file in a temporary directory) and on a private
  redis-server (free loopback port, ``--save "" --appendonly no``);
* **moto**: moto's ``ThreadedMotoServer`` in a child process, its SQS operations serialized
  (:mod:`qworker_sqs.testing`: moto's model is not thread-safe; the loop keeps its queue at a
  few dozen messages at most, where moto is at its fastest);
* **client, SQLite** and **client, Redis**: the same loop in this process through qworker's
  Python client on the same kind of backend: ``AsyncClient.send_batch`` and, since the client
  sends only, ``client.backend.receive`` / ``client.backend.delete`` (what the worker runtime
  calls), on uvloop.

The API cases all run the same client code, twice: boto3 with its default configuration (a
client per process, urllib3's keep-alive pool), what a user of ``qworker serve`` runs, and a lean
client (:class:`_LeanSQS`: raw JSON-protocol requests on one keep-alive connection), the fast
load generator that lets the server's rate show; each in ``--clients`` processes (default 2, one
per core here), one loop each, so the client's CPU does not share one GIL. The
Python-client cases run ``--clients`` loops as tasks on one ``AsyncClient``. Each case
gets a fresh queue; the loops start ``--warmup`` seconds before a window of ``--seconds`` and
the messages whose ``DeleteMessageBatch`` returned inside the window are counted (all clocks
are CLOCK_MONOTONIC, one clock for all processes).

Besides messages/s the run reads CPU time (``/proc``, all threads) over the window: the client
processes', the server process's (its event-loop thread apart), redis-server's. CPU per message
is what another load on the shared machine disturbs least, so it says where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

BODY = '{"id":12345,"kind":"order.created","payload":"' + "x" * 48 + '"}'  # ~100 bytes
REGION = "us-east-1"
#: the targets of issue #15
TARGET_VS_MOTO = 20.0
TARGET_VS_CLIENT = 0.5

SERVE_SQLITE, SERVE_REDIS, MOTO = "serve, SQLite", "serve, Redis", "moto"
#: the same endpoints driven by the lean client (the issue's "fast load generator")
LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO = "serve, SQLite, lean", "serve, Redis, lean", "moto, lean"
CLIENT_SQLITE, CLIENT_REDIS = "client, SQLite", "client, Redis"
CASES = (SERVE_SQLITE, SERVE_REDIS, MOTO, LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO, CLIENT_SQLITE, CLIENT_REDIS)
LEAN = (LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO)


# -- CPU time from /proc --------------------------------------------------------------------------


def _ticks(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    return _ticks(Path(f"/proc/{pid}/stat").read_text())


def main_thread_seconds(pid: int) -> float:
    """User + system CPU seconds of a process's main thread (the event loop's, here)."""
    return _ticks(Path(f"/proc/{pid}/task/{pid}/stat").read_text())


# -- the boto3 loop, in client processes ----------------------------------------------------------

_clients: dict[str, Any] = {}


def _sqs(endpoint: str) -> Any:
    """One boto3 client per endpoint and process (boto3's defaults, as a user has them)."""
    if endpoint not in _clients:
        import boto3

        _clients[endpoint] = boto3.session.Session().client("sqs", endpoint_url=endpoint, region_name=REGION)
    return _clients[endpoint]


def _prepare_client_process() -> None:
    import boto3  # noqa: F401  (imported once, before any window)


class _Boto3SQS:
    """boto3's client behind the lean client's ``call(action, payload)``, so one loop drives both."""

    def __init__(self, endpoint: str) -> None:
        sqs = _sqs(endpoint)
        self._methods = {
            "SendMessageBatch": sqs.send_message_batch,
            "ReceiveMessage": sqs.receive_message,
            "DeleteMessageBatch": sqs.delete_message_batch,
        }

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._methods[action](**payload)


def _loop(sqs: Any, queue_url: str, start_at: float, end_at: float) -> tuple[int, float]:
    """Send 10, receive 10, delete what came, until ``end_at``; (messages deleted inside the
    window, CPU seconds in it)."""
    entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
    deleted, cpu_start = 0, None
    while True:
        now = time.monotonic()
        if cpu_start is None and now >= start_at:
            cpu_start = time.process_time()
        if now >= end_at:
            break
        sent = sqs.call("SendMessageBatch", {"QueueUrl": queue_url, "Entries": entries})
        assert not sent.get("Failed"), sent
        received = sqs.call(
            "ReceiveMessage", {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}
        )
        messages = received.get("Messages", [])
        if not messages:
            continue
        handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        result = sqs.call("DeleteMessageBatch", {"QueueUrl": queue_url, "Entries": handles})
        assert not result.get("Failed"), result
        if start_at <= time.monotonic() <= end_at:
            deleted += len(result.get("Successful", []))
    return deleted, time.process_time() - (cpu_start or time.process_time())


def api_loop(endpoint: str, queue_url: str, start_at: float, end_at: float) -> tuple[int, float]:
    """One boto3 loop (what a user of ``qworker serve`` runs)."""
    return _loop(_Boto3SQS(endpoint), queue_url, start_at, end_at)


# -- the lean loop: the same three calls as raw JSON-protocol requests ------------------------------


#: a well-formed SigV4 header whose signature nobody checks (no access keys on either server)
_UNCHECKED_SIGNATURE = (
    f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/sqs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=" + "0" * 64
)


class _LeanSQS:
    """SQS's AWS JSON 1.0 protocol over one keep-alive ``http.client`` connection, with a
    signature nobody checks (neither server has access keys): the least a client can
    spend on a call, so that the loop measures the server and not boto3's request pipeline."""

    def __init__(self, endpoint: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload)
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AmazonSQS.{action}",
            "Authorization": _UNCHECKED_SIGNATURE,  # moto reads the region from it
        }
        for attempt in (1, 2):
            try:
                self._connection.request("POST", "/", body, headers)
                response = self._connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, OSError):  # the server closed an idle keep-alive connection
                self._connection.close()
                if attempt == 2:
                    raise
        if response.status != 200:
            raise RuntimeError(f"{action}: HTTP {response.status}: {data[:300]!r}")
        return json.loads(data) if data else {}


def lean_loop(endpoint: str, queue_url: str, start_at: float, end_at: float) -> tuple[int, float]:
    """One loop with :class:`_LeanSQS` in place of boto3 (the fast load generator)."""
    return _loop(_LeanSQS(endpoint), queue_url, start_at, end_at)


# -- the Python-client loop, in this process ------------------------------------------------------


async def _client_loop(client: Any, queue: str, start_at: float, end_at: float, counts: list[int]) -> None:
    from qworker.client.messages import Message

    backend = client.backend
    batch = [Message(BODY) for _ in range(10)]
    while time.monotonic() < end_at:
        result = await client.send_batch(queue, batch)
        result.raise_for_failures()
        messages = await backend.receive(queue, max_messages=10, wait_seconds=0)
        if not messages:
            continue
        failed = await backend.delete(queue, [m.receipt_handle for m in messages])
        assert not failed, failed
        if start_at <= time.monotonic() <= end_at:
            counts[0] += len(messages)


async def _client_run(
    url: str, loops: int, warmup: float, seconds: float, redis_pid: int | None
) -> tuple[int, dict[str, float]]:
    """(messages deleted in the window, CPU seconds in it: this process, its main thread, Redis)."""
    import qworker

    pid = os.getpid()
    probes: dict[str, Callable[[], float]] = {
        "clients": lambda: cpu_seconds(pid),
        "clients event loop": lambda: main_thread_seconds(pid),
    }
    if redis_pid:
        probes["redis-server"] = lambda: cpu_seconds(redis_pid)
    async with qworker.AsyncClient.from_url(url) as client:
        queue = f"loop-{uuid.uuid4().hex[:8]}"
        await client.create_queue(queue)
        start_at = time.monotonic() + warmup
        end_at = start_at + seconds
        counts = [0]
        loops_done = asyncio.gather(
            *(_client_loop(client, queue, start_at, end_at, counts) for _ in range(loops))
        )
        await asyncio.sleep(start_at - time.monotonic())
        before = {role: probe() for role, probe in probes.items()}
        await asyncio.sleep(end_at - time.monotonic())
        cpu = {role: probe() - before[role] for role, probe in probes.items()}
        await loops_done
        await client.backend.delete_queue(queue)
    return counts[0], cpu


# -- the measurements -----------------------------------------------------------------------------


@dataclass
class Sample:
    """One case's window: messages/s and CPU seconds per message by role."""

    rate: float
    #: role -> CPU µs per message ("clients", "server", "server event loop", "redis-server")
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass
class Api:
    """An SQS endpoint the boto3 loops run against, and the processes whose CPU is counted."""

    endpoint: str
    server_pid: int
    redis_pid: int | None = None
    #: True for a qworker serve process (its main thread is its event loop)
    event_loop: bool = True
    #: the client loop run against it (boto3's, or the lean one)
    loop: Callable[[str, str, float, float], tuple[int, float]] = api_loop


def measure_api(pool: Pool, api: Api, loops: int, warmup: float, seconds: float) -> Sample:
    sqs = _sqs(api.endpoint)
    queue_url = sqs.create_queue(QueueName=f"loop-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    start_at = time.monotonic() + warmup
    end_at = start_at + seconds
    pending = pool.starmap_async(api.loop, [(api.endpoint, queue_url, start_at, end_at)] * loops, chunksize=1)
    pids = {"server": api.server_pid}
    if api.redis_pid:
        pids["redis-server"] = api.redis_pid
    time.sleep(max(0.0, start_at - time.monotonic()))
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    loop_before = main_thread_seconds(api.server_pid)
    time.sleep(max(0.0, end_at - time.monotonic()))
    after = {role: cpu_seconds(pid) for role, pid in pids.items()}
    loop_after = main_thread_seconds(api.server_pid)
    outcomes = pending.get(timeout=warmup + seconds + 120)
    deleted = sum(count for count, _ in outcomes)
    if not deleted:
        raise RuntimeError(f"no message went round the loop on {api.endpoint}")
    per_message = 1e6 / deleted
    cpu = {"clients": sum(seconds for _, seconds in outcomes) * per_message}
    cpu.update({role: (after[role] - before[role]) * per_message for role in pids})
    if api.event_loop:
        cpu["server event loop"] = (loop_after - loop_before) * per_message
    try:
        sqs.delete_queue(QueueUrl=queue_url)
    except Exception:  # moto: a queue left behind does no harm
        pass
    return Sample(deleted / seconds, cpu)


def measure_client(
    url: str, loops: int, warmup: float, seconds: float, redis_pid: int | None = None
) -> Sample:
    import uvloop

    deleted, cpu = uvloop.run(_client_run(url, loops, warmup, seconds, redis_pid))
    if not deleted:
        raise RuntimeError(f"no message went round the loop on {url}")
    return Sample(deleted / seconds, {role: value * 1e6 / deleted for role, value in cpu.items()})


# -- py-spy's view of the server ------------------------------------------------------------------

#: own-time groups of the server's event-loop thread: a leaf frame containing one of the
#: strings is in the group, first match wins
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("writes of responses to the client socket (`CoalescingTransport._flush`)",
     ("_flush (qworker/serve/protocol.py",)),
    ("uvloop/libuv in C: epoll, socket reads, callback dispatch (`Runner.run`)",
     ("Runner.run (asyncio/runners.py",)),
    ("backend client (qworker_redis, qworker_sqlite, redis-py), its socket writes included",
     ("qworker_redis/", "qworker_sqlite/", "redis/")),
    ("HTTP server (uvicorn's httptools protocol)", ("uvicorn/",)),
    ("SQS API layer (qworker/serve)", ("qworker/serve/",)),
    ("qworker core (digests, limits, ids, metrics)", ("qworker/",)),
)  # fmt: skip


def profile_serve(pool: Pool, api: Api, loops: int, warmup: float, seconds: float) -> tuple[Sample, str]:
    """One more window of ``api`` with py-spy on the server; markdown lines for the event-loop thread."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in this venv: python -m benchmarks setup")
    raw = Path(tempfile.mkdtemp(prefix="qworker-serve-loop-")) / "serve.txt"
    command = [
        str(spy), "record", "--pid", str(api.server_pid), "--rate", "250", "--format", "raw",
        "--nonblocking", "--threads", "--duration", str(round(warmup + seconds)), "--output", str(raw),
    ]  # fmt: skip
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sample = measure_api(pool, api, loops, warmup, seconds)
    finally:
        recorder.wait(60)
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[0].endswith(": MainThread") and len(frames) > 1:
            own[frames[-1]] += int(count)
    total = sum(own.values()) or 1
    groups: Counter[str] = Counter()
    for frame, count in own.items():
        group = next(
            (name for name, marks in _GROUPS if any(m in frame for m in marks)),
            "other (stdlib: asyncio, json, ...)",
        )
        groups[group] += count
    loop_us = sample.cpu.get("server event loop", 0.0)
    lines = [
        "| where the event-loop thread's time goes (py-spy, own time) | share | ≈ µs/message |",
        "| --- | ---: | ---: |",
    ]
    for name, count in groups.most_common():
        lines.append(f"| {name} | {count / total:.0%} | {loop_us * count / total:,.0f} |")
    lines += ["", "| top functions (own time) | share |", "| --- | ---: |"]
    for frame, count in own.most_common(8):
        lines.append(f"| `{frame}` | {count / total:.1%} |")
    return sample, "\n".join(lines)


# -- the run --------------------------------------------------------------------------------------


def _fmt_rates(samples: list[Sample]) -> str:
    rates = [s.rate for s in samples]
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})"


def _median_cpu(samples: list[Sample], role: str) -> float | None:
    values = [s.cpu[role] for s in samples if role in s.cpu]
    return statistics.median(values) if values else None


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    import boto3  # noqa: F401  (the parent creates the queues)

    from benchmarks.bench_sqs import moto_child
    from qworker.testing.serve import ServeProcess
    from qworker_redis.testing import RedisServer

    folder = Path(tempfile.mkdtemp(prefix="qworker-serve-loop-"))
    redis = RedisServer("--appendonly", "no").start()
    servers: list[ServeProcess] = []
    samples: dict[str, list[Sample]] = {case: [] for case in CASES}
    anatomy: dict[str, str] = {}
    context = multiprocessing.get_context("spawn")
    try:
        assert redis.process is not None
        redis_pid = redis.process.pid
        serve_sqlite = ServeProcess(f"sqlite:///{folder}/serve.db").start()
        servers.append(serve_sqlite)
        serve_redis = ServeProcess(f"{redis.url}?prefix=s{uuid.uuid4().hex[:6]}").start()
        servers.append(serve_redis)
        assert serve_sqlite.process is not None and serve_redis.process is not None
        with (
            moto_child() as (moto, moto_process),
            context.Pool(args.clients, _prepare_client_process) as pool,
        ):
            apis = {
                SERVE_SQLITE: Api(serve_sqlite.url, serve_sqlite.process.pid),
                SERVE_REDIS: Api(serve_redis.url, serve_redis.process.pid, redis_pid),
                MOTO: Api(moto.endpoint_url, moto_process.pid, event_loop=False),
                LEAN_SQLITE: Api(serve_sqlite.url, serve_sqlite.process.pid, loop=lean_loop),
                LEAN_REDIS: Api(serve_redis.url, serve_redis.process.pid, redis_pid, loop=lean_loop),
                LEAN_MOTO: Api(moto.endpoint_url, moto_process.pid, event_loop=False, loop=lean_loop),
            }
            direct = {
                CLIENT_SQLITE: lambda: measure_client(
                    f"sqlite:///{folder}/client.db", args.clients, args.warmup, args.seconds
                ),
                CLIENT_REDIS: lambda: measure_client(
                    f"{redis.url}?prefix=c{uuid.uuid4().hex[:6]}",
                    args.clients,
                    args.warmup,
                    args.seconds,
                    redis_pid,
                ),
            }
            for round_ in range(args.rounds):
                for case in CASES:
                    if case in apis:
                        sample = measure_api(pool, apis[case], args.clients, args.warmup, args.seconds)
                    else:
                        sample = direct[case]()
                    samples[case].append(sample)
                    print(f"round {round_ + 1}: {case}: {sample.rate:,.0f} msgs/s", file=sys.stderr)
            if args.profile:
                for case in (SERVE_SQLITE, SERVE_REDIS):
                    sample, anatomy[case] = profile_serve(
                        pool, apis[case], args.clients, args.warmup, args.seconds
                    )
                    anatomy[case] = f"Under py-spy: {sample.rate:,.0f} msgs/s.\n\n" + anatomy[case]
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return report(args, samples, anatomy)


def _ratios(samples: dict[str, list[Sample]], top: str, bottom: str) -> list[float]:
    return [a.rate / b.rate for a, b in zip(samples[top], samples[bottom], strict=True)]


def report(
    args: argparse.Namespace, samples: dict[str, list[Sample]], anatomy: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    import boto3
    import moto

    pairs = (
        ("lean client: serve, SQLite / moto", LEAN_SQLITE, LEAN_MOTO, TARGET_VS_MOTO),
        ("lean client: serve, Redis / moto", LEAN_REDIS, LEAN_MOTO, TARGET_VS_MOTO),
        ("lean client: serve, SQLite / client, SQLite", LEAN_SQLITE, CLIENT_SQLITE, TARGET_VS_CLIENT),
        ("lean client: serve, Redis / client, Redis", LEAN_REDIS, CLIENT_REDIS, TARGET_VS_CLIENT),
        ("boto3: serve, SQLite / moto", SERVE_SQLITE, MOTO, TARGET_VS_MOTO),
        ("boto3: serve, Redis / moto", SERVE_REDIS, MOTO, TARGET_VS_MOTO),
        ("boto3: serve, SQLite / client, SQLite", SERVE_SQLITE, CLIENT_SQLITE, TARGET_VS_CLIENT),
        ("boto3: serve, Redis / client, Redis", SERVE_REDIS, CLIENT_REDIS, TARGET_VS_CLIENT),
    )
    ratios = {name: (_ratios(samples, top, bottom), target) for name, top, bottom, target in pairs}
    processes = f"{args.clients} process" + ("es" if args.clients != 1 else "")
    tasks = f"{args.clients} task" + ("s" if args.clients != 1 else "")
    how = {
        SERVE_SQLITE: f"boto3 {boto3.__version__}, {processes} → `qworker serve` (sqlite:///)",
        SERVE_REDIS: f"boto3, {processes} → `qworker serve` (redis://, private redis-server)",
        MOTO: f"boto3, {processes} → moto {moto.__version__} `ThreadedMotoServer` (serialized)",
        LEAN_SQLITE: f"lean client (`http.client`, JSON 1.0, keep-alive), {processes} → `qworker serve` "
        "(sqlite:///)",
        LEAN_REDIS: f"lean client, {processes} → `qworker serve` (redis://)",
        LEAN_MOTO: f"lean client, {processes} → moto (serialized)",
        CLIENT_SQLITE: f"`AsyncClient` + its backend, {tasks}, this process (sqlite:///)",
        CLIENT_REDIS: f"`AsyncClient` + its backend, {tasks}, this process (redis://)",
    }
    lines = [
        "## The SQS loop through `qworker serve`, moto's server and the Python client (issue #15)",
        "",
        "One loop: `SendMessageBatch` (10 bodies of ~100 bytes), `ReceiveMessage` "
        "(`MaxNumberOfMessages=10`, `WaitTimeSeconds=0`), `DeleteMessageBatch` of what came; "
        f"{args.clients} loops at once, a fresh standard queue per case; messages/s deleted in a "
        f"{args.seconds:g} s window after {args.warmup:g} s of warm-up; median (min–max) of "
        f"{args.rounds} interleaved rounds. CPU µs per message over the window (`/proc`, all "
        "threads): the boto3 processes (for the client rows: this process, backend included), "
        "the server process (its event-loop thread in brackets), redis-server.",
        "",
        "| case | how | messages/s | client CPU µs/msg | server CPU µs/msg (event loop) | "
        "redis-server µs/msg |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        server = _median_cpu(samples[case], "server")
        loop = _median_cpu(samples[case], "server event loop")
        server_text = _us(server) + (f" ({_us(loop)})" if loop is not None else "")
        if case in (CLIENT_SQLITE, CLIENT_REDIS):
            client_loop = _median_cpu(samples[case], "clients event loop")
            client_text = f"{_us(_median_cpu(samples[case], 'clients'))} ({_us(client_loop)})"
        else:
            client_text = _us(_median_cpu(samples[case], "clients"))
        lines.append(
            f"| {case} | {how[case]} | {_fmt_rates(samples[case])} | {client_text} | {server_text} | "
            f"{_us(_median_cpu(samples[case], 'redis-server'))} |"
        )
    lines += [
        "",
        "| ratio (median of the rounds' ratios) | value | rounds | target | met |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    verdict: dict[str, Any] = {}
    for name, (values, target) in ratios.items():
        value = statistics.median(values)
        met = value >= target
        verdict[name] = {"median": round(value, 3), "rounds": [round(v, 3) for v in values], "met": met}
        target_text = f"≥ {target:g}×" if target >= 1 else f"≥ {target:.0%}"
        value_text = f"{value:.1f}×" if target >= 1 else f"{value:.0%}"
        per_round = ", ".join(f"{v:.1f}×" if target >= 1 else f"{v:.0%}" for v in values)
        lines.append(f"| {name} | {value_text} | {per_round} | {target_text} | {'yes' if met else 'no'} |")

    # the anatomy: CPU per message, and what each process could do with a core of its own
    def cpu(case: str, role: str) -> float:
        return _median_cpu(samples[case], role) or 0.0

    cores = os.cpu_count() or 1
    moto_server = cpu(MOTO, "server")
    lines += ["", "Where the CPU goes, per message (the medians above):", ""]
    for serve, client in ((SERVE_SQLITE, CLIENT_SQLITE), (SERVE_REDIS, CLIENT_REDIS)):  # boto3 rows
        boto, server, store = cpu(serve, "clients"), cpu(serve, "server"), cpu(serve, "redis-server")
        direct, direct_store = cpu(client, "clients"), cpu(client, "redis-server")
        total = boto + server + store
        lines.append(
            f"* **{serve}**: the loop costs {total:,.0f} µs of CPU per message: boto3 {boto:,.0f} "
            f"({boto / total:.0%}), the server {server:,.0f}"
            + (f", redis-server {store:,.0f}" if store else "")
            + f". The Python client's loop costs {direct + direct_store:,.0f}"
            + (f" (redis-server {direct_store:,.0f} of it)" if direct_store else "")
            + f". On {cores} cores boto3's share alone caps the loop at {cores * 1e6 / boto:,.0f} "
            f"msgs/s (on an otherwise idle machine). With a core of its own and a client that cost "
            f"nothing, the server process would do {1e6 / server:,.0f} msgs/s: "
            f"{moto_server / server:.1f}× moto's process at its own CPU cost ({moto_server:,.0f} µs "
            f"a message, {1e6 / moto_server:,.0f} msgs/s), {direct / server:.0%} of the Python "
            f"client's process ({direct:,.0f} µs, {1e6 / direct:,.0f} msgs/s)."
        )
    if anatomy:
        for case, text in anatomy.items():
            lines += ["", f"### {case}: the server's event-loop thread under py-spy", "", text]
    figures = {
        "bench": "serve-loop",
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "msgs_per_s": {case: [round(s.rate) for s in samples[case]] for case in CASES},
        "cpu_us_per_msg": {
            case: {role: round(_median_cpu(samples[case], role) or 0.0, 1) for role in samples[case][0].cpu}
            for case in CASES
        },
        "ratios": verdict,
    }
    return "\n".join(lines), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2, help="loops at once (processes for boto3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured window per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of loops before the window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="py-spy on the server, one more window each")
    parser.add_argument("--quick", action="store_true", help="one round of 1 s windows (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 1.0, 0.5
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    from qworker import logs

    logs.configure("json", "warning")
    body, figures = run(args)
    print(body)
    print(json.dumps(figures))
    if not args.no_write:
        command = "python -m benchmarks.bench_serve_loop" + "".join(
            flag
            for flag, on in (
                (" --quick", args.quick),
                (" --profile", args.profile),
                (f" --clients {args.clients}", args.clients != 2),
                (f" --rounds {args.rounds}", args.rounds != 3 and not args.quick),
                (f" --seconds {args.seconds:g}", args.seconds != 3.0 and not args.quick),
                (f" --warmup {args.warmup:g}", args.warmup != 1.0 and not args.quick),
            )
            if on
        )
        from benchmarks.results import write_section

        print(write_section("serve-loop", body, command))


if __name__ == "__main__":
    main()

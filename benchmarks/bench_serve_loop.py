"""The send-batch(10) + receive(10) + delete-batch(10) loop through ``qworker serve``, beside the
same loop through moto's SQS server and through qworker's Python client, in one run.

Run: ``python -m benchmarks.bench_serve_loop`` (``--quick`` for a smoke run, ``--no-write`` to
only print, ``--profile`` to add py-spy's view of the server's event-loop thread). It writes the
``serve-loop`` section of ``benchmarks/RESULTS.md`` and prints one JSON line with the figures.

One loop is: ``SendMessageBatch`` of 10 ~100-byte bodies, ``ReceiveMessage``
(``MaxNumberOfMessages=10``, ``WaitTimeSeconds=0``), ``DeleteMessageBatch`` of what was received.
The endpoints:

* **serve, SQLite** and **serve, Redis**: one ``qworker serve`` process (its defaults, one
  uvicorn worker) on ``sqlite:///`` (a file in a temporary directory) and on a private
  redis-server (free loopback port, ``--save "" --appendonly no``);
* **moto**: moto's ``ThreadedMotoServer`` in a child process, its SQS operations serialized
  (:mod:`qworker_sqs.testing`: moto's model is not thread-safe; the loop keeps its queue at a
  few dozen messages at most, where moto is at its fastest);
* **client, SQLite** and **client, Redis**: the same loop in this process through qworker's
  Python client on the same kind of backend: ``AsyncClient.send_batch`` and, since the client
  sends only, ``client.backend.receive`` / ``client.backend.delete`` (what the worker runtime
  calls), on uvloop, ``--clients`` loops as tasks on one ``AsyncClient``.

Each API endpoint is driven by three load generators, each running ``--clients`` loops (default
2, one per core here): **wrk** with :file:`serve_loop/loop.lua` (one thread and one keep-alive
connection per loop; the issue's "fast load generator", whose CPU is near zero, so the
server's rate shows: the headline rows), **boto3** with its default configuration (a client
per process: what a user of ``qworker serve`` runs) and a **lean** Python client (raw JSON 1.0
requests on one ``http.client`` connection), the Python ones in ``--clients`` processes so
they do not share one GIL. All cases are interleaved in every round (``--rounds``, default 3;
medians). Each case gets a fresh queue; the loops start ``--warmup`` seconds before a window
of ``--seconds`` and the messages whose ``DeleteMessageBatch`` answer came inside the window
are counted (all clocks are CLOCK_MONOTONIC, one clock for all processes and wrk's script).

Besides messages/s the run reads CPU time (``/proc``, all threads) over the window: the load
generator's (wrk's process, or the client processes'), the server process's (its event-loop
thread apart), redis-server's. CPU per message is what another load on the shared machine
disturbs least, so it says where the time goes.

The parts: :mod:`benchmarks.serve_loop` (loops, wrk, measure, profile, report).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchmarks.serve_loop import wrk
from benchmarks.serve_loop.loops import REGION, api_loop, lean_loop, prepare_client_process
from benchmarks.serve_loop.measure import WRK, Api, Sample, measure_api, measure_client
from benchmarks.serve_loop.report import (
    CASES,
    CLIENT_REDIS,
    CLIENT_SQLITE,
    LEAN_MOTO,
    LEAN_REDIS,
    LEAN_SQLITE,
    MOTO,
    SERVE_REDIS,
    SERVE_SQLITE,
    WRK_MOTO,
    WRK_REDIS,
    WRK_SQLITE,
    report,
)


def _apis(serve_sqlite: Any, serve_redis: Any, redis_pid: int, moto: Any, moto_pid: int) -> dict[str, Api]:
    sqlite_pid, serve_redis_pid = serve_sqlite.process.pid, serve_redis.process.pid
    apis = {}
    for loop, (sqlite_case, redis_case, moto_case) in (
        (WRK, (WRK_SQLITE, WRK_REDIS, WRK_MOTO)),
        (api_loop, (SERVE_SQLITE, SERVE_REDIS, MOTO)),
        (lean_loop, (LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO)),
    ):
        apis[sqlite_case] = Api(serve_sqlite.url, sqlite_pid, loop=loop)
        apis[redis_case] = Api(serve_redis.url, serve_redis_pid, redis_pid, loop=loop)
        apis[moto_case] = Api(moto.endpoint_url, moto_pid, event_loop=False, loop=loop)
    return apis


def run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    import boto3  # noqa: F401  (the parent creates the queues)

    from benchmarks.bench_sqs import moto_child
    from benchmarks.serve_loop.profile import profile_serve
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
        with (
            moto_child() as (moto, moto_process),
            context.Pool(args.clients, prepare_client_process) as pool,
        ):
            apis = _apis(serve_sqlite, serve_redis, redis_pid, moto, moto_process.pid)
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
                for case in (WRK_SQLITE, WRK_REDIS):
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
    if not wrk.available():
        sys.exit("wrk is needed: apt-get install wrk")
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

"""SendMessage throughput and latency of ``qworker serve`` on a private Redis, measured with wrk.

``python -m benchmarks.bench_serve [--seconds 10] [--connections 32] [--repeat 3] [--no-write]``

One ``qworker serve --backend redis://...`` process (one worker), one private redis-server and
wrk (``apt-get install wrk``) sending AWS JSON 1.0 SendMessage requests over keep-alive
connections (the server takes any signature without access keys). Two runs:

* saturated: ``--connections`` connections, each sending its next request when the answer came;
* paced: as many connections, each waiting ``--pace-ms`` between requests (by default what
  makes about half the first saturated run's rate), for the latency at a moderate load.

Besides wrk's rate and latency percentiles it reports the CPU time the server process and Redis
spent per request (from /proc), which is what the machine's other load disturbs least. On a
2-core machine wrk, Redis and the server share the cores. The two runs alternate ``--repeat``
times; the medians go to the ``serve-send`` section of benchmarks/RESULTS.md with issue #15's
targets (at least 10,000 SendMessage/s; p99 under 5 ms at about half that rate).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks.results import write_section
from qworker.testing.serve import ServeProcess

SECTION = "serve-send"
RATE_TARGET = 10_000  #: SendMessage requests/s from one server process (issue #15)
P99_TARGET_MS = 5.0  #: at about half the saturated rate

_LUA = """wrk.method = "POST"
wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessage"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.body = {body}
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _script(folder: Path, queue_url: str, pace_ms: float) -> Path:
    body = json.dumps(
        {"QueueUrl": queue_url, "MessageBody": '{"order": 12345, "item": "book", "quantity": 1}'}
    )
    text = _LUA.format(body=json.dumps(body))
    if pace_ms:
        text += f"function delay() return {pace_ms} end\n"
    path = folder / f"send-{pace_ms}.lua"
    path.write_text(text)
    return path


def _wrk(script: Path, url: str, seconds: int, connections: int, pids: dict[str, int]) -> dict[str, float]:
    before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    result: dict[str, float] = {
        "requests": requests,
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
    }
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    for name, pid in pids.items():
        result[f"{name}_cpu_us_per_request"] = round((_cpu_seconds(pid) - before[name]) / requests * 1e6, 1)
    return result


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(runs: dict[str, list[dict[str, float]]], connections: int, seconds: int, pace_ms: float) -> str:
    saturated, paced = _median(runs["saturated"]), _median(runs["paced"])
    rows = []
    for label, figures in (("saturated", saturated), (f"paced ({pace_ms:g} ms between requests)", paced)):
        rows.append(
            f"| {label} | {figures['per_second']:,.0f} | {figures['p50_ms']:.2f} | {figures['p90_ms']:.2f} "
            f"| {figures['p99_ms']:.2f} | {figures['server_cpu_us_per_request']:.0f} "
            f"| {figures['redis_cpu_us_per_request']:.0f} |"
        )
    share = paced["per_second"] / saturated["per_second"]
    rate_met = saturated["per_second"] >= RATE_TARGET
    p99_met = paced["p99_ms"] < P99_TARGET_MS
    return "\n".join([
        "## `qworker serve`: SendMessage over keep-alive HTTP (wrk, issue #15)",
        "",
        f"One `qworker serve` process (one worker) on a private redis-server; wrk (1 thread, {connections} "
        f"keep-alive connections, {seconds} s a run) sends AWS JSON 1.0 `SendMessage` requests (~50-byte "
        f"bodies). Saturated: each connection sends its next request when the answer came; paced: each "
        f"waits {pace_ms:g} ms between requests. Medians of {len(runs['saturated'])} alternating runs; CPU "
        "µs per request from /proc. wrk, Redis and the server share the machine's 2 cores.",
        "",
        "| run | requests/s | p50 ms | p90 ms | p99 ms | server CPU µs/req | redis-server CPU µs/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "| target | measured | met |",
        "| --- | --- | :-: |",
        f"| ≥ {RATE_TARGET:,} SendMessage/s from one server process | {saturated['per_second']:,.0f}/s "
        f"| {'yes' if rate_met else '**no**'} |",
        f"| p99 < {P99_TARGET_MS:g} ms at about half that rate | {paced['p99_ms']:.2f} ms at "
        f"{paced['per_second']:,.0f}/s ({share:.0%} of saturated) | {'yes' if p99_met else '**no**'} |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--pace-ms",
        type=float,
        help="wait between a paced connection's requests (default: what makes half the first saturated rate)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each kind (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    from qworker_redis.testing import RedisServer

    redis = RedisServer().start()
    backend = f"{redis.url}?prefix=b{uuid.uuid4().hex[:6]}"
    server = ServeProcess(backend).start()
    try:
        subprocess.run(
            [sys.executable, "-m", "qworker", "queue", "create", "bench", "--backend", backend], check=True
        )
        queue_url = f"{server.url}/000000000000/bench"
        assert server.process is not None and redis.process is not None
        pids = {"server": server.process.pid, "redis": redis.process.pid}
        runs: dict[str, list[dict[str, float]]] = {"saturated": [], "paced": []}
        with tempfile.TemporaryDirectory() as folder:
            saturated = _script(Path(folder), queue_url, 0)
            for _ in range(args.repeat):
                runs["saturated"].append(_wrk(saturated, server.url, args.seconds, args.connections, pids))
                if args.pace_ms is None:  # each connection at half its saturated share
                    first = runs["saturated"][0]
                    cycle_ms = 1000 * args.connections / (first["per_second"] / 2)
                    args.pace_ms = round(max(0.1, cycle_ms - first["p50_ms"]), 1)
                paced = _script(Path(folder), queue_url, args.pace_ms)
                runs["paced"].append(_wrk(paced, server.url, args.seconds, args.connections, pids))
    finally:
        server.stop()
        redis.stop()
    body = report(runs, args.connections, args.seconds, args.pace_ms)
    print(body)
    if not args.no_write:
        write_section(SECTION, body, "python -m benchmarks.bench_serve " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()

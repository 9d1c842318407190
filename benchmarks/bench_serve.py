"""SendMessage throughput and latency of ``qworker serve`` on a private Redis, measured with wrk.

``python -m benchmarks.bench_serve [--seconds 10] [--connections 32]``

One ``qworker serve --backend redis://...`` process (one worker), one private redis-server and
wrk (``apt-get install wrk``) sending AWS JSON 1.0 SendMessage requests over keep-alive
connections (the server takes any signature without access keys). Two runs:

* saturated: ``--connections`` connections, each sending its next request when the answer came;
* paced: as many connections, each waiting ``--pace-ms`` between requests (about half the
  saturated rate with the defaults), for the latency at a moderate load.

Besides wrk's rate and latency percentiles it reports the CPU time the server process and Redis
spent per request (from /proc), which is what the machine's other load disturbs least. On a
2-core machine wrk, Redis and the server share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from qworker.testing.serve import ServeProcess

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pace-ms", type=float, default=2.0)
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
        with tempfile.TemporaryDirectory() as folder:
            runs = {
                "saturated": _wrk(
                    _script(Path(folder), queue_url, 0), server.url, args.seconds, args.connections, pids
                ),
                "paced": _wrk(
                    _script(Path(folder), queue_url, args.pace_ms),
                    server.url,
                    args.seconds,
                    args.connections,
                    pids,
                ),
            }
        print(json.dumps({"connections": args.connections, **runs}, indent=2))
    finally:
        server.stop()
        redis.stop()


if __name__ == "__main__":
    main()

"""SendMessage throughput and latency of ``qworker serve`` on a private Redis.

``python -m benchmarks.bench_serve [--seconds 10] [--connections 32] [--rate R]``

One server process (``qworker serve --backend redis://...``) and one load process. The load
generator is a small asyncio client on raw sockets over keep-alive connections, sending
pre-signed-looking AWS JSON 1.0 SendMessage requests (the server accepts any signature without
access keys) and reading each response before sending the next on that connection: throughput
is as many as the server answers; ``--rate R`` paces the sends instead (open loop, R requests a
second spread over the connections) to measure latency at a given load. The client costs CPU
too: on a 2-core machine it shares the machine with the server and Redis, so the figures are a
floor of what the server does with a core of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid

from qworker.testing.serve import ServeProcess


def _request(port: int, queue_url: str, body: str) -> bytes:
    payload = json.dumps({"QueueUrl": queue_url, "MessageBody": body}).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sqs/aws4_request, "
        "SignedHeaders=host, Signature=0\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    start = head.find(b"content-length:")
    length = int(head[start + 15 : head.find(b"\r\n", start)])
    await reader.readexactly(length)
    return status


async def _connection(port: int, request: bytes, deadline: float, latencies: list[float], pace: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    next_send = time.perf_counter()
    while time.perf_counter() < deadline:
        if pace:
            next_send += pace
            delay = next_send - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        started = time.perf_counter()
        writer.write(request)
        status = await _read_response(reader)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"status {status}")
        done += 1
    writer.close()
    return done


async def load(port: int, queue_url: str, seconds: float, connections: int, rate: float) -> dict[str, float]:
    request = _request(port, queue_url, '{"order": 12345, "item": "book", "quantity": 1}')
    latencies: list[float] = []
    pace = connections / rate if rate else 0.0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_connection(port, request, deadline, latencies, pace) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": sum(counts),
        "per_second": sum(counts) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rate", type=float, default=0, help="paced requests per second (0: as fast as answered)"
    )
    parser.add_argument("--backend", default=None, help="backend URL (default: a private redis-server)")
    args = parser.parse_args()
    redis = None
    backend = args.backend
    if backend is None:
        from qworker_redis.testing import RedisServer

        redis = RedisServer().start()
        backend = f"{redis.url}?prefix=b{uuid.uuid4().hex[:6]}"
    server = ServeProcess(backend, "--log-level", "warning").start()
    try:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        subprocess.run(
            [sys.executable, "-m", "qworker", "queue", "create", queue, "--backend", backend], check=True
        )
        url = f"http://127.0.0.1:{server.port}/000000000000/{queue}"
        import uvloop

        result = uvloop.run(load(server.port, url, args.seconds, args.connections, args.rate))
        print(json.dumps({"connections": args.connections, "rate": args.rate, **result}, indent=2))
    finally:
        server.stop()
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    main()

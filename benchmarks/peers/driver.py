"""Run a peer's client in the peer's own venv: ``python -m benchmarks.peers.driver NAME COMMAND``.

Commands (each prints one JSON line):

* ``fill N``: enqueue N drain messages (~100-byte JSON bodies) with the library's client;
* ``pending``: the library's own count of messages not yet done;
* ``latency N RATE PROBE_DIR``: send warm-up messages until the idle worker has seen one, then
  N messages one at a time at about RATE per second (random gaps, so sends never line up with
  a poll period), each carrying its send time;
* ``version``: the versions of the library, its plug-ins, redis-py, hiredis and uvloop there.

Standard library plus the peer library only: this runs where qworker is not installed.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import random
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from benchmarks.apps import probe


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


async def _call(method: Any, *args: Any) -> Any:
    result = method(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def main(argv: list[str]) -> dict[str, Any]:
    name, command, *args = argv
    module = importlib.import_module(f"benchmarks.peers.{name}")
    if command == "version":
        spec = module.SPEC
        names = [spec.dist, *spec.also, "redis", "hiredis", "uvloop"]
        return {"versions": {name: _version(name) for name in names}}
    client = module.Client()
    await _call(client.open)
    try:
        if command == "fill":
            count = int(args[0])
            began = time.monotonic()
            await _call(client.fill, [probe.make_body(i) for i in range(count)])
            return {"seconds": time.monotonic() - began, "pending": await _call(client.pending)}
        if command == "pending":
            return {"pending": await _call(client.pending)}
        if command == "latency":
            count, rate, probe_dir = int(args[0]), float(args[1]), args[2]
            deadline = time.monotonic() + 60
            while not any(f.startswith("first-") for f in os.listdir(probe_dir)):
                if time.monotonic() > deadline:
                    raise SystemExit("the worker processed no warm-up message within 60 s")
                await _call(client.send, probe.latency_body(warmup=True))
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # the worker is idle again
            for _ in range(count):
                await _call(client.send, probe.latency_body())
                await asyncio.sleep(random.uniform(0.5, 1.5) / rate)
            return {"sent": count}
        raise SystemExit(f"unknown command {command!r}")
    finally:
        await _call(client.close)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:]))))

"""One window of one case: the load started, CPU read over the window, messages/s and CPU per
message out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import Pool

from benchmarks.serve_loop.loops import api_loop, boto3_sqs, client_run
from benchmarks.serve_loop.proc import cpu_seconds, main_thread_seconds
from benchmarks.serve_loop.wrk import WrkLoad


@dataclass
class Sample:
    """One case's window: messages/s and CPU seconds per message by role."""

    rate: float
    #: role -> CPU µs per message ("clients", "server", "server event loop", "redis-server")
    cpu: dict[str, float] = field(default_factory=dict)


#: the load generator of the wrk cases (in place of a Python loop function)
WRK = "wrk"


@dataclass
class Api:
    """An SQS endpoint the loops run against, and the processes whose CPU is counted."""

    endpoint: str
    server_pid: int
    redis_pid: int | None = None
    #: True for a qworker serve process (its main thread is its event loop)
    event_loop: bool = True
    #: the client loop run against it in the pool's processes (boto3's, or the lean one), or
    #: :data:`WRK` for the wrk script
    loop: Callable[[str, str, float, float], tuple[int, float]] | str = api_loop


class _PoolLoad:
    """``loops`` Python loops in the pool's processes; they report their own CPU time."""

    pid = None

    def __init__(self, pool: Pool, api: Api, queue_url: str, loops: int, start_at: float, end_at: float):
        arguments = [(api.endpoint, queue_url, start_at, end_at)] * loops
        self._pending = pool.starmap_async(api.loop, arguments, chunksize=1)  # type: ignore[arg-type]
        self._timeout = end_at - time.monotonic() + 120

    def result(self) -> tuple[int, float]:
        outcomes = self._pending.get(timeout=self._timeout)
        return sum(count for count, _ in outcomes), sum(seconds for _, seconds in outcomes)


def measure_api(pool: Pool, api: Api, loops: int, warmup: float, seconds: float) -> Sample:
    sqs = boto3_sqs(api.endpoint)
    queue_url = sqs.create_queue(QueueName=f"loop-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    start_at = time.monotonic() + warmup
    end_at = start_at + seconds
    load: _PoolLoad | WrkLoad
    if api.loop == WRK:
        load = WrkLoad(api.endpoint, queue_url, loops, start_at, end_at)
    else:
        load = _PoolLoad(pool, api, queue_url, loops, start_at, end_at)
    pids = {"server": api.server_pid}
    if api.redis_pid:
        pids["redis-server"] = api.redis_pid
    if load.pid is not None:  # wrk: its CPU from /proc
        pids["clients"] = load.pid
    time.sleep(max(0.0, start_at - time.monotonic()))
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    loop_before = main_thread_seconds(api.server_pid)
    time.sleep(max(0.0, end_at - time.monotonic()))
    after = {role: cpu_seconds(pid) for role, pid in pids.items()}
    loop_after = main_thread_seconds(api.server_pid)
    deleted, client_seconds = load.result()
    if not deleted:
        raise RuntimeError(f"no message went round the loop on {api.endpoint}")
    per_message = 1e6 / deleted
    cpu = {role: (after[role] - before[role]) * per_message for role in pids}
    if client_seconds is not None:
        cpu["clients"] = client_seconds * per_message
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

    deleted, cpu = uvloop.run(client_run(url, loops, warmup, seconds, redis_pid))
    if not deleted:
        raise RuntimeError(f"no message went round the loop on {url}")
    return Sample(deleted / seconds, {role: value * 1e6 / deleted for role, value in cpu.items()})

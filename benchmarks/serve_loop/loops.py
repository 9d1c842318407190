"""The loop in Python: boto3's and the lean client's (in client processes), and the Python
client's directly on the backend (in the benchmark's process).

One loop: ``SendMessageBatch`` of 10 :data:`BODY`, ``ReceiveMessage`` (``MaxNumberOfMessages=10``,
``WaitTimeSeconds=0``), ``DeleteMessageBatch`` of what came, until the window's end; the messages
whose delete returned inside the window are counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.serve_loop.proc import cpu_seconds, main_thread_seconds

BODY = '{"id":12345,"kind":"order.created","payload":"' + "x" * 48 + '"}'  # ~100 bytes
REGION = "us-east-1"

# -- the boto3 loop, in client processes ----------------------------------------------------------

_clients: dict[str, Any] = {}


def boto3_sqs(endpoint: str) -> Any:
    """One boto3 client per endpoint and process (boto3's defaults, as a user has them)."""
    if endpoint not in _clients:
        import boto3

        _clients[endpoint] = boto3.session.Session().client("sqs", endpoint_url=endpoint, region_name=REGION)
    return _clients[endpoint]


def prepare_client_process() -> None:
    import boto3  # noqa: F401  (imported once, before any window)


class _Boto3SQS:
    """boto3's client behind the lean client's ``call(action, payload)``, so one loop drives both."""

    def __init__(self, endpoint: str) -> None:
        sqs = boto3_sqs(endpoint)
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
UNCHECKED_SIGNATURE = (
    f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/sqs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=" + "0" * 64
)


class _LeanSQS:
    """SQS's AWS JSON 1.0 protocol over one keep-alive ``http.client`` connection, with a
    signature nobody checks (neither server has access keys): the least a Python client can
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
            "Authorization": UNCHECKED_SIGNATURE,  # moto reads the region from it
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
    """One loop with :class:`_LeanSQS` in place of boto3."""
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


async def client_run(
    url: str, loops: int, warmup: float, seconds: float, redis_pid: int | None
) -> tuple[int, dict[str, float]]:
    """``loops`` Python-client loops as tasks on one ``AsyncClient``: (messages deleted in the
    window, CPU seconds in it: this process, its main thread, Redis)."""
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

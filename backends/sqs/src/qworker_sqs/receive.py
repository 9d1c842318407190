"""ReceiveMessage on SQS: at most 10 messages and a 20 s long poll per call.

``receive`` asks for up to 10 with a long poll, and when that call comes back full (a backlog)
fetches the rest with short polls issued concurrently, 10 messages each; a wait longer than 20 s
is several long polls. It returns as soon as at least one message arrived; it never waits to
fill the batch. Visibility timeouts are whole seconds on SQS, rounded *up*.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Any

import structlog

from qworker import limits
from qworker.backend import ReceivedMessage
from qworker.errors import InvalidParameterValue
from qworker_sqs import convert
from qworker_sqs.batches import CALL_FANOUT
from qworker_sqs.client import SQSClient
from qworker_sqs.queues import QueueRef
from qworker_sqs.url import LONG_POLL_LIMIT

log = structlog.get_logger("qworker.sqs")

MAX_RECEIVE = 10  #: messages per ReceiveMessage
#: a long poll may end this much after the wait asked for (so a 10 s wait is one 10 s long poll,
#: not a 9 s one plus a sub-second tail)
WAIT_TOLERANCE = 0.1


async def receive(
    client: SQSClient,
    queue: str,
    max_messages: int = 1,
    wait_seconds: float | None = None,
    visibility_timeout: float | None = None,
) -> list[ReceivedMessage]:
    """ReceiveMessage, as often as needed; see :meth:`qworker.backend.Backend.receive`.

    ``wait_seconds=None`` leaves the wait to the queue's ``ReceiveMessageWaitTimeSeconds``
    (one ReceiveMessage without ``WaitTimeSeconds``). Otherwise whole seconds are long polls
    of at most 20 s each; a fraction of a second left at the end is waited out locally and
    followed by one short poll, so the call returns no later than asked (give or take
    ``WAIT_TOLERANCE``). A cancelled receive
    may leave messages SQS already handed out hidden until their visibility timeout, as any
    SQS consumer would.
    """
    limits.check_max_messages(max_messages)
    if wait_seconds is not None and (math.isnan(wait_seconds) or wait_seconds < 0):
        raise InvalidParameterValue(f"wait_seconds must be 0 or more, not {wait_seconds!r}")
    visibility = None
    if visibility_timeout is not None:
        error = limits.check_visibility_timeout(visibility_timeout)
        if error is not None:
            raise InvalidParameterValue(error)
        visibility = convert.whole_seconds(visibility_timeout)
    ref = await client.ref(queue)
    first = min(MAX_RECEIVE, max_messages)
    if wait_seconds is None:
        got = await _receive_once(client, ref, queue, first, None, visibility)
    else:
        got = await _long_poll(client, ref, queue, first, wait_seconds, visibility)
    if len(got) == first < max_messages:
        got += await _receive_backlog(client, ref, queue, max_messages - first, visibility)
    return got


async def _long_poll(
    client: SQSClient, ref: QueueRef, queue: str, count: int, wait: float, visibility: int | None
) -> list[ReceivedMessage]:
    deadline = time.monotonic() + wait
    while True:
        remaining = deadline - time.monotonic()
        poll = min(LONG_POLL_LIMIT, int(remaining + WAIT_TOLERANCE))
        got = await _receive_once(client, ref, queue, count, poll, visibility)
        if got:
            return got
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return []
        if poll == 0:  # under a second left: SQS waits whole seconds, so wait here, look once more
            await asyncio.sleep(remaining)
            return await _receive_once(client, ref, queue, count, 0, visibility)


async def _receive_backlog(
    client: SQSClient, ref: QueueRef, queue: str, wanted: int, visibility: int | None
) -> list[ReceivedMessage]:
    """More messages after a full first receive: short polls of 10, up to CALL_FANOUT at once,
    round after round while every call comes back full."""
    got: list[ReceivedMessage] = []
    while wanted > 0:
        sizes = [min(MAX_RECEIVE, wanted - MAX_RECEIVE * i) for i in range(math.ceil(wanted / MAX_RECEIVE))]
        sizes = sizes[:CALL_FANOUT]
        results = await asyncio.gather(
            *(_receive_once(client, ref, queue, size, 0, visibility) for size in sizes),
            return_exceptions=True,
        )
        full = True
        for size, result in zip(sizes, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                # messages already received are returned rather than left hidden; the error
                # will show again on the next receive if it lasts
                log.warning("sqs.receive_failed", queue=queue, error=str(result), kept=len(got))
                full = False
                continue
            got.extend(result)
            wanted -= len(result)
            full = full and len(result) == size
        if not full:
            break
    return got


async def _receive_once(
    client: SQSClient, ref: QueueRef, queue: str, count: int, wait: int | None, visibility: int | None
) -> list[ReceivedMessage]:
    params: dict[str, Any] = {
        "QueueUrl": ref.url,
        "MaxNumberOfMessages": count,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if wait is not None:
        params["WaitTimeSeconds"] = wait
    if visibility is not None:
        params["VisibilityTimeout"] = visibility
    if ref.fifo:  # an SDK retry after a lost response gets the same messages, not a locked group
        params["ReceiveRequestAttemptId"] = uuid.uuid4().hex
    response = await client.call("ReceiveMessage", queue, **params)
    return [convert.received_message(m) for m in response.get("Messages", ())]

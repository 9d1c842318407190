"""Redrive on SQS (SPEC ESM-DLQ-6): StartMessageMoveTask, or receive + send + delete without it.

**StartMessageMoveTask** (Amazon SQS, and servers that implement it): the task is started with
the dead-letter queue's ARN, the destination's ARN when one is given (else SQS moves each message
back to its source queue) and ``MaxNumberOfMessagesPerSecond``; then ``ListMessageMoveTasks`` is
polled until the task is ``COMPLETED``, ``FAILED`` or ``CANCELLED``. ``moved`` and ``failed``
are SQS's approximate counts. Cancelling the redrive cancels the task.

**Fallback** (an endpoint other than AWS that does not implement the action: moto, older
ElasticMQ/LocalStack; detected on the first redrive, from an unknown-action error or an HTTP
404/405/500/501 answer, and remembered by the backend): the dead letters are received 10 at a
time with a lease (a visibility timeout of :data:`FALLBACK_LEASE` seconds), sent to their
destination, and deleted from the dead-letter queue once sent. The destination is ``destination``
if given, else the queue named by the message's ``DeadLetterQueueSourceArn``, else (servers that
do not report that attribute) the dead-letter queue's only source queue from
``ListDeadLetterSourceQueues``. Copies are new messages, as StartMessageMoveTask makes them: a new
message id and receive count, the same body, message attributes and ``AWSTraceHeader``; on FIFO
queues the same group id and the dead letter's message id as deduplication id (a redrive repeated
after a crash does not enqueue a message twice within SQS's 5-minute window). Messages that cannot
be moved (no destination known, destination gone, refused by it) are counted in ``failed`` and
made visible again in the dead-letter queue at the end. The loop ends when a receive finds
nothing new. A crash between a send and its delete leaves a copy in both queues (at-least-once),
never none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import structlog
from botocore.exceptions import ClientError

from qworker import arn
from qworker.backend import ReceivedMessage, RedriveResult, SendEntry, VisibilityChange
from qworker.errors import BackendError, InvalidParameterValue, QueueDoesNotExist, QWorkerError
from qworker_sqs import acks
from qworker_sqs import receive as receiving
from qworker_sqs import send as sending
from qworker_sqs.client import SQSClient
from qworker_sqs.errors import NOT_IMPLEMENTED, error_codes, http_status
from qworker_sqs.queues import is_aws_endpoint

log = structlog.get_logger("qworker.sqs")

MAX_RATE = 500  #: SQS's MaxNumberOfMessagesPerSecond limit
FALLBACK_LEASE = 120  #: seconds a dead letter being moved by the fallback stays hidden
_POLL_FIRST, _POLL_MAX = 0.5, 5.0
_DONE = ("COMPLETED", "FAILED", "CANCELLED")
_UNIMPLEMENTED_STATUS = (404, 405, 500, 501)


class _NoMoveTasks(Exception):
    """The endpoint does not implement StartMessageMoveTask."""


async def redrive(
    client: SQSClient, dead_letter_queue: str, destination: str | None, max_per_second: int | None
) -> RedriveResult:
    """Move the dead-letter queue's messages back; see the module docstring."""
    if max_per_second is not None and (
        isinstance(max_per_second, bool)
        or not isinstance(max_per_second, int)
        or not 1 <= max_per_second <= MAX_RATE
    ):
        raise InvalidParameterValue(
            f"Value {max_per_second!r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: it "
            f"must be between 1 and {MAX_RATE}."
        )
    dlq_ref = await client.ref(dead_letter_queue)
    dlq_arn = await client.resolved_arn(dead_letter_queue)
    destination_arn = None
    if destination is not None:
        target = await client.ref(destination)
        if target.fifo != dlq_ref.fifo:
            raise InvalidParameterValue(
                "The destination queue must be of the same type as the dead-letter queue."
            )
        if target.url == dlq_ref.url:
            raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
        destination_arn = await client.resolved_arn(destination)
    if client.move_tasks_supported is not False:
        try:
            result = await _move_task(client, dead_letter_queue, dlq_arn, destination_arn, max_per_second)
        except _NoMoveTasks:
            client.move_tasks_supported = False
            log.info(
                "sqs.redrive_fallback",
                endpoint=client.endpoint_url,
                detail="the endpoint has no StartMessageMoveTask; moving messages by receive + send + delete",
            )
        else:
            client.move_tasks_supported = True
            return result
    return await _receive_send_delete(client, dead_letter_queue, destination, max_per_second)


# -- StartMessageMoveTask -------------------------------------------------------------------------


async def _move_task(
    client: SQSClient, dlq: str, dlq_arn: str, destination_arn: str | None, rate: int | None
) -> RedriveResult:
    params: dict[str, Any] = {"SourceArn": dlq_arn}
    if destination_arn is not None:
        params["DestinationArn"] = destination_arn
    if rate is not None:
        params["MaxNumberOfMessagesPerSecond"] = rate
    started_ms = int(time.time() * 1000) - 5_000
    try:
        response = await client.call("StartMessageMoveTask", dlq, **params)
    except QWorkerError as exc:
        if _unimplemented(client, exc):
            raise _NoMoveTasks from exc
        raise
    handle = response.get("TaskHandle")
    try:
        return await _wait_for_task(client, dlq, dlq_arn, handle, started_ms)
    except asyncio.CancelledError:
        if handle:
            with contextlib.suppress(QWorkerError):
                await asyncio.shield(client.call("CancelMessageMoveTask", dlq, TaskHandle=handle))
        raise


def _unimplemented(client: SQSClient, exc: QWorkerError) -> bool:
    if client.move_tasks_supported or is_aws_endpoint(client.endpoint_url):
        return False  # on AWS (or once the action worked) every error is a real one
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    return bool(error_codes(cause) & NOT_IMPLEMENTED) or http_status(cause) in _UNIMPLEMENTED_STATUS


async def _wait_for_task(
    client: SQSClient, dlq: str, dlq_arn: str, handle: str | None, started_ms: int
) -> RedriveResult:
    delay = _POLL_FIRST
    while True:
        await asyncio.sleep(delay)
        delay = min(_POLL_MAX, delay * 1.5)
        response = await client.call("ListMessageMoveTasks", dlq, SourceArn=dlq_arn, MaxResults=10)
        tasks = response.get("Results", [])
        task = next((t for t in tasks if handle and t.get("TaskHandle") == handle), None)
        if task is None:  # finished tasks carry no handle: the newest one we started
            ours = [t for t in tasks if int(t.get("StartedTimestamp", 0)) >= started_ms]
            task = max(ours, key=lambda t: int(t.get("StartedTimestamp", 0)), default=None)
        if task is None:
            continue
        status = task.get("Status")
        if status not in _DONE:
            continue
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        to_move = int(task.get("ApproximateNumberOfMessagesToMove", moved))
        if status != "COMPLETED":
            log.warning(
                "sqs.move_task_ended",
                queue=dlq,
                status=status,
                reason=task.get("FailureReason"),
                moved=moved,
                to_move=to_move,
            )
            return RedriveResult(moved, max(0, to_move - moved))
        return RedriveResult(moved, 0)


# -- receive + send + delete ----------------------------------------------------------------------


class _Destinations:
    """Where each dead letter goes, resolved once per queue."""

    def __init__(self, client: SQSClient, dlq: str, destination: str | None) -> None:
        self.client = client
        self.dlq = dlq
        self.destination = destination
        self.by_arn: dict[str, str | None] = {}
        self.only_source: str | None = None
        self.sources_listed = False

    async def of(self, message: ReceivedMessage) -> str | None:
        if self.destination is not None:
            return self.destination
        source_arn = message.attributes.get("DeadLetterQueueSourceArn")
        if source_arn:
            if source_arn not in self.by_arn:
                self.by_arn[source_arn] = await self._queue_url(source_arn)
            return self.by_arn[source_arn]
        if not self.sources_listed:
            self.sources_listed = True
            ref = await self.client.ref(self.dlq)
            response = await self.client.call("ListDeadLetterSourceQueues", self.dlq, QueueUrl=ref.url)
            urls = response.get("queueUrls", [])
            if len(urls) == 1:
                self.only_source = urls[0]
            else:
                log.warning(
                    "sqs.redrive_source_unknown",
                    queue=self.dlq,
                    sources=len(urls),
                    detail="messages carry no DeadLetterQueueSourceArn and the queue has not exactly one "
                    "source queue: name the destination (qworker redrive --to NAME)",
                )
        return self.only_source

    async def _queue_url(self, source_arn: str) -> str | None:
        try:
            name = arn.queue_name_from_arn(source_arn)
            account = source_arn.split(":")[4]
        except (ValueError, IndexError):
            return None
        params: dict[str, Any] = {"QueueName": name}
        if account.isdigit():
            params["QueueOwnerAWSAccountId"] = account
        try:
            response = await self.client.call("GetQueueUrl", name, **params)
        except QueueDoesNotExist:
            return None
        return str(response["QueueUrl"])


async def _receive_send_delete(
    client: SQSClient, dlq: str, destination: str | None, rate: int | None
) -> RedriveResult:
    destinations = _Destinations(client, dlq, destination)
    step = min(10, rate) if rate else 10
    moved = failed = sent = 0
    given_up: dict[str, str] = {}  # message id -> latest receipt handle, made visible again at the end
    started = time.monotonic()
    try:
        while True:
            batch = await receiving.receive(
                client, dlq, max_messages=10, wait_seconds=0, visibility_timeout=FALLBACK_LEASE
            )
            fresh = []
            for message in batch:
                if message.message_id in given_up:
                    given_up[message.message_id] = message.receipt_handle
                else:
                    fresh.append(message)
            if not fresh:
                break
            by_target: dict[str, list[ReceivedMessage]] = {}
            for message in fresh:
                target = await destinations.of(message)
                if target is None:
                    given_up[message.message_id] = message.receipt_handle
                    failed += 1
                else:
                    by_target.setdefault(target, []).append(message)
            for target, messages in by_target.items():
                for start in range(0, len(messages), step):
                    chunk = messages[start : start + step]
                    if rate:
                        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
                    sent += len(chunk)
                    copied = await _copy(client, target, chunk)
                    done = [m for m in chunk if m.message_id in copied]
                    for message in chunk:
                        if message.message_id not in copied:
                            given_up[message.message_id] = message.receipt_handle
                            failed += 1
                    if done:
                        leftovers = await acks.delete(client, dlq, [m.receipt_handle for m in done])
                        if leftovers:
                            log.warning(
                                "sqs.redrive_delete_failed",
                                queue=dlq,
                                count=len(leftovers),
                                detail="copied but not deleted: they will be moved again (duplicates)",
                            )
                    moved += len(done)
    finally:
        if given_up:
            with contextlib.suppress(BackendError):
                await acks.change_visibility(client, dlq, [VisibilityChange(h, 0) for h in given_up.values()])
    return RedriveResult(moved, failed)


async def _copy(client: SQSClient, target: str, messages: Sequence[ReceivedMessage]) -> set[str]:
    """Send copies of ``messages`` to ``target``; the message ids whose copy was accepted."""
    fifo = target.rstrip("/").endswith(".fifo")
    entries = [
        SendEntry(
            message.body,
            id=str(index),
            message_attributes=message.message_attributes,
            message_group_id=message.message_group_id if fifo else None,
            message_deduplication_id=message.message_id if fifo else None,
            trace_header=message.attributes.get("AWSTraceHeader"),
        )
        for index, message in enumerate(messages)
    ]
    try:
        result = await sending.send(client, target, entries)
    except QueueDoesNotExist:
        log.warning("sqs.redrive_destination_missing", destination=target, count=len(messages))
        return set()
    for failure in result.failed:
        log.warning("sqs.redrive_copy_refused", destination=target, code=failure.code, error=failure.message)
    return {messages[int(r.id)].message_id for r in result.successful}

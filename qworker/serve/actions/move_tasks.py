"""StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask: dead-letter redrive.

A task runs the backend's ``redrive`` (SPEC ESM-DLQ-6) in the background of the process that
started it; its record (status, counts, failure) is what List returns. SQS keeps one active task
per source queue and lists the most recent first. Records live in this process until the backend
protocol's shared record store is there (then every ``--workers`` process sees every task).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from qworker import arn
from qworker.errors import QueueDoesNotExist, QWorkerError
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, invalid_parameter, invalid_value
from qworker.serve.service import Service

log = structlog.get_logger("qworker.serve")

MAX_RATE = 500  #: SQS's MaxNumberOfMessagesPerSecond limit
_ACTIVE = ("RUNNING", "CANCELLING")


@dataclass
class MoveTask:
    task_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    status: str = "RUNNING"
    moved: int = 0
    failure: str | None = None
    runner: asyncio.Task[None] | None = None

    @property
    def handle(self) -> str:
        doc = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn})
        return base64.b64encode(doc.encode()).decode()

    def entry(self) -> dict[str, Any]:
        """A ``ListMessageMoveTasksResultEntry``."""
        out: dict[str, Any] = {"SourceArn": self.source_arn, "Status": self.status}
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        out["ApproximateNumberOfMessagesMoved"] = self.moved
        out["ApproximateNumberOfMessagesToMove"] = self.to_move
        if self.failure:
            out["FailureReason"] = self.failure
        out["StartedTimestamp"] = self.started_ms
        return out


class MoveTasks:
    """This process's move tasks, by task id."""

    def __init__(self) -> None:
        self.tasks: dict[str, MoveTask] = {}

    def active_for(self, source_arn: str) -> MoveTask | None:
        return next(
            (t for t in self.tasks.values() if t.source_arn == source_arn and t.status in _ACTIVE), None
        )

    def for_source(self, source_arn: str) -> list[MoveTask]:
        found = [t for t in self.tasks.values() if t.source_arn == source_arn]
        return sorted(found, key=lambda t: t.started_ms, reverse=True)

    async def close(self) -> None:
        runners = [t.runner for t in self.tasks.values() if t.runner is not None and not t.runner.done()]
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(BaseException):
                await runner


async def _queue_of(svc: Service, queue_arn: str, parameter: str) -> str:
    try:
        name = arn.queue_name_from_arn(queue_arn)
    except ValueError:
        name = ""
    if not queue_arn.startswith("arn:") or not name:
        raise invalid_parameter(
            f"You must use this format to specify the {parameter}: "
            "arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
        )
    try:
        await svc.get_queue(name)
    except QueueDoesNotExist:
        raise SQSError(
            "ResourceNotFoundException",
            f"The resource that you specified for the {parameter} parameter doesn't exist.",
        ) from None
    return name


async def _is_dead_letter_queue(svc: Service, name: str) -> bool:
    for other in await svc.backend.list_queues(""):
        try:
            info = await svc.get_queue(other)
        except QueueDoesNotExist:
            continue
        if info.spec.redrive_policy is not None and info.spec.redrive_policy.dead_letter_queue == name:
            return True
    return False


async def start_message_move_task(svc: Service, call: Call) -> dict[str, Any]:
    source_arn = call.required_string("SourceArn")
    destination_arn = call.string("DestinationArn") or None
    rate = call.integer("MaxNumberOfMessagesPerSecond")
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise invalid_value("MaxNumberOfMessagesPerSecond", rate, f"Must be between 1 and {MAX_RATE}.")
    source = await _queue_of(svc, source_arn, "SourceArn")
    if not await _is_dead_letter_queue(svc, source):
        raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
    destination = None
    if destination_arn is not None:
        destination = await _queue_of(svc, destination_arn, "DestinationArn")
    if svc.move_tasks.active_for(source_arn) is not None:
        raise invalid_parameter(
            "There is already a task running. Only one active task is allowed for a source queue arn at a "
            "given time."
        )
    info = await svc.get_queue(source)
    task = MoveTask(uuid.uuid4().hex, source_arn, destination_arn, rate, info.counts.visible)
    svc.move_tasks.tasks[task.task_id] = task
    task.runner = asyncio.create_task(_run(svc, task, source, destination))
    return {"TaskHandle": task.handle}


async def _run(svc: Service, task: MoveTask, source: str, destination: str | None) -> None:
    try:
        result = await svc.backend.redrive(source, destination, task.rate)
    except asyncio.CancelledError:
        task.status = "CANCELLED"
        raise
    except QWorkerError as exc:
        task.status, task.failure = "FAILED", exc.code
        log.warning("serve.move_task_failed", task=task.task_id, error=str(exc))
        return
    except Exception as exc:  # a bug or a lost backend: the task fails, the server goes on
        task.status, task.failure = "FAILED", type(exc).__name__
        log.exception("serve.move_task_failed", task=task.task_id)
        return
    task.moved = result.moved
    task.status = "COMPLETED" if not result.failed else "FAILED"
    if result.failed:
        task.failure = "AWS.SimpleQueueService.NonExistentQueue"


async def list_message_move_tasks(svc: Service, call: Call) -> dict[str, Any]:
    source_arn = call.required_string("SourceArn")
    limit = call.integer("MaxResults")
    if limit is not None and not 1 <= limit <= 10:
        raise invalid_value("MaxResults", limit, "Must be between 1 and 10.")
    await _queue_of(svc, source_arn, "SourceArn")
    tasks = svc.move_tasks.for_source(source_arn)[: limit or 1]
    return {"Results": [task.entry() for task in tasks]}


async def cancel_message_move_task(svc: Service, call: Call) -> dict[str, Any]:
    handle = call.required_string("TaskHandle")
    try:
        doc = json.loads(base64.b64decode(handle.encode(), validate=True))
        task_id, source_arn = str(doc["taskId"]), str(doc["sourceArn"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid_parameter("Value for parameter TaskHandle is invalid.") from None
    await _queue_of(svc, source_arn, "SourceArn")
    task = svc.move_tasks.tasks.get(task_id)
    if task is None:
        raise SQSError("ResourceNotFoundException", "Task does not exist.")
    if task.status != "RUNNING":
        raise invalid_parameter("Only active tasks can be cancelled.")
    task.status = "CANCELLING"
    if task.runner is not None:
        task.runner.cancel()
    return {"ApproximateNumberOfMessagesMoved": task.moved}

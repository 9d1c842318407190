"""StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask: dead-letter redrive.

The checks and answers are SQS's (one active task per source queue, the most recent task
first); running the tasks and keeping their records is :mod:`qworker.serve.tasks`.
"""

from __future__ import annotations

import binascii
import uuid
from typing import Any

from qworker import arn
from qworker.errors import QueueDoesNotExist
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, invalid_parameter, invalid_value
from qworker.serve.service import Service
from qworker.serve.tasks import MoveTask, decode_handle

MAX_RATE = 500  #: SQS's MaxNumberOfMessagesPerSecond limit


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
    if await svc.tasks.active_for(source_arn) is not None:
        raise invalid_parameter(
            "There is already a task running. Only one active task is allowed for a source queue arn at a "
            "given time."
        )
    info = await svc.get_queue(source)
    task = MoveTask(uuid.uuid4().hex, source_arn, destination_arn, rate, info.counts.visible)
    await svc.tasks.save(task)
    svc.tasks.start(task, source, destination)
    return {"TaskHandle": task.handle}


async def list_message_move_tasks(svc: Service, call: Call) -> dict[str, Any]:
    source_arn = call.required_string("SourceArn")
    limit = call.integer("MaxResults")
    if limit is not None and not 1 <= limit <= 10:
        raise invalid_value("MaxResults", limit, "Must be between 1 and 10.")
    await _queue_of(svc, source_arn, "SourceArn")
    tasks = (await svc.tasks.for_source(source_arn))[: limit or 1]
    return {"Results": [task.entry() for task in tasks]}


async def cancel_message_move_task(svc: Service, call: Call) -> dict[str, Any]:
    handle = call.required_string("TaskHandle")
    try:
        task_id, source_arn = decode_handle(handle)
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid_parameter("Value for parameter TaskHandle is invalid.") from None
    await _queue_of(svc, source_arn, "SourceArn")
    task = await svc.tasks.get(task_id)
    if task is None:
        raise SQSError("ResourceNotFoundException", "Task does not exist.")
    if task.status != "RUNNING":
        raise invalid_parameter("Only active tasks can be cancelled.")
    await svc.tasks.cancel(task)
    return {"ApproximateNumberOfMessagesMoved": task.moved}

"""Every SQS action, by name: ``ACTIONS["SendMessage"](service, call)`` returns the result shape.

One implementation per action serves both protocols; see :mod:`qworker.serve.app` for routing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from qworker.serve.actions import acks, move_tasks, permissions, queues, receive, send
from qworker.serve.call import Call
from qworker.serve.service import Service

Action = Callable[[Service, Call], Awaitable[dict[str, Any] | None]]

ACTIONS: dict[str, Action] = {
    "CreateQueue": queues.create_queue,
    "GetQueueUrl": queues.get_queue_url,
    "ListQueues": queues.list_queues,
    "DeleteQueue": queues.delete_queue,
    "GetQueueAttributes": queues.get_queue_attributes,
    "SetQueueAttributes": queues.set_queue_attributes,
    "PurgeQueue": queues.purge_queue,
    "ListDeadLetterSourceQueues": queues.list_dead_letter_source_queues,
    "TagQueue": queues.tag_queue,
    "UntagQueue": queues.untag_queue,
    "ListQueueTags": queues.list_queue_tags,
    "SendMessage": send.send_message,
    "SendMessageBatch": send.send_message_batch,
    "ReceiveMessage": receive.receive_message,
    "DeleteMessage": acks.delete_message,
    "DeleteMessageBatch": acks.delete_message_batch,
    "ChangeMessageVisibility": acks.change_message_visibility,
    "ChangeMessageVisibilityBatch": acks.change_message_visibility_batch,
    "AddPermission": permissions.add_permission,
    "RemovePermission": permissions.remove_permission,
    "StartMessageMoveTask": move_tasks.start_message_move_task,
    "ListMessageMoveTasks": move_tasks.list_message_move_tasks,
    "CancelMessageMoveTask": move_tasks.cancel_message_move_task,
}

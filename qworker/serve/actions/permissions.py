"""AddPermission and RemovePermission: accepted and kept in the queue's ``Policy``, as SQS does.

SQS turns ``AddPermission(Label, AWSAccountIds, Actions)`` into a statement of the queue's access
policy (``Sid`` = the label) and ``RemovePermission`` removes it again; GetQueueAttributes shows
the result. qworker keeps the policy the same way, so infrastructure code that calls these works
unchanged, but it does not evaluate policies: who may call the API is decided by the server's
access keys alone (README, "qworker serve: the SQS API").
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from qworker.backend import QueueSpec
from qworker.serve.call import Call
from qworker.serve.errors import invalid_parameter, missing_parameter
from qworker.serve.service import Service

#: the actions a permission may name (SQS's queue actions, and ``*``)
ACTIONS = frozenset(
    {
        "*",
        "SendMessage",
        "ReceiveMessage",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListDeadLetterSourceQueues",
        "PurgeQueue",
        "ListQueueTags",
        "SendMessageBatch",
        "DeleteMessageBatch",
        "ChangeMessageVisibilityBatch",
        "StartMessageMoveTask",
        "ListMessageMoveTasks",
        "CancelMessageMoveTask",
    }
)


def _policy(extras: dict[str, str], queue_arn: str) -> dict[str, Any]:
    """The queue's policy document, or SQS's empty default."""
    text = extras.get("Policy")
    if text:
        policy = json.loads(text)
        policy.setdefault("Statement", [])
        return policy
    return {"Version": "2008-10-17", "Id": f"{queue_arn}/SQSDefaultPolicy", "Statement": []}


async def add_permission(svc: Service, call: Call) -> None:
    name = call.queue_name()
    label = call.required_string("Label")
    accounts = call.strings("AWSAccountIds")
    actions = call.strings("Actions")
    if not accounts:
        raise missing_parameter("AWSAccountIds")
    if not actions:
        raise missing_parameter("Actions")
    for action in actions:
        if action not in ACTIONS:
            raise invalid_parameter(
                f"Value SQS:{action} for parameter ActionName is invalid. Reason: Please refer to the "
                "appropriate WSDL for a list of valid actions. "
            )
    info = await svc.get_queue(name)
    extras = info.spec.extra()
    policy = _policy(extras, info.arn)
    if any(statement.get("Sid") == label for statement in policy["Statement"]):
        raise invalid_parameter(f"Value {label} for parameter Label is invalid. Reason: Already exists.")
    principals = [f"arn:aws:iam::{account}:root" for account in accounts]
    permitted = [f"SQS:{action}" for action in actions]
    policy["Statement"].append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": principals if len(principals) > 1 else principals[0]},
            "Action": permitted if len(permitted) > 1 else permitted[0],
            "Resource": info.arn,
        }
    )
    extras["Policy"] = json.dumps(policy, separators=(",", ":"))
    await _store(svc, name, info.spec, extras)


async def _store(svc: Service, name: str, spec: QueueSpec, extras: dict[str, str]) -> None:
    await svc.set_queue_attributes(name, dataclasses.replace(spec, extra_attributes=tuple(extras.items())))


async def remove_permission(svc: Service, call: Call) -> None:
    name = call.queue_name()
    label = call.required_string("Label")
    info = await svc.get_queue(name)
    extras = info.spec.extra()
    policy = _policy(extras, info.arn)
    kept = [statement for statement in policy["Statement"] if statement.get("Sid") != label]
    if len(kept) == len(policy["Statement"]):
        raise invalid_parameter(f"Value {label} for parameter Label is invalid. Reason: can't find label.")
    if kept:
        policy["Statement"] = kept
        extras["Policy"] = json.dumps(policy, separators=(",", ":"))
    else:
        extras.pop("Policy", None)
    await _store(svc, name, info.spec, extras)

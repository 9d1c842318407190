r"""``AWS::SQS::Queue`` resources as :class:`~qworker.backend.QueueSpec`\ s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qworker import limits
from qworker.backend import QueueSpec, RedrivePolicy
from qworker.errors import QWorkerError
from qworker.sam.intrinsics import Resolver, _boolean, _integer, _seconds


def _queue_spec(logical_id: str, resource: Mapping[str, Any], resolver: Resolver) -> QueueSpec:
    where = f"Resources.{logical_id}.Properties"
    props = resolver.value(resource.get("Properties") or {}, where)
    if not isinstance(props, dict):
        raise resolver.error(where, "expected a mapping")
    name = resolver.queue_name(logical_id)
    fifo = name.endswith(".fifo")
    kwargs: dict[str, Any] = {}
    seconds = {
        "VisibilityTimeout": "visibility_timeout",
        "ReceiveMessageWaitTimeSeconds": "receive_wait_time_seconds",
    }
    whole = {
        "MessageRetentionPeriod": "message_retention_period",
        "DelaySeconds": "delay_seconds",
        "MaximumMessageSize": "maximum_message_size",
    }
    for prop, attr in seconds.items():
        if prop in props:
            kwargs[attr] = _seconds(props[prop], resolver, f"{where}.{prop}")
    for prop, attr in whole.items():
        if prop in props:
            kwargs[attr] = _integer(props[prop], resolver, f"{where}.{prop}")
    if "ContentBasedDeduplication" in props:
        kwargs["content_based_deduplication"] = _boolean(
            props["ContentBasedDeduplication"], resolver, f"{where}.ContentBasedDeduplication"
        )
        if kwargs["content_based_deduplication"] and not fifo:
            raise resolver.error(f"{where}.ContentBasedDeduplication", "is for FIFO queues only")
    if "DeduplicationScope" in props:
        scope = props["DeduplicationScope"]
        if scope not in ("queue", "messageGroup"):
            raise resolver.error(
                f"{where}.DeduplicationScope", f"expected queue or messageGroup, got {scope!r}"
            )
        kwargs["deduplication_scope"] = scope
    if "RedrivePolicy" in props:
        kwargs["redrive_policy"] = _redrive_policy(props["RedrivePolicy"], resolver, f"{where}.RedrivePolicy")
    spec = QueueSpec(name, **kwargs)
    try:
        limits.validate_queue_spec(spec)
    except QWorkerError as exc:
        raise resolver.error(where, str(exc)) from None
    return spec


def _redrive_policy(value: Any, resolver: Resolver, where: str) -> RedrivePolicy:
    if isinstance(value, str):  # CloudFormation also takes the policy as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise resolver.error(where, f"not a JSON object: {value!r}") from None
    if not isinstance(value, dict) or "deadLetterTargetArn" not in value or "maxReceiveCount" not in value:
        raise resolver.error(where, "expected {deadLetterTargetArn: <queue ARN>, maxReceiveCount: N}")
    target = resolver.queue_of(value["deadLetterTargetArn"], f"{where}.deadLetterTargetArn")
    count = _integer(value["maxReceiveCount"], resolver, f"{where}.maxReceiveCount")
    return RedrivePolicy(target, count)

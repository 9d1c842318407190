"""``create_queue(name, **attributes)``: SQS's attribute names, or qworker's ``QueueSpec`` fields.

A program moving from boto3 writes ``create_queue("jobs", VisibilityTimeout=60,
RedrivePolicy={"deadLetterTargetArn": arn, "maxReceiveCount": 5})``; one written for qworker
writes ``create_queue("jobs", visibility_timeout=60, redrive_policy=RedrivePolicy("jobs-dlq", 5))``.
Both give the same :class:`~qworker.backend.QueueSpec`. SQS names are checked as SQS's CreateQueue
checks them (the code ``qworker serve`` uses), with SQS's error codes; values may be strings as
SQS takes them, or Python numbers, booleans and (for the JSON policies) dicts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from qworker.backend import QueueSpec, RedrivePolicy
from qworker.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    QWorkerError,
)

_SPEC_FIELDS = frozenset(field.name for field in dataclasses.fields(QueueSpec)) - {"name"}


def queue_spec(name: str | QueueSpec, attributes: Mapping[str, Any]) -> QueueSpec:
    """The spec ``create_queue`` makes (see the module docstring)."""
    if isinstance(name, QueueSpec):
        if attributes:
            raise TypeError("create_queue takes a QueueSpec or a name with attributes, not both.")
        return name
    if not attributes:
        return QueueSpec(name)
    sqs_style = [key for key in attributes if key[:1].isupper()]
    if not sqs_style:
        return _from_fields(name, attributes)
    if len(sqs_style) != len(attributes):
        raise InvalidAttributeName(
            "Give queue attributes with SQS's names (VisibilityTimeout=60) or QueueSpec's "
            "(visibility_timeout=60), not both in one call."
        )
    return _from_sqs_names(name, attributes)


def _from_fields(name: str, attributes: Mapping[str, Any]) -> QueueSpec:
    unknown = set(attributes) - _SPEC_FIELDS
    if unknown:
        raise InvalidAttributeName(
            f"Unknown queue attribute(s) {', '.join(sorted(unknown))}. QueueSpec fields: "
            f"{', '.join(sorted(_SPEC_FIELDS))}; or use SQS's names (VisibilityTimeout, ...)."
        )
    values = dict(attributes)
    policy = values.get("redrive_policy")
    if isinstance(policy, Mapping):
        values["redrive_policy"] = _redrive_policy(policy)
    return QueueSpec(name, **values)


def _redrive_policy(policy: Mapping[str, Any]) -> RedrivePolicy:
    """A redrive policy given as a dict: QueueSpec's names or SQS's JSON names."""
    if "deadLetterTargetArn" in policy:
        from qworker import arn

        try:
            queue = arn.queue_name_from_arn(str(policy["deadLetterTargetArn"]))
        except ValueError:
            raise InvalidParameterValue(
                f"Invalid deadLetterTargetArn {policy['deadLetterTargetArn']!r}."
            ) from None
        return RedrivePolicy(queue, int(policy.get("maxReceiveCount", 0)))
    try:
        return RedrivePolicy(**policy)
    except TypeError:
        raise InvalidParameterValue(
            "redrive_policy needs dead_letter_queue and max_receive_count (or SQS's "
            "deadLetterTargetArn and maxReceiveCount)."
        ) from None


def _from_sqs_names(name: str, attributes: Mapping[str, Any]) -> QueueSpec:
    from qworker.serve.attributes import new_queue
    from qworker.serve.errors import SQSError

    texts = {key: _text(value) for key, value in attributes.items()}
    if name.endswith(".fifo"):
        texts.setdefault("FifoQueue", "true")  # qworker's rule: the name makes a FIFO queue
    try:
        spec = new_queue(name, texts)
    except SQSError as exc:
        raise _error(exc.name, exc.message) from None
    if "SqsManagedSseEnabled" not in texts:
        # CreateQueue on SQS turns it on by default; the client makes the same spec as
        # `qworker queue create`, so creating the queue either way is idempotent
        extra = spec.extra()
        extra.pop("SqsManagedSseEnabled", None)
        spec = dataclasses.replace(spec, extra_attributes=tuple(extra.items()))
    return spec


def _text(value: Any) -> str:
    """An attribute value as SQS's CreateQueue takes it: a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


def _error(name: str, message: str) -> QWorkerError:
    kinds: dict[str, type[QWorkerError]] = {
        "InvalidAttributeName": InvalidAttributeName,
        "InvalidAttributeValue": InvalidAttributeValue,
    }
    return kinds.get(name, InvalidParameterValue)(message)

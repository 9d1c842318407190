"""Queue attributes between SQS's string map and qworker's :class:`~qworker.backend.QueueSpec`.

CreateQueue and SetQueueAttributes take ``{"VisibilityTimeout": "60", "RedrivePolicy":
"{...}"}``; GetQueueAttributes returns the same strings. Attributes that change how a backend
runs the queue go into the spec's fields; the ones qworker only keeps and returns (``Policy``,
``RedriveAllowPolicy``, the encryption settings) into its ``extra_attributes``.
``FifoThroughputLimit`` is checked and follows ``DeduplicationScope`` (``perMessageGroupId`` with
``messageGroup``), the only combination that changes anything on SQS. Errors are SQS's:
``InvalidAttributeName`` for a name SQS does not know or that this kind of queue does not take,
``InvalidAttributeValue`` for a value outside its range.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from qworker import arn, limits
from qworker.backend import EXTRA_ATTRIBUTE_NAMES, QueueInfo, QueueSpec, RedrivePolicy
from qworker.serve.errors import SQSError, invalid_parameter

#: integer attributes and their ranges (SQS-V-1, SQS-L-1..3, SQS-R-1)
_INTEGERS = {
    "VisibilityTimeout": ("visibility_timeout", 0, limits.MAX_VISIBILITY_TIMEOUT),
    "MessageRetentionPeriod": (
        "message_retention_period",
        limits.MIN_RETENTION_PERIOD,
        limits.MAX_RETENTION_PERIOD,
    ),
    "DelaySeconds": ("delay_seconds", 0, limits.MAX_DELAY_SECONDS),
    "MaximumMessageSize": ("maximum_message_size", limits.MIN_MESSAGE_SIZE_LIMIT, limits.MAX_MESSAGE_SIZE),
    "ReceiveMessageWaitTimeSeconds": ("receive_wait_time_seconds", 0, limits.MAX_WAIT_TIME_SECONDS),
}
#: attributes only kept and returned (the spec's ``extra_attributes``)
EXTRAS = tuple(sorted(EXTRA_ATTRIBUTE_NAMES))
_FIFO_ONLY = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
#: computed by the queue: GetQueueAttributes returns them, nobody sets them
READ_ONLY = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
SETTABLE = (
    *_INTEGERS,
    "RedrivePolicy",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    *EXTRAS,
)
ALL_NAMES = frozenset((*SETTABLE, *READ_ONLY, "FifoQueue", "All"))
#: setting these to their default removes them, as on SQS
_REMOVED_AT_DEFAULT = {"KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300", "Policy": ""}


def unknown(name: str) -> SQSError:
    return SQSError("InvalidAttributeName", f"Unknown Attribute {name}.")


def bad_value(name: str) -> SQSError:
    return SQSError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")


def _string_map(attrs: Mapping[str, Any]) -> dict[str, str]:
    for name, value in attrs.items():
        if not isinstance(value, str):
            raise bad_value(name)
    return dict(attrs)


def new_queue(name: str, attrs: Mapping[str, Any]) -> QueueSpec:
    """The spec of the queue CreateQueue would make, checked as SQS checks it."""
    attrs = _string_map(attrs)
    fifo = attrs.get("FifoQueue", "false").lower() == "true"
    if name.endswith(".fifo") != fifo:
        if fifo:
            raise invalid_parameter(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        if "FifoQueue" in attrs:
            raise unknown("FifoQueue")
        raise invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    try:
        limits.validate_queue_name(name)
    except Exception:
        raise invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        ) from None
    for key, value in attrs.items():
        _check_name(key, value, fifo, creating=True)
    spec = _apply(QueueSpec(name), attrs)
    extras = spec.extra()
    if "SqsManagedSseEnabled" not in extras:  # SQS encrypts new queues by default
        extras["SqsManagedSseEnabled"] = "true"
        spec = dataclasses.replace(spec, extra_attributes=tuple(extras.items()))
    return spec


def changed_queue(spec: QueueSpec, attrs: Mapping[str, Any]) -> QueueSpec:
    """The spec after SetQueueAttributes."""
    attrs = _string_map(attrs)
    for key, value in attrs.items():
        _check_name(key, value, spec.fifo, creating=False)
    return _apply(spec, attrs)


def _check_name(key: str, value: str, fifo: bool, *, creating: bool) -> None:
    if key not in ALL_NAMES or key == "All" or key in READ_ONLY:
        raise unknown(key)
    if not fifo and key in _FIFO_ONLY:
        if key in ("DeduplicationScope", "FifoThroughputLimit"):
            raise SQSError(
                "InvalidAttributeName", f"You can specify the {key} only when FifoQueue is set to true."
            )
        raise unknown(key)
    if key == "FifoQueue" and not creating and value.lower() != "true":
        raise SQSError(
            "InvalidAttributeValue",
            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
        )


def _apply(spec: QueueSpec, attrs: Mapping[str, str]) -> QueueSpec:
    changes: dict[str, Any] = {}
    extras = spec.extra()
    for key, text in attrs.items():
        if key in _INTEGERS:
            field, low, high = _INTEGERS[key]
            changes[field] = _integer(key, text, low, high)
        elif key == "RedrivePolicy":
            changes["redrive_policy"] = redrive_policy(text, spec.name)
        elif key == "ContentBasedDeduplication":
            changes["content_based_deduplication"] = _boolean(key, text)
        elif key == "DeduplicationScope":
            if text not in ("queue", "messageGroup"):
                raise bad_value(key)
            changes["deduplication_scope"] = text
        elif key == "FifoThroughputLimit":
            if text not in ("perQueue", "perMessageGroupId"):
                raise bad_value(key)
        elif key in EXTRAS:
            _set_extra(extras, key, text)
    if extras != spec.extra():
        changes["extra_attributes"] = tuple(extras.items())
    return dataclasses.replace(spec, **changes)


def _set_extra(extras: dict[str, str], key: str, text: str) -> None:
    if key == "SqsManagedSseEnabled":
        text = text.lower()
        if text not in ("true", "false"):
            raise bad_value(key)
    if key in ("Policy", "RedriveAllowPolicy") and text:
        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError
        except ValueError:
            raise bad_value(key) from None
    if key == "KmsDataKeyReusePeriodSeconds":
        _integer(key, text, 60, 86_400)
    if _REMOVED_AT_DEFAULT.get(key) == text or (key == "RedriveAllowPolicy" and not text):
        extras.pop(key, None)
        return
    extras[key] = text
    if key == "KmsMasterKeyId":
        extras["SqsManagedSseEnabled"] = "false"


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise bad_value(name) from None
    if not low <= value <= high:
        raise bad_value(name)
    return value


def _boolean(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise bad_value(name)
    return lowered == "true"


def redrive_policy(text: str, queue: str) -> RedrivePolicy | None:
    """A ``RedrivePolicy`` JSON document; ``""`` removes the policy."""
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid "
            "JSON map."
        ) from None
    if not isinstance(doc, dict):
        raise invalid_parameter(f"Value {text} for parameter RedrivePolicy is invalid. Reason: not a map.")
    target, count = doc.get("deadLetterTargetArn"), doc.get("maxReceiveCount")
    if not target:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain "
            "mandatory attribute: deadLetterTargetArn."
        )
    if count is None:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain "
            "mandatory attribute: maxReceiveCount."
        )
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    if isinstance(count, bool) or not 1 <= number <= limits.MAX_RECEIVE_COUNT:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
            f"maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive."
        )
    try:
        dead_letter_queue = arn.queue_name_from_arn(str(target))
    except ValueError:
        dead_letter_queue = ""
    if not str(target).startswith("arn:") or not dead_letter_queue:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
            f"deadLetterTargetArn."
        )
    return RedrivePolicy(dead_letter_queue, number)


def selected(info: QueueInfo, names: list[str]) -> dict[str, str]:
    """GetQueueAttributes: the named attributes (``All`` for every one); unknown names fail."""
    for name in names:
        if name not in ALL_NAMES:
            raise unknown(name)
    attrs = info.attributes()
    if "All" in names:
        return attrs
    return {name: attrs[name] for name in names if name in attrs}

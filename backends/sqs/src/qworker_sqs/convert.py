"""Between qworker's protocol types and SQS's request and response shapes.

Received messages are built only from what SQS returned (its message id, receipt handle, MD5s
and system attributes); nothing is recomputed, so a handler sees exactly what it would see on
Lambda (SPEC EVT-3..7).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from qworker import arn
from qworker.backend import (
    EXTRA_ATTRIBUTE_NAMES,
    MessageAttributeValue,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedrivePolicy,
    SendEntry,
    SendResult,
)
from qworker.errors import BackendError
from qworker.events import SYSTEM_ATTRIBUTE_ORDER

# -- messages -----------------------------------------------------------------------------------


def send_entry(entry: SendEntry, entry_id: str) -> dict[str, Any]:
    """One ``SendMessageBatchRequestEntry``."""
    request: dict[str, Any] = {"Id": entry_id, "MessageBody": entry.body}
    if entry.message_attributes:
        request["MessageAttributes"] = {
            name: attribute_value(value) for name, value in entry.message_attributes.items()
        }
    if entry.delay_seconds is not None:
        request["DelaySeconds"] = entry.delay_seconds
    if entry.message_group_id is not None:
        request["MessageGroupId"] = entry.message_group_id
    if entry.message_deduplication_id is not None:
        request["MessageDeduplicationId"] = entry.message_deduplication_id
    if entry.trace_header is not None:
        request["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": entry.trace_header}
        }
    return request


def attribute_value(value: MessageAttributeValue) -> dict[str, Any]:
    """A ``MessageAttributeValue`` request shape; botocore takes raw bytes for ``BinaryValue``."""
    shape: dict[str, Any] = {"DataType": value.data_type}
    if value.binary_value is not None:
        shape["BinaryValue"] = bytes(value.binary_value)
    else:
        shape["StringValue"] = value.string_value
    return shape


def send_result(item: Mapping[str, Any]) -> SendResult:
    """A ``SendMessageBatchResultEntry`` as qworker's :class:`SendResult`."""
    return SendResult(
        id=item["Id"],
        message_id=item["MessageId"],
        md5_of_message_body=item["MD5OfMessageBody"],
        md5_of_message_attributes=item.get("MD5OfMessageAttributes"),
        sequence_number=item.get("SequenceNumber"),
    )


def received_message(message: Mapping[str, Any]) -> ReceivedMessage:
    """An SQS ``Message`` (received with every system and message attribute) as qworker's, its
    system attributes in Lambda's order (:data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER`, SPEC
    EVT-4); names that order does not know follow, in SQS's order."""
    raw_attributes: Mapping[str, Any] = message.get("Attributes") or {}
    attributes = {
        name: str(raw_attributes[name]) for name in SYSTEM_ATTRIBUTE_ORDER if name in raw_attributes
    }
    for name, value in raw_attributes.items():
        if name not in attributes:
            attributes[name] = str(value)
    message_attributes = {
        name: MessageAttributeValue(
            data_type=value["DataType"],
            string_value=value.get("StringValue"),
            binary_value=bytes(value["BinaryValue"]) if value.get("BinaryValue") is not None else None,
        )
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return ReceivedMessage(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        md5_of_body=message["MD5OfBody"],
        attributes=attributes,
        message_attributes=message_attributes,
        md5_of_message_attributes=message.get("MD5OfMessageAttributes"),
    )


# -- queues -------------------------------------------------------------------------------------


def whole_seconds(value: float) -> int:
    """SQS takes whole seconds: round *up*, so nothing is visible earlier than asked (0 stays 0)."""
    return math.ceil(value)


def normalized_spec(spec: QueueSpec) -> QueueSpec:
    """The spec as SQS will store it: fractional seconds rounded up."""
    return replace(
        spec,
        visibility_timeout=whole_seconds(spec.visibility_timeout),
        receive_wait_time_seconds=whole_seconds(spec.receive_wait_time_seconds),
    )


def queue_attributes(spec: QueueSpec, dead_letter_target_arn: str | None) -> dict[str, str]:
    """CreateQueue ``Attributes`` for a spec; every attribute is given, so SQS compares them all."""
    attrs = normalized_spec(spec).attributes()
    policy = spec.redrive_policy
    if policy is not None:
        if dead_letter_target_arn is None:  # pragma: no cover - the backend resolves it first
            raise BackendError("the dead-letter queue's ARN is needed to create the queue")
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_target_arn, "maxReceiveCount": policy.max_receive_count}
        )
    return attrs


def queue_spec(name: str, attrs: Mapping[str, str]) -> QueueSpec:
    """A :class:`QueueSpec` from ``GetQueueAttributes(All)``."""
    policy = None
    if attrs.get("RedrivePolicy"):
        try:
            redrive = json.loads(attrs["RedrivePolicy"])
            policy = RedrivePolicy(
                arn.queue_name_from_arn(redrive["deadLetterTargetArn"]), int(redrive["maxReceiveCount"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"Queue {name!r} has a RedrivePolicy qworker cannot read: {attrs['RedrivePolicy']!r} ({exc})"
            ) from None
    scope = attrs.get("DeduplicationScope", "queue")
    extra = {
        name: str(attrs[name])
        for name in EXTRA_ATTRIBUTE_NAMES
        if attrs.get(name) not in (None, "") and SQS_DEFAULT_EXTRAS.get(name) != str(attrs[name])
    }
    return QueueSpec(
        name=name,
        visibility_timeout=int(attrs.get("VisibilityTimeout", 30)),
        message_retention_period=int(attrs.get("MessageRetentionPeriod", 345_600)),
        delay_seconds=int(attrs.get("DelaySeconds", 0)),
        maximum_message_size=int(attrs.get("MaximumMessageSize", 1_048_576)),
        receive_wait_time_seconds=int(attrs.get("ReceiveMessageWaitTimeSeconds", 0)),
        redrive_policy=policy,
        content_based_deduplication=attrs.get("ContentBasedDeduplication", "false").lower() == "true",
        deduplication_scope="messageGroup" if scope == "messageGroup" else "queue",
        extra_attributes=tuple(extra.items()),
    )


#: values SQS reports for queues that were not given them (SSE-SQS is on by default, the KMS data
#: key reuse period is 5 minutes): left out of :attr:`QueueSpec.extra_attributes`, so a queue
#: created without them has the spec it was created with (``attributes()`` still shows them)
SQS_DEFAULT_EXTRAS = {"SqsManagedSseEnabled": "true", "KmsDataKeyReusePeriodSeconds": "300"}


def same_attributes(existing: QueueSpec, wanted: QueueSpec) -> bool:
    """Whether a queue with ``existing`` attributes is what CreateQueue with ``wanted`` asks for:
    every field equal, and each extra attribute ``wanted`` gives has that value (SQS compares the
    attributes given; one not listed has SQS's default, :data:`SQS_DEFAULT_EXTRAS`)."""
    if replace(existing, extra_attributes=()) != replace(wanted, extra_attributes=()):
        return False
    have = existing.extra()
    return all(
        _same_value(name, have.get(name, SQS_DEFAULT_EXTRAS.get(name)), value)
        for name, value in wanted.extra_attributes
    )


def _same_value(name: str, have: str | None, want: str) -> bool:
    """Policies are JSON, and SQS may return them re-serialized: compare them as JSON."""
    if have == want:
        return True
    if name in ("Policy", "RedriveAllowPolicy") and have and want:
        try:
            return bool(json.loads(have) == json.loads(want))
        except ValueError:
            return False
    return False


def dead_letter_target_arn(attrs: Mapping[str, str]) -> str | None:
    """The real ``deadLetterTargetArn`` of a queue's RedrivePolicy, if it has one."""
    text = attrs.get("RedrivePolicy")
    if not text:
        return None
    try:
        target = json.loads(text).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return str(target) if target else None


def epoch_seconds(text: str | None) -> int:
    """SQS timestamps are epoch seconds; some servers add a fraction."""
    try:
        return int(float(text)) if text else 0
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class SQSQueueInfo(QueueInfo):
    """:class:`QueueInfo` whose :meth:`attributes` are SQS's own.

    The base class derives ``RedrivePolicy``'s ARN from qworker's synthesized ARNs; on SQS the
    real ``deadLetterTargetArn`` is kept, and attributes qworker has no field for (``Policy``,
    ``RedriveAllowPolicy``, ``SqsManagedSseEnabled``, KMS settings, ...) are passed through.
    """

    sqs_attributes: Mapping[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        attrs = dict(self.sqs_attributes)
        attrs.update(QueueInfo.attributes(self))
        target = dead_letter_target_arn(self.sqs_attributes)
        policy = self.spec.redrive_policy
        if policy is not None and target is not None:
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": target, "maxReceiveCount": policy.max_receive_count}
            )
        return attrs


def queue_info(name: str, attrs: Mapping[str, str]) -> SQSQueueInfo:
    """:class:`QueueInfo` from ``GetQueueAttributes(All)``."""
    counts = QueueCounts(
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
    )
    return SQSQueueInfo(
        spec=queue_spec(name, attrs),
        counts=counts,
        arn=attrs["QueueArn"],
        created_timestamp=epoch_seconds(attrs.get("CreatedTimestamp")),
        last_modified_timestamp=epoch_seconds(attrs.get("LastModifiedTimestamp")),
        sqs_attributes=dict(attrs),
    )

"""SQS's limits and validation rules, shared by every backend that emulates SQS and by the CLI.

Each check returns or raises with SQS's own error code and, where known, its wording, so a user
who moves from SQS sees the errors they know (SPEC section 4: SQS-L-*, SQS-F-*, SQS-V-*).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from qworker.backend import EXTRA_ATTRIBUTE_NAMES, QueueSpec
from qworker.entry_limits import (  # noqa: F401  (re-exported: the checks of one message to send)
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_BATCH_ENTRY_ID_LENGTH,
    MAX_DEDUP_ID_LENGTH,
    MAX_DELAY_SECONDS,
    MAX_GROUP_ID_LENGTH,
    MAX_MESSAGE_ATTRIBUTES,
    attribute_error,
    attributes_error,
    body_error,
    check_send_entry,
    entry_ids,
    message_size,
    utf8_length,
)
from qworker.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue

MAX_VISIBILITY_TIMEOUT = 43_200  #: 12 hours (SQS-V-1, SQS-V-2)
MIN_RETENTION_PERIOD = 60  #: SQS-L-3
MAX_RETENTION_PERIOD = 1_209_600  #: 14 days (SQS-L-3)
MIN_MESSAGE_SIZE_LIMIT = 1_024  #: SQS-L-1
MAX_MESSAGE_SIZE = 1_048_576  #: 1 MiB (SQS-L-1)
MAX_WAIT_TIME_SECONDS = 20  #: queue ReceiveMessageWaitTimeSeconds (SQS-R-1)
MAX_RECEIVE_COUNT = 1_000  #: RedrivePolicy maxReceiveCount (ESM-DLQ-3)
DEDUPLICATION_WINDOW_SECONDS = 300  #: 5 minutes (SQS-F-3)
PURGE_INTERVAL_SECONDS = 60  #: one PurgeQueue per queue every 60 s (SQS PurgeQueueInProgress)
MAX_TAGS = 50  #: tags per queue (SQS TagQueue)
MAX_TAG_KEY_LENGTH = 128  #: SQS TagQueue
MAX_TAG_VALUE_LENGTH = 256  #: SQS TagQueue
MIN_KMS_REUSE_PERIOD, MAX_KMS_REUSE_PERIOD = 60, 86_400  #: KmsDataKeyReusePeriodSeconds
MAX_RECORD_KIND_LENGTH = 64  #: Backend.put_record
MAX_RECORD_KEY_LENGTH = 256  #: Backend.put_record
MAX_RECORD_BYTES = 64 * 1024  #: a record's JSON text, at most (Backend.put_record)

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")
_RECORD_KIND = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def validate_queue_name(name: str) -> None:
    """Raise ``InvalidParameterValue`` unless ``name`` is a valid SQS queue name (SQS-F-1)."""
    if name.endswith(".fifo"):
        if not _FIFO_QUEUE_NAME.fullmatch(name):
            raise InvalidParameterValue(
                f"Invalid queue name {name!r}: the name of a FIFO queue can only include alphanumeric "
                "characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
    elif not _QUEUE_NAME.fullmatch(name):
        raise InvalidParameterValue(
            f"Invalid queue name {name!r}: can only include alphanumeric characters, hyphens, or "
            "underscores. 1 to 80 in length."
        )


def validate_queue_spec(spec: QueueSpec) -> None:
    """Raise ``InvalidParameterValue`` for an attribute outside SQS's range.

    Checks the spec alone; that the dead-letter queue exists and has the same type is for the
    backend to check (ESM-DLQ-3).
    """
    validate_queue_name(spec.name)
    _check_range("VisibilityTimeout", spec.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
    _check_range(
        "MessageRetentionPeriod", spec.message_retention_period, MIN_RETENTION_PERIOD, MAX_RETENTION_PERIOD
    )
    _check_range("DelaySeconds", spec.delay_seconds, 0, MAX_DELAY_SECONDS)
    _check_range("MaximumMessageSize", spec.maximum_message_size, MIN_MESSAGE_SIZE_LIMIT, MAX_MESSAGE_SIZE)
    _check_range("ReceiveMessageWaitTimeSeconds", spec.receive_wait_time_seconds, 0, MAX_WAIT_TIME_SECONDS)
    policy = spec.redrive_policy
    if policy is not None:
        if not 1 <= policy.max_receive_count <= MAX_RECEIVE_COUNT:
            raise InvalidParameterValue(
                f"Value {policy.max_receive_count} for parameter RedrivePolicy is invalid. Reason: "
                f"Invalid value for maxReceiveCount: {policy.max_receive_count}, valid values are "
                f"from 1 to {MAX_RECEIVE_COUNT} both inclusive."
            )
        validate_queue_name(policy.dead_letter_queue)
        if policy.dead_letter_queue.endswith(".fifo") != spec.fifo:
            raise InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter target owner and "
                "source queue must be the same type: the dead-letter queue of a FIFO queue must be a "
                "FIFO queue, and of a standard queue a standard queue."
            )
        if policy.dead_letter_queue == spec.name:
            raise InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: a queue cannot be its own "
                "dead-letter queue."
            )
    if not spec.fifo and (spec.content_based_deduplication or spec.deduplication_scope != "queue"):
        raise InvalidParameterValue(
            "Unknown Attribute ContentBasedDeduplication: only FIFO queues (names ending in .fifo) "
            "support ContentBasedDeduplication and DeduplicationScope."
        )
    validate_extra_attributes(spec.extra_attributes)
    if spec.deduplication_scope not in ("queue", "messageGroup"):
        raise InvalidParameterValue(
            f"Invalid value for the parameter DeduplicationScope: {spec.deduplication_scope!r} "
            "(valid: queue, messageGroup)."
        )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}: {value!r} is not a number.")
    if not low <= value <= high:
        raise InvalidAttributeValue(
            f"Invalid value for the parameter {name}: {value} (valid values: {low} to {high})."
        )


def validate_extra_attributes(extra: Iterable[tuple[str, str]]) -> None:
    """Check :attr:`QueueSpec.extra_attributes`: names SQS knows (else ``InvalidAttributeName``),
    values of the form SQS accepts (else ``InvalidAttributeValue``). qworker keeps them without
    acting on them: a ``Policy`` is not enforced, nothing is encrypted."""
    for name, value in extra:
        if name not in EXTRA_ATTRIBUTE_NAMES:
            raise InvalidAttributeName(
                f"Unknown Attribute {name}. (Attributes kept as given: "
                f"{', '.join(sorted(EXTRA_ATTRIBUTE_NAMES))}.)"
            )
        if not isinstance(value, str):
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}: {value!r} is not text.")
        if name == "KmsDataKeyReusePeriodSeconds":
            if not value.isdigit() or not MIN_KMS_REUSE_PERIOD <= int(value) <= MAX_KMS_REUSE_PERIOD:
                raise InvalidAttributeValue(
                    f"Invalid value for the parameter KmsDataKeyReusePeriodSeconds: {value!r} (valid "
                    f"values: {MIN_KMS_REUSE_PERIOD} to {MAX_KMS_REUSE_PERIOD})."
                )
        elif name == "SqsManagedSseEnabled":
            if value not in ("true", "false"):
                raise InvalidAttributeValue(
                    f"Invalid value for the parameter SqsManagedSseEnabled: {value!r} (true or false)."
                )
        elif name == "Policy" and value:
            if not isinstance(_json_object(value), dict):
                raise InvalidAttributeValue(
                    "Invalid value for the parameter Policy: it must be a JSON object."
                )
        elif name == "RedriveAllowPolicy" and value:
            _check_redrive_allow_policy(value)


def _json_object(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _check_redrive_allow_policy(text: str) -> None:
    policy = _json_object(text)
    permission = policy.get("redrivePermission") if isinstance(policy, dict) else None
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise InvalidAttributeValue(
            f"Value {text} for parameter RedriveAllowPolicy is invalid. Reason: redrivePermission must be "
            "one of allowAll, denyAll, byQueue."
        )
    assert isinstance(policy, dict)
    sources = policy.get("sourceQueueArns")
    if permission == "byQueue":
        if not isinstance(sources, list) or not 1 <= len(sources) <= 10:
            raise InvalidAttributeValue(
                f"Value {text} for parameter RedriveAllowPolicy is invalid. Reason: byQueue needs "
                "sourceQueueArns, 1 to 10 queue ARNs."
            )
    elif sources is not None:
        raise InvalidAttributeValue(
            f"Value {text} for parameter RedriveAllowPolicy is invalid. Reason: sourceQueueArns is "
            "allowed only with redrivePermission byQueue."
        )


def check_spec_change(queue: str, spec: QueueSpec) -> None:
    """Raise unless ``spec`` may replace the attributes of ``queue`` (SQS SetQueueAttributes):
    the spec is valid (:func:`validate_queue_spec`) and names the same queue, so the queue type
    does not change (SQS-F-1: ``FifoQueue`` is set at creation only)."""
    if not isinstance(spec, QueueSpec):
        raise InvalidParameterValue(f"set_queue_attributes takes a QueueSpec, not {type(spec).__name__}.")
    if spec.name != queue:
        if spec.name.endswith(".fifo") != queue.endswith(".fifo"):
            raise InvalidParameterValue(
                "Invalid value for the parameter FifoQueue: a queue's type is set when it is created and "
                f"cannot be changed ({queue!r} is a "
                f"{'FIFO' if queue.endswith('.fifo') else 'standard'} queue)."
            )
        raise InvalidParameterValue(
            f"The spec names queue {spec.name!r}, not {queue!r}: set_queue_attributes cannot rename a queue."
        )
    validate_queue_spec(spec)


def check_tags(tags: Mapping[str, str], current: Mapping[str, str] | None = None) -> dict[str, str]:
    """Validate tags to add (SQS TagQueue) and return the queue's tags after adding them: keys
    1-128 characters, values 0-256, at most 50 tags on the queue; else ``InvalidParameterValue``."""
    if not isinstance(tags, Mapping):
        raise InvalidParameterValue(f"Tags must be a mapping of key to value, not {type(tags).__name__}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise InvalidParameterValue(
                f"Tag keys must be between 1 and {MAX_TAG_KEY_LENGTH} characters in length: {key!r}."
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise InvalidParameterValue(
                f"Tag values must be between 0 and {MAX_TAG_VALUE_LENGTH} characters in length (tag {key!r})."
            )
    merged = {**(current or {}), **tags}
    if len(merged) > MAX_TAGS:
        raise InvalidParameterValue(
            f"Too many tags added for queue: a queue can have at most {MAX_TAGS} tags "
            f"({len(merged)} asked for)."
        )
    return merged


def check_tag_keys(keys: Iterable[str]) -> list[str]:
    """The keys of an UntagQueue, checked (1-128 characters each)."""
    if isinstance(keys, str):
        raise InvalidParameterValue("TagKeys must be a list of keys, not one string.")
    out = list(keys)
    for key in out:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise InvalidParameterValue(
                f"Tag keys must be between 1 and {MAX_TAG_KEY_LENGTH} characters in length: {key!r}."
            )
    return out


def check_record(
    kind: str, key: str, value: Mapping[str, Any] | None = None, ttl_seconds: float | None = None
) -> str:
    """Validate a record of the shared store (:meth:`Backend.put_record`); returns the value's
    JSON text ("" when ``value`` is None: a lookup)."""
    if not isinstance(kind, str) or not _RECORD_KIND.fullmatch(kind):
        raise InvalidParameterValue(
            f"Invalid record kind {kind!r}: 1 to {MAX_RECORD_KIND_LENGTH} characters of A-Z a-z 0-9 _ . -"
        )
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_RECORD_KEY_LENGTH or "\0" in key:
        raise InvalidParameterValue(
            f"Invalid record key {key!r}: 1 to {MAX_RECORD_KEY_LENGTH} characters, no NUL."
        )
    if ttl_seconds is not None and (
        isinstance(ttl_seconds, bool)
        or not isinstance(ttl_seconds, int | float)
        or math.isnan(ttl_seconds)
        or ttl_seconds <= 0
    ):
        raise InvalidParameterValue(f"A record's ttl_seconds must be None or > 0, not {ttl_seconds!r}.")
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"A record's value must be a mapping, not {type(value).__name__}.")
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterValue(f"A record's value must be JSON-serialisable: {exc}") from None
    if len(text.encode()) > MAX_RECORD_BYTES:
        raise InvalidParameterValue(f"A record's value is at most {MAX_RECORD_BYTES} bytes of JSON.")
    return text


def check_max_messages(value: object) -> None:
    """Raise ``InvalidParameterValue`` unless ``value`` is a whole number of at least 1.

    One check (and one error text) for every backend's receive and peek: a ``bool`` or a float
    that slips through would otherwise be read as 1 or truncated differently by each backend."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterValue(
            f"Value {value!r} for parameter MaxNumberOfMessages is invalid. Reason: it must be a "
            "whole number of at least 1."
        )


def check_visibility_timeout(value: float) -> str | None:
    """The error text for a visibility timeout outside 0..43200 s, else ``None`` (SQS-V-2)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return f"Value {value!r} for parameter VisibilityTimeout is invalid. Reason: not a number."
    if not 0 <= value <= MAX_VISIBILITY_TIMEOUT:
        return (
            f"Value {value} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
            f"{MAX_VISIBILITY_TIMEOUT}."
        )
    return None

"""SQS's rules for one message to send: its body, attributes, delay, FIFO ids and batch entry id
(SPEC SQS-L-1, SQS-L-2, SQS-L-5, SQS-F-2, SQS-F-3), with SQS's error codes and wording.

Apart from :mod:`qworker.limits` (which re-exports every name here) because a send checks each
entry on its hot path: :func:`check_send_entry` answers a plain entry (a body and nothing else,
on a standard queue) with the two checks that can fail it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from qworker.backend import BatchEntryError, MessageAttributeValue, QueueSpec, SendEntry
from qworker.errors import InvalidParameterValue

MAX_DELAY_SECONDS = 900  #: 15 minutes (SQS-L-2)
MAX_MESSAGE_ATTRIBUTES = 10  #: SQS-L-5
MAX_ATTRIBUTE_NAME_LENGTH = 256  #: SQS-L-5
MAX_GROUP_ID_LENGTH = 128  #: SQS-L-5
MAX_DEDUP_ID_LENGTH = 128  #: SQS-F-3
MAX_BATCH_ENTRY_ID_LENGTH = 80  #: SQS-L-5

#: characters SQS refuses in a body (SQS-L-1): everything outside
#: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (compiled when first used: 6 ms)
_FORBIDDEN_BODY = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_forbidden_body_char = functools.cache(lambda: re.compile(_FORBIDDEN_BODY))
#: SQS also takes the Latin-1 Supplement and Latin Extended-A letters (À-ſ) in names
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-\u00c0-\u017f]+")
_GROUP_OR_DEDUP_ID = re.compile(r"[\x21-\x7e]+")  # alphanumerics and punctuation (SQS-F-2/3)
_BATCH_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ATTRIBUTE_TYPES = ("String", "Number", "Binary")


def body_error(body: object) -> tuple[str, str] | None:
    """``(code, message)`` when SQS would refuse this body's characters, else ``None`` (SQS-L-1)."""
    if not isinstance(body, str):
        return "InvalidParameterValue", f"The message body must be a string, not {type(body).__name__}."
    if not body:
        return "MissingParameter", "The request must contain the parameter MessageBody."
    bad = _forbidden_body_char().search(body)
    if bad is not None:
        return (
            "InvalidMessageContents",
            f"Invalid binary character '#x{ord(bad.group()):X}' was found in the message body, the set "
            "of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
            "#x10000 to #x10FFFF",
        )
    return None


def utf8_length(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes, without encoding ASCII text."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def message_size(entry: SendEntry) -> int:
    """The size SQS counts against ``MaximumMessageSize``: the body plus every attribute's name,
    type and value (SQS-L-1)."""
    size = utf8_length(entry.body)
    for name, value in entry.message_attributes.items():
        size += utf8_length(name) + utf8_length(value.data_type)
        if value.binary_value is not None:
            size += len(value.binary_value)
        elif value.string_value is not None:
            size += utf8_length(value.string_value)
    return size


def attributes_error(attributes: Mapping[str, MessageAttributeValue]) -> str | None:
    """The SQS error text for invalid message attributes, else ``None`` (SQS-L-5)."""
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        return (
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        error = attribute_error(name, value)
        if error is not None:
            return error
    return None


def attribute_error(name: str, value: MessageAttributeValue) -> str | None:
    """The SQS error text for one invalid message attribute, else ``None`` (SQS-L-5)."""
    if (
        not isinstance(name, str)
        or not _ATTRIBUTE_NAME.fullmatch(name)
        or len(name) > MAX_ATTRIBUTE_NAME_LENGTH
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
        or name.lower().startswith(("aws.", "amazon."))
    ):
        return (
            f"Message (user) attribute name {name!r} is invalid: names have 1 to 256 characters "
            "A-Z a-z 0-9 _ - . , cannot start or end with a period or contain two in a row, and "
            "cannot start with AWS. or Amazon."
        )
    if not isinstance(value, MessageAttributeValue):
        return f"Message (user) attribute {name!r} must be a MessageAttributeValue."
    base_type = value.data_type.split(".", 1)[0]
    if base_type not in _ATTRIBUTE_TYPES or value.data_type.endswith("."):
        return (
            f"The type of message (user) attribute {name!r} is invalid. You must use only the "
            "following supported type prefixes: Binary, Number, String."
        )
    if base_type == "Binary":
        if not isinstance(value.binary_value, bytes | bytearray) or not value.binary_value:
            return f"Message (user) attribute {name!r} must contain a non-empty value of type 'Binary'."
        if value.string_value is not None:
            return f"Message (user) attribute {name!r} of type 'Binary' cannot have a string value."
        return None
    if not isinstance(value.string_value, str) or not value.string_value:
        return f"Message (user) attribute {name!r} must contain a non-empty value of type 'String'."
    if value.binary_value is not None:
        return f"Message (user) attribute {name!r} of type {value.data_type!r} cannot have a binary value."
    if _forbidden_body_char().search(value.string_value):
        return f"Message (user) attribute {name!r} contains characters SQS does not allow."
    if base_type == "Number":
        from decimal import Decimal, InvalidOperation  # here: ~3 ms of every start-up otherwise

        try:
            number = Decimal(value.string_value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return f"Can't cast the value of message (user) attribute {name!r} to a number."
    return None


def check_send_entry(entry: SendEntry, entry_id: str, spec: QueueSpec) -> BatchEntryError | None:
    """Validate one entry against the queue it goes to; the failure SQS would report, or ``None``.

    Covers SQS-L-1 (body, size), SQS-L-2 (delay), SQS-L-5 (attributes), SQS-F-2 (group id) and
    SQS-F-3 (deduplication id), checked in the order SQS reports them.
    """
    error = body_error(entry.body)
    if _plain(entry, spec):  # a body alone, to a standard queue: only these two can fail it
        error = error or _size_error(entry, spec)
        return BatchEntryError(entry_id, error[0], error[1]) if error is not None else None
    if error is None:
        attr_error = attributes_error(entry.message_attributes)
        error = ("InvalidParameterValue", attr_error) if attr_error is not None else None
    for check in (_size_error, _delay_error, _id_format_error, _queue_type_error):
        if error is not None:
            break
        error = check(entry, spec)
    return BatchEntryError(entry_id, error[0], error[1]) if error is not None else None


def _plain(entry: SendEntry, spec: QueueSpec) -> bool:
    """No attributes, delay or FIFO ids, to a standard queue: what most sends are."""
    return (
        not entry.message_attributes
        and entry.delay_seconds is None
        and entry.message_group_id is None
        and entry.message_deduplication_id is None
        and not spec.fifo
    )


def _size_error(entry: SendEntry, spec: QueueSpec) -> tuple[str, str] | None:
    if message_size(entry) > spec.maximum_message_size:
        return (
            "InvalidParameterValue",
            f"One or more parameters are invalid. Reason: Message must be shorter than "
            f"{spec.maximum_message_size} bytes.",
        )
    return None


def _delay_error(entry: SendEntry, spec: QueueSpec) -> tuple[str, str] | None:
    delay = entry.delay_seconds
    if delay is None:
        return None
    if spec.fifo:
        return (
            "InvalidParameterValue",
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request "
            "include parameter that is not valid for this queue type.",
        )
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_SECONDS:
        return (
            "InvalidParameterValue",
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds "
            f"must be >= 0 and <= {MAX_DELAY_SECONDS}.",
        )
    return None


def _id_format_error(entry: SendEntry, spec: QueueSpec) -> tuple[str, str] | None:
    for name, value, longest in (
        ("MessageGroupId", entry.message_group_id, MAX_GROUP_ID_LENGTH),
        ("MessageDeduplicationId", entry.message_deduplication_id, MAX_DEDUP_ID_LENGTH),
    ):
        if value is not None and (len(value) > longest or not _GROUP_OR_DEDUP_ID.fullmatch(value)):
            return (
                "InvalidParameterValue",
                f"Value {value} for parameter {name} is invalid. Reason: {name} can only include "
                f"alphanumeric and punctuation characters. 1 to {longest} in length.",
            )
    return None


def _queue_type_error(entry: SendEntry, spec: QueueSpec) -> tuple[str, str] | None:
    """FIFO needs a group id and a deduplication id (or content-based deduplication); a standard
    queue takes no deduplication id."""
    dedup = entry.message_deduplication_id
    if spec.fifo:
        if entry.message_group_id is None:
            return "MissingParameter", "The request must contain the parameter MessageGroupId."
        if dedup is None and not spec.content_based_deduplication:
            return (
                "InvalidParameterValue",
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly",
            )
    elif dedup is not None:
        return (
            "InvalidParameterValue",
            "The request include parameter that is not valid for this queue type: "
            "MessageDeduplicationId is for FIFO queues only.",
        )
    return None


def entry_ids(entries: list[SendEntry] | tuple[SendEntry, ...]) -> list[str]:
    """Each entry's batch id (its ``id`` or its position), checked for SQS's rules.

    Raises ``InvalidParameterValue`` for a malformed id or two entries with one id
    (SQS ``InvalidBatchEntryId`` / ``BatchEntryIdsNotDistinct``): those fail the whole call.
    """
    ids = [entry.id if entry.id is not None else str(index) for index, entry in enumerate(entries)]
    for entry_id in ids:
        if not _BATCH_ENTRY_ID.fullmatch(entry_id):
            raise InvalidParameterValue(
                f"A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                f"It can be at most 80 letters long: {entry_id!r}"
            )
    if len(set(ids)) != len(ids):
        raise InvalidParameterValue("Two or more batch entries in the request have the same Id.")
    return ids

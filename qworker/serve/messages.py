"""Messages between SQS's request/response shapes and the backend protocol's types.

Send requests become :class:`~qworker.backend.SendEntry` (message attributes decoded, binary
values from base64); received messages become SQS ``Message`` shapes with only the system and
message attributes the receiver asked for, and an ``MD5OfMessageAttributes`` over exactly the
attributes returned, because SDKs check that digest against what they got (the JS and Java SDKs
refuse a mismatch).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from qworker import digest
from qworker.backend import MessageAttributeValue, ReceivedMessage, SendEntry
from qworker.serve.errors import SQSError, invalid_parameter, invalid_value

TRACE_HEADER = "AWSTraceHeader"
#: every system attribute a receive can ask for (``All`` means all of them)
SYSTEM_ATTRIBUTE_NAMES = frozenset(
    {
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
    }
)


def attribute_value(name: str, shape: Any) -> MessageAttributeValue:
    """One ``MessageAttributeValue`` request shape (``{"DataType", "StringValue"|"BinaryValue"}``)."""
    if not isinstance(shape, dict):
        raise invalid_parameter(f"The message attribute '{name}' must be a MessageAttributeValue.")
    data_type = shape.get("DataType")
    if not isinstance(data_type, str) or not data_type:
        raise invalid_parameter(f"The message attribute '{name}' must contain a DataType.")
    string_value = shape.get("StringValue")
    binary = shape.get("BinaryValue")
    if string_value is not None and not isinstance(string_value, str):
        raise invalid_parameter(f"The message attribute '{name}' has a StringValue that is not a string.")
    binary_value = None
    if binary is not None:
        if not isinstance(binary, str):
            raise invalid_parameter(f"The message attribute '{name}' has a BinaryValue that is not base64.")
        try:
            binary_value = base64.b64decode(binary, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_parameter(
                f"The message attribute '{name}' has a BinaryValue that is not base64."
            ) from None
    if data_type.startswith("Binary") and binary_value is None and string_value is None:
        raise invalid_parameter(
            f"Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
        )
    return MessageAttributeValue(data_type, string_value, binary_value)


def message_attributes(shapes: Any) -> dict[str, MessageAttributeValue]:
    if not shapes:
        return {}
    if not isinstance(shapes, dict):
        raise invalid_parameter("MessageAttributes must be a map of attribute names to values.")
    return {str(name): attribute_value(str(name), shape) for name, shape in shapes.items()}


def trace_header(shapes: Any) -> str | None:
    """The ``AWSTraceHeader`` of ``MessageSystemAttributes``, the only system attribute a sender sets."""
    if not shapes:
        return None
    if not isinstance(shapes, dict):
        raise invalid_parameter("MessageSystemAttributes must be a map of attribute names to values.")
    for name in shapes:
        if name != TRACE_HEADER:
            raise invalid_parameter(f"Message system attribute name '{name}' is invalid.")
    value = attribute_value(TRACE_HEADER, shapes[TRACE_HEADER])
    if value.data_type != "String" or not value.string_value:
        raise invalid_parameter("Message system attribute 'AWSTraceHeader' must be a non-empty String.")
    return value.string_value


def md5_of_system_attributes(trace: str | None) -> str | None:
    """``MD5OfMessageSystemAttributes``: the message-attribute digest over the system attributes."""
    if trace is None:
        return None
    return digest.md5_of_message_attributes({TRACE_HEADER: MessageAttributeValue("String", trace)})


#: the parameters of a send (or batch entry) that :func:`send_entry` does not read
_PLAIN = frozenset(("MessageBody", "Id", "QueueUrl"))


def send_entry(
    params: dict[str, Any], entry_id: str | None, fifo: bool = False, trace: str | None = None
) -> SendEntry:
    """A SendMessage request, or one entry of a SendMessageBatch, as a backend entry.

    On a FIFO queue SQS refuses a per-message delay but accepts an explicit ``DelaySeconds=0``
    (which leaves the queue's delay in force): that one is dropped here."""
    body = params.get("MessageBody")
    if type(body) is str and params.keys() <= _PLAIN:  # a body and nothing else to check
        return SendEntry(body, id=entry_id, trace_header=trace)
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise invalid_value("MessageBody", body, "must be a string.")
    delay = params.get("DelaySeconds")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int)):
        raise invalid_value("DelaySeconds", delay, "must be an integer.")
    if fifo and delay == 0:
        delay = None
    group, dedup = params.get("MessageGroupId"), params.get("MessageDeduplicationId")
    for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
        if value is not None and not isinstance(value, str):
            raise invalid_value(name, value, "must be a string.")
    return SendEntry(
        body,
        id=entry_id,
        message_attributes=message_attributes(params.get("MessageAttributes")),
        delay_seconds=delay,
        message_group_id=group,
        message_deduplication_id=dedup,
        trace_header=trace_header(params.get("MessageSystemAttributes")) or trace,
    )


class Selection:
    """Which attributes a ReceiveMessage asked for (``AttributeNames``/``MessageSystemAttributeNames``
    and ``MessageAttributeNames``: ``All``, ``*``, ``.*``, exact names, ``prefix.*``)."""

    __slots__ = ("all_attributes", "attribute_names", "message_all", "message_names", "prefixes")

    def __init__(self, system: list[str], message: list[str]) -> None:
        for name in system:
            if name not in SYSTEM_ATTRIBUTE_NAMES:
                raise SQSError("InvalidAttributeName", f"Unknown Attribute {name}.")
        self.all_attributes = "All" in system
        self.attribute_names = frozenset(system)
        self.message_all = any(name in ("All", ".*", "*") for name in message)
        self.message_names = frozenset(name for name in message if not name.endswith(".*"))
        # "Hel.*" selects every name that starts with "Hel" (Hello, Help.Me), as SQS does
        self.prefixes = tuple(name[:-2] for name in message if name.endswith(".*") and name != ".*")

    def wants_message_attribute(self, name: str) -> bool:
        return self.message_all or name in self.message_names or name.startswith(self.prefixes)


def message_shape(message: ReceivedMessage, selection: Selection) -> dict[str, Any]:
    """One SQS ``Message`` with the attributes the receive asked for."""
    shape: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.md5_of_body,
        "Body": message.body,
    }
    if selection.all_attributes:
        shape["Attributes"] = dict(message.attributes)
    elif selection.attribute_names:
        picked = {k: v for k, v in message.attributes.items() if k in selection.attribute_names}
        if picked:
            shape["Attributes"] = picked
    attributes = message.message_attributes
    if attributes:
        if selection.message_all:
            chosen, md5 = attributes, message.md5_of_message_attributes
        else:
            chosen = {k: v for k, v in attributes.items() if selection.wants_message_attribute(k)}
            md5 = digest.md5_of_message_attributes(chosen)
        if chosen:
            shape["MD5OfMessageAttributes"] = md5
            shape["MessageAttributes"] = {name: value_shape(value) for name, value in chosen.items()}
    return shape


def value_shape(value: MessageAttributeValue) -> dict[str, Any]:
    if value.binary_value is not None:
        return {"BinaryValue": bytes(value.binary_value), "DataType": value.data_type}
    return {"StringValue": value.string_value, "DataType": value.data_type}

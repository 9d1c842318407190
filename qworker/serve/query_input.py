"""The query protocol's requests (``Action=SendMessage&MessageBody=...``) as JSON-protocol params.

Older SDKs send form-encoded parameters whose names flatten the request shapes:
``MessageAttribute.1.Name``, ``MessageAttribute.1.Value.DataType``,
``SendMessageBatchRequestEntry.2.Id``, ``AttributeName.1``, ``Tag.1.Key``. This module turns
them into the dict the AWS JSON 1.0 protocol would have carried (``{"MessageAttributes":
{"a": {"DataType": ...}}}``), so every action has one implementation for both protocols. The
member names below are the query model's (``locationName`` traits of the SQS 2012-11-05 query
model, which botocore shipped until it moved SQS to JSON); integers are parsed here, every other
check is the action's.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from qworker.serve.errors import SQSError, invalid_value


class Lst(NamedTuple):
    """A flattened list: ``<name>.1``, ``<name>.2``, ..."""

    name: str
    member: object


class Map(NamedTuple):
    """A flattened map: ``<name>.N.<key>`` and ``<name>.N.<value>``."""

    name: str
    key: str
    value: str
    value_shape: object


class Struct(NamedTuple):
    """Members as ``(json name, query name, shape)``."""

    members: tuple[tuple[str, str, object], ...]


STR, INT = "string", "integer"

_ATTRIBUTE_VALUE = Struct(
    (
        ("StringValue", "StringValue", STR),
        ("BinaryValue", "BinaryValue", STR),  # base64 in both protocols: decoded by the action
        ("StringListValues", "StringListValue", Lst("StringListValue", STR)),
        ("BinaryListValues", "BinaryListValue", Lst("BinaryListValue", STR)),
        ("DataType", "DataType", STR),
    )
)
_MESSAGE_ATTRIBUTES = Map("MessageAttribute", "Name", "Value", _ATTRIBUTE_VALUE)
_SYSTEM_ATTRIBUTES = Map("MessageSystemAttribute", "Name", "Value", _ATTRIBUTE_VALUE)
_QUEUE_ATTRIBUTES = Map("Attribute", "Name", "Value", STR)
_TAGS = Map("Tag", "Key", "Value", STR)


def _s(*members: tuple[str, object] | tuple[str, str, object]) -> Struct:
    """A struct whose members keep their JSON name in the query protocol unless a list or map
    shape gives its own."""
    out = []
    for member in members:
        if len(member) == 3:
            out.append(member)
            continue
        name, shape = member
        query_name = shape.name if isinstance(shape, Lst | Map) else name
        out.append((name, query_name, shape))
    return Struct(tuple(out))


_SEND = (
    ("MessageBody", STR),
    ("DelaySeconds", INT),
    ("MessageAttributes", _MESSAGE_ATTRIBUTES),
    ("MessageSystemAttributes", _SYSTEM_ATTRIBUTES),
    ("MessageDeduplicationId", STR),
    ("MessageGroupId", STR),
)
_Q = ("QueueUrl", STR)

#: every action's request, in the query protocol's names
REQUESTS: dict[str, Struct] = {
    "CreateQueue": _s(("QueueName", STR), ("Attributes", _QUEUE_ATTRIBUTES), ("tags", _TAGS)),
    "GetQueueUrl": _s(("QueueName", STR), ("QueueOwnerAWSAccountId", STR)),
    "ListQueues": _s(("QueueNamePrefix", STR), ("NextToken", STR), ("MaxResults", INT)),
    "DeleteQueue": _s(_Q),
    "PurgeQueue": _s(_Q),
    "GetQueueAttributes": _s(_Q, ("AttributeNames", Lst("AttributeName", STR))),
    "SetQueueAttributes": _s(_Q, ("Attributes", _QUEUE_ATTRIBUTES)),
    "SendMessage": _s(_Q, *_SEND),
    "SendMessageBatch": _s(_Q, ("Entries", Lst("SendMessageBatchRequestEntry", _s(("Id", STR), *_SEND)))),
    "ReceiveMessage": _s(
        _Q,
        ("AttributeNames", Lst("AttributeName", STR)),
        ("MessageSystemAttributeNames", Lst("MessageSystemAttributeName", STR)),
        ("MessageAttributeNames", Lst("MessageAttributeName", STR)),
        ("MaxNumberOfMessages", INT),
        ("VisibilityTimeout", INT),
        ("WaitTimeSeconds", INT),
        ("ReceiveRequestAttemptId", STR),
    ),
    "DeleteMessage": _s(_Q, ("ReceiptHandle", STR)),
    "DeleteMessageBatch": _s(
        _Q, ("Entries", Lst("DeleteMessageBatchRequestEntry", _s(("Id", STR), ("ReceiptHandle", STR))))
    ),
    "ChangeMessageVisibility": _s(_Q, ("ReceiptHandle", STR), ("VisibilityTimeout", INT)),
    "ChangeMessageVisibilityBatch": _s(
        _Q,
        (
            "Entries",
            Lst(
                "ChangeMessageVisibilityBatchRequestEntry",
                _s(("Id", STR), ("ReceiptHandle", STR), ("VisibilityTimeout", INT)),
            ),
        ),
    ),
    "TagQueue": _s(_Q, ("Tags", _TAGS)),
    "UntagQueue": _s(_Q, ("TagKeys", Lst("TagKey", STR))),
    "ListQueueTags": _s(_Q),
    "ListDeadLetterSourceQueues": _s(_Q, ("NextToken", STR), ("MaxResults", INT)),
    "AddPermission": _s(
        _Q,
        ("Label", STR),
        ("AWSAccountIds", Lst("AWSAccountId", STR)),
        ("Actions", Lst("ActionName", STR)),
    ),
    "RemovePermission": _s(_Q, ("Label", STR)),
    "StartMessageMoveTask": _s(
        ("SourceArn", STR), ("DestinationArn", STR), ("MaxNumberOfMessagesPerSecond", INT)
    ),
    "CancelMessageMoveTask": _s(("TaskHandle", STR)),
    "ListMessageMoveTasks": _s(("SourceArn", STR), ("MaxResults", INT)),
}

#: the most list or map entries read for one member (SQS's own limits are far lower)
MAX_ITEMS = 1000


def parse_form(body: bytes) -> dict[str, str]:
    """``a=1&b=2`` as a dict; the last of repeated names wins. Malformed or non-UTF-8 input is
    SQS's ``MalformedQueryString``."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=20_000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SQSError("MalformedQueryString", f"The query string is malformed: {exc}") from None
    return dict(pairs)


def decode(action: str, form: dict[str, str]) -> dict[str, Any]:
    """The JSON-protocol params of ``action`` from its form fields (unknown fields are ignored,
    as SQS ignores them)."""
    shape = REQUESTS.get(action)
    if shape is None:
        return {}
    return _struct(shape, form, "")


def _value(shape: object, form: dict[str, str], key: str) -> Any:
    if shape is STR:
        return form.get(key)
    if shape is INT:
        text = form.get(key)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise invalid_value(key.rsplit(".", 1)[-1], text, "must be an integer.") from None
    if isinstance(shape, Struct):
        found = _struct(shape, form, key + ".")
        return found or None
    if isinstance(shape, Lst):
        return _list(shape, form, key)
    assert isinstance(shape, Map)
    return _map(shape, form, key)


def _struct(shape: Struct, form: dict[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, query_name, member in shape.members:
        value = _value(member, form, prefix + query_name)
        if value is not None:
            out[name] = value
    return out


def _list(shape: Lst, form: dict[str, str], key: str) -> list[Any] | None:
    items = []
    for index in range(1, MAX_ITEMS + 1):
        item = _value(shape.member, form, f"{key}.{index}")
        if item is None:
            break
        items.append(item)
    return items or None


def _map(shape: Map, form: dict[str, str], key: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for index in range(1, MAX_ITEMS + 1):
        name = form.get(f"{key}.{index}.{shape.key}")
        if name is None:
            break
        out[name] = _value(shape.value_shape, form, f"{key}.{index}.{shape.value}")
    return out or None

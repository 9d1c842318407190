"""What the client sends: bodies and attributes in Python's terms, turned into backend entries.

SQS bodies are text, and message attributes are typed strings or bytes. The client accepts the
Python values a program has and converts them the one documented way:

* body ``str``: sent as is. ``bytes`` (``bytearray``, ``memoryview``): must be UTF-8 and are sent
  as that text; other bytes raise :class:`~qworker.errors.InvalidMessageContents` (encode them,
  for example with base64, or send them as a ``Binary`` attribute). Anything else is serialised
  to JSON, compact (``{"a":1}``, no spaces) and with non-ASCII characters kept as they are, NaN
  and infinities refused; a client made with ``dumps=`` uses that function instead (for example
  ``orjson.dumps``, or a pydantic model's ``model_dump_json``).
* attributes ``{name: value}``: ``str`` -> ``String``; ``int``, ``float``, ``Decimal`` ->
  ``Number``; ``bytes`` (``bytearray``, ``memoryview``) -> ``Binary``; a
  :class:`~qworker.backend.MessageAttributeValue` as given (custom types such as ``Number.int``).
  ``bool`` and ``None`` are refused: SQS has no such type, and guessing would surprise a reader.

These conversions raise before anything is sent (a program error, like boto3's parameter
validation). What the queue refuses (a body too large, a FIFO message without a group id) is the
backend's per-entry failure, with SQS's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from qworker.backend import MessageAttributeValue, SendEntry
from qworker.errors import InvalidMessageContents

Dumps = Callable[[Any], "str | bytes"]

_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class Message:
    """One message of :meth:`qworker.Client.send_batch` (a dict with these keys works too)."""

    body: Any  #: ``str``, UTF-8 ``bytes``, or a JSON-serialisable value
    attributes: Mapping[str, Any] | None = None  #: ``{name: value}``, types inferred
    group_id: str | None = None  #: ``MessageGroupId`` (FIFO queues: required)
    dedup_id: str | None = None  #: ``MessageDeduplicationId`` (FIFO queues)
    #: seconds before the message can be received, 0-900; ``None``: the queue's ``DelaySeconds``
    #: (FIFO queues take no per-message delay)
    delay: int | None = None
    id: str | None = None  #: the entry's id in the results; default its position, "0", "1", ...
    #: the ``AWSTraceHeader`` system attribute (X-Ray); by default the sender's trace, if any
    trace_header: str | None = None


_FIELDS = frozenset(field.name for field in fields(Message))


def encode_body(body: Any, dumps: Dumps | None = None) -> str:
    """The message body as SQS text (see the module docstring)."""
    if isinstance(body, str):
        return body
    if isinstance(body, bytes | bytearray | memoryview):
        return _utf8(bytes(body))
    try:
        text = dumps(body) if dumps is not None else _json.encode(body)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot send a body of type {type(body).__name__}: pass str, UTF-8 bytes or a "
            f"JSON-serialisable value, or give the client a dumps= function ({exc})."
        ) from exc
    return _utf8(text) if isinstance(text, bytes | bytearray) else text


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessageContents(
            f"A message body given as bytes must be UTF-8 text (byte {exc.start} is not): SQS bodies are "
            "text. Encode binary data (for example base64) or send it as a Binary message attribute."
        ) from None


def encode_attributes(attributes: Mapping[str, Any] | None) -> dict[str, MessageAttributeValue]:
    """``{name: value}`` as typed message attributes (see the module docstring)."""
    if not attributes:
        return {}
    return {name: attribute_value(name, value) for name, value in attributes.items()}


def attribute_value(name: str, value: Any) -> MessageAttributeValue:
    """One attribute's typed value: the type is inferred from the Python value."""
    if isinstance(value, MessageAttributeValue):
        return value
    if isinstance(value, str):
        return MessageAttributeValue("String", string_value=value)
    if isinstance(value, bool) or value is None:
        raise TypeError(
            f"Message attribute {name!r}: {value!r} has no SQS type; send a str ('true'), a number (1) "
            "or a MessageAttributeValue."
        )
    if isinstance(value, int):
        return MessageAttributeValue("Number", string_value=str(value))
    if isinstance(value, float):
        return MessageAttributeValue("Number", string_value=repr(value))
    if isinstance(value, Decimal):
        return MessageAttributeValue("Number", string_value=str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return MessageAttributeValue("Binary", binary_value=bytes(value))
    raise TypeError(
        f"Message attribute {name!r}: cannot send a {type(value).__name__}; use str, int, float, "
        "Decimal, bytes or a MessageAttributeValue."
    )


def as_message(item: Any) -> Message:
    """An entry of ``send_batch``: a :class:`Message`, or a mapping with its field names."""
    if isinstance(item, Message):
        return item
    if isinstance(item, Mapping):
        unknown = set(item) - _FIELDS
        if unknown:
            raise TypeError(
                f"Unknown message field(s) {', '.join(sorted(map(str, unknown)))}; a message takes "
                f"{', '.join(sorted(_FIELDS))}."
            )
        if "body" not in item:
            raise TypeError("A message needs a 'body'.")
        return Message(**item)
    raise TypeError(
        f"send_batch takes Message objects or dicts such as {{'body': ...}}, not {type(item).__name__} "
        "(wrap each body: Message(body) or {'body': body})."
    )


def to_entry(message: Message, dumps: Dumps | None, trace: tuple[str, Mapping[str, str]] | None) -> SendEntry:
    """The backend entry for ``message``; ``trace`` is the sender's trace context (X-Ray header,
    propagation fields such as ``traceparent``), added where the message has none of its own."""
    attributes = encode_attributes(message.attributes)
    trace_header = message.trace_header
    if trace is not None:
        header, fields = trace
        trace_header = trace_header or header
        add_trace_fields(attributes, fields)
    return SendEntry(
        encode_body(message.body, dumps),
        id=message.id,
        message_attributes=attributes,
        delay_seconds=message.delay,
        message_group_id=message.group_id,
        message_deduplication_id=message.dedup_id,
        trace_header=trace_header,
    )


#: SQS's limit on message attributes (propagation fields are added only while they fit)
MAX_ATTRIBUTES = 10


def add_trace_fields(attributes: dict[str, MessageAttributeValue], fields: Mapping[str, str]) -> None:
    """Add ``traceparent``-like fields as String attributes, unless the message has them already
    or they would take it past SQS's 10 attributes (then the ``AWSTraceHeader`` alone carries
    the trace, as it does for Lambda and X-Ray)."""
    new = [name for name in fields if name not in attributes]
    if new and len(attributes) + len(new) <= MAX_ATTRIBUTES:
        for name in new:
            attributes[name] = MessageAttributeValue("String", string_value=fields[name])


def messages_of(entries: Iterable[Any]) -> list[Message]:
    """``send_batch``'s entries as :class:`Message` objects, checked before anything is sent."""
    if isinstance(entries, str | bytes | Mapping | Message):
        raise TypeError("send_batch takes a list of messages; use send() for one message.")
    return [as_message(item) for item in entries]

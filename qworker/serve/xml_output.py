"""Query-protocol responses: an action's JSON-shaped result written as SQS's XML.

``{"QueueUrls": ["u1", "u2"]}`` for ListQueues becomes ``<ListQueuesResponse xmlns=...>
<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>
<ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></ListQueuesResponse>``. Lists and
maps are flattened under the element names of the SQS query model; a carriage return is written
as ``&#xD;`` because an XML parser would otherwise turn it into a line feed and change the body
(and its MD5).
"""

from __future__ import annotations

import base64
from typing import Any

from qworker.serve.errors import SQSError

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"

#: list member -> element name of each item
_LIST_ITEMS = {
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Messages": "Message",
    "Failed": "BatchResultErrorEntry",
    "Results": "ListMessageMoveTasksResultEntry",
}
#: map member -> (element name of each entry, key element, value element)
_MAP_ENTRIES = {
    "Attributes": ("Attribute", "Name", "Value"),
    "Tags": ("Tag", "Key", "Value"),
    "MessageAttributes": ("MessageAttribute", "Name", "Value"),
}
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;", '"': "&quot;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def response(action: str, result: dict[str, Any] | None, request_id: str) -> bytes:
    """The whole response document of a successful call."""
    parts = [f'<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">']
    if result:
        parts.append(f"<{action}Result>")
        _members(parts, action, result)
        parts.append(f"</{action}Result>")
    elif result is not None:
        parts.append(f"<{action}Result/>")
    parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
    parts.append(f"</{action}Response>")
    return "".join(parts).encode("utf-8", "surrogatepass")


def error(exc: SQSError, request_id: str) -> bytes:
    """An ``ErrorResponse`` document, as SQS sends it for the query protocol."""
    return (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{exc.fault}</Type>'
        f"<Code>{escape(exc.query_code)}</Code><Message>{escape(exc.message)}</Message><Detail/>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode("utf-8", "surrogatepass")


def _members(parts: list[str], action: str, result: dict[str, Any]) -> None:
    for name, value in result.items():
        if value is None:
            continue
        if isinstance(value, list):
            item = _LIST_ITEMS.get(name) or f"{action}ResultEntry"
            for element in value:
                _element(parts, action, item, element)
        elif name in _MAP_ENTRIES and isinstance(value, dict):
            entry, key_name, value_name = _MAP_ENTRIES[name]
            for key, item_value in value.items():
                parts.append(f"<{entry}><{key_name}>{escape(key)}</{key_name}>")
                _element(parts, action, value_name, item_value)
                parts.append(f"</{entry}>")
        else:
            _element(parts, action, name, value)


def _element(parts: list[str], action: str, name: str, value: Any) -> None:
    if isinstance(value, dict):
        parts.append(f"<{name}>")
        _members(parts, action, value)
        parts.append(f"</{name}>")
        return
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, bytes | bytearray):
        text = base64.b64encode(value).decode("ascii")
    else:
        text = escape(str(value))
    parts.append(f"<{name}>{text}</{name}>")


def as_json_document(action: str, result: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    """The query response as the JSON document SQS sends a query-protocol client that asks for
    ``Accept: application/json``: the XML's structure, lists under lower-camel names."""
    inner: dict[str, Any] = {}
    if result is not None:
        inner[f"{action}Result"] = {
            (name[0].lower() + name[1:] if isinstance(value, list) else name): value
            for name, value in result.items()
        }
    inner["ResponseMetadata"] = {"RequestId": request_id}
    return {f"{action}Response": inner}

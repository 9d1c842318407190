"""The AWS JSON 1.0 protocol, what current SDKs send: ``X-Amz-Target: AmazonSQS.SendMessage`` and
a JSON body; the answer is ``application/x-amz-json-1.0``.

Errors carry the shape name in ``__type`` and SQS's query-protocol code in the
``x-amzn-query-error`` header (``AWS.SimpleQueueService.NonExistentQueue;Sender``): SQS is
"awsQueryCompatible", and SDKs read that header to give the code programs already test for.

orjson, not the standard library: decoding and encoding are on every request's path, and orjson
does both several times faster for SQS's small documents; it also refuses invalid UTF-8, which
SQS answers with a 400 as well.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from qworker.serve.errors import SQSError

CONTENT_TYPE = b"application/x-amz-json-1.0"
TARGET_PREFIX = "AmazonSQS."
EMPTY = b"{}"


def action_of(target: str) -> str:
    """The action named by an ``X-Amz-Target`` header."""
    prefix, _, action = target.partition(".")
    if prefix != "AmazonSQS" or not action:
        raise SQSError("UnknownOperationException", f"The target {target!r} is not an SQS operation.")
    return action


def decode(body: bytes) -> dict[str, Any]:
    """The request's parameters; an empty body is no parameters."""
    if not body:
        return {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SQSError("SerializationException", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise SQSError("SerializationException", "The request body must be a JSON object.")
    return params


def _default(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(result: dict[str, Any] | None) -> bytes:
    """A successful call's body (``{}`` when the action returns nothing)."""
    if not result:
        return EMPTY
    return orjson.dumps(result, default=_default)


def error_body(exc: SQSError) -> bytes:
    return orjson.dumps({"__type": f"com.amazonaws.sqs#{exc.name}", "message": exc.message})


def error_header(exc: SQSError) -> tuple[bytes, bytes]:
    return b"x-amzn-query-error", f"{exc.query_code};{exc.fault}".encode()

"""Reading a request body from ASGI with a size cap and a deadline.

SQS takes at most 1 MiB of messages per request; encoded as JSON or as a form that is up to
about three times as many bytes (``\\u`` escapes, ``%XX``, base64), so a body above
:data:`MAX_BODY` cannot be a valid request. A declared ``Content-Length`` above the cap is
refused before a byte is read; a body that grows past it (chunked, or a lying length) is refused
as soon as it does, never held whole. A client that stops sending (a slow or lying client) gets
:data:`BODY_TIMEOUT` seconds, then a 408.
"""

from __future__ import annotations

import asyncio
from typing import Any

from qworker.serve.errors import SQSError

MAX_BODY = 4 * 1024 * 1024
BODY_TIMEOUT = 10.0


class ClientGone(Exception):
    """The client disconnected before its request was read: there is no one to answer."""


def declared_length(value: bytes | None) -> int | None:
    """The ``Content-Length`` header as an int (``None`` when absent); malformed is a 400."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise SQSError("MalformedQueryString", "The Content-Length header is not a valid length.")
    return length


def too_large(limit: int) -> SQSError:
    return SQSError(
        "RequestEntityTooLarge", f"The request body is larger than the {limit} bytes SQS accepts."
    )


async def read(
    receive: Any, declared: int | None, limit: int = MAX_BODY, timeout: float | None = BODY_TIMEOUT
) -> bytes:
    """The whole body, or an SQS error (413 too large, 408 too slow). ``timeout=None`` when the
    server's protocol enforces the deadline itself (:mod:`qworker.serve.protocol`)."""
    if declared is not None and declared > limit:
        raise too_large(limit)
    if timeout is None:
        return await _body(receive, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _body(receive, limit)
    except TimeoutError:
        raise SQSError(
            "RequestTimeout", f"The request body did not arrive within {timeout:g} seconds."
        ) from None


async def _body(receive: Any, limit: int) -> bytes:
    message = await receive()
    body = _chunk(message)
    if len(body) > limit:
        raise too_large(limit)
    if not message.get("more_body"):
        return body
    return await _rest(receive, [body], len(body), limit)


def _chunk(message: dict[str, Any]) -> bytes:
    if message["type"] == "http.disconnect":
        raise ClientGone
    return message.get("body", b"")


async def _rest(receive: Any, chunks: list[bytes], size: int, limit: int) -> bytes:
    if size > limit:
        raise too_large(limit)
    while True:
        message = await receive()
        chunk = _chunk(message)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)

"""A runtime process's stdout and stderr, line by line, into qworker's log with the request id.

In Lambda whatever a runtime writes goes to CloudWatch Logs, one event per line, under the
environment's log stream; here each line becomes one structlog record (``stream`` says which
pipe, ``request_id`` is the invocation running when the line was read). A line longer than
Lambda's 256 KB log event is cut into pieces of that size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

log = structlog.get_logger("qworker")

#: Lambda's largest log event (256 KB); longer lines are split
MAX_LINE = 256 * 1024
_CHUNK = 64 * 1024


async def pump(
    reader: asyncio.StreamReader,
    stream: str,
    function: str,
    request_id: Callable[[], str | None],
    pid: int,
) -> None:
    """Log every line ``reader`` yields until EOF."""
    pending = b""
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _emit(line, stream, function, request_id(), pid)
        while len(pending) >= MAX_LINE:
            _emit(pending[:MAX_LINE], stream, function, request_id(), pid)
            pending = pending[MAX_LINE:]
    if pending:
        _emit(pending, stream, function, request_id(), pid)


def _emit(line: bytes, stream: str, function: str, request_id: str | None, pid: int) -> None:
    text = line.rstrip(b"\r").decode("utf-8", "replace")
    log.info(text, stream=stream, function=function, request_id=request_id, pid=pid)

"""uvicorn's httptools protocol with the bounds it lacks: how long a request may take to arrive,
and how large its head may be.

uvicorn times out idle keep-alive connections, but not a connection that sends its request line
and headers slowly (slowloris) or stops in the middle of its body, and it does not bound the
head's size: each such connection would be held for ever. Here, once a request's first byte has
arrived, its head must be complete within ``head_timeout`` seconds and :data:`MAX_HEAD` bytes,
and then its body within ``head_timeout`` seconds more; otherwise the client gets a ``408`` (in
SQS's error shape once the head said which protocol it speaks) or a ``431``, and the connection
is closed. The deadline is a timer per request on the event loop, cheaper than a timeout around
the app's body reads. (The body's size cap is the app's, in :mod:`qworker.serve.body`.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024


def _status(code: int, reason: str) -> bytes:
    return (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(reason) + 1}\r\nconnection: close\r\n\r\n{reason}\n"
    ).encode()


_TIMEOUT = _status(408, "Request Timeout")


def body_timeout_response(query: bool, timeout: float) -> bytes:
    """A whole 408 response in SQS's error shape for the request's protocol."""
    from qworker.serve import json_protocol, xml_output
    from qworker.serve.errors import SQSError

    error = SQSError("RequestTimeout", f"The request body did not arrive within {timeout:g} seconds.")
    if query:
        body, headers = xml_output.error(error, "0"), b"content-type: text/xml\r\n"
    else:
        name, value = json_protocol.error_header(error)
        body = json_protocol.error_body(error)
        headers = b"content-type: application/x-amz-json-1.0\r\n" + name + b": " + value + b"\r\n"
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        + headers
        + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        + body
    )


_TOO_LARGE = _status(431, "Request Header Fields Too Large")


class CoalescingTransport:
    """A transport whose writes of one event-loop turn go out as one ``write``.

    uvicorn writes a response's head and its body separately: two system calls for every
    SQS answer, where one does (a system call costs more than the rest of a small response's
    formatting). Writes are gathered and flushed by a callback at the end of the turn; ``close``
    flushes first. Everything else goes to the real transport.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that bounds how long and how large a request head may be.

    A new connection that sends nothing is closed silently after uvicorn's keep-alive timeout,
    like an idle keep-alive connection; once a request's first byte has arrived its head must
    be complete within ``head_timeout`` seconds.
    """

    head_timeout = HEAD_TIMEOUT
    max_head = MAX_HEAD

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes: int | None = 0  # None while a body (not a head) is being read

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._timer = self.loop.call_later(self.timeout_keep_alive, self._idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        # still in a head after all of ``data`` (a complete head resets the count to None)
        if (
            self._head_bytes is not None
            and self._head_bytes > self.max_head
            and not self.transport.is_closing()
        ):
            self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(self.head_timeout, self._head_too_slow)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._stop_timer()
        self._head_bytes = None
        super().on_headers_complete()
        self._timer = self.loop.call_later(self.head_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._stop_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._head_bytes = 0
        super().on_response_complete()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self._refuse(_TIMEOUT)

    def _body_too_slow(self) -> None:
        self._timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or cycle.response_complete:
            return
        query = not any(name == b"x-amz-target" for name, _ in self.headers)
        self._refuse(body_timeout_response(query, self.head_timeout))

    def _refuse(self, response: bytes) -> None:
        self._stop_timer()
        self.transport.write(response)
        self.transport.close()

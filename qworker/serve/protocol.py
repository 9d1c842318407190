"""uvicorn's httptools protocol with the two bounds it lacks: time and size of a request head.

uvicorn times out idle keep-alive connections, but not a connection that never sends a request
or sends its request line and headers slowly (slowloris), and it does not bound the head's size.
Each such connection would be held for ever. Here a request head must arrive within
:data:`HEAD_TIMEOUT` seconds of the connection opening or of the previous response, and within
:data:`MAX_HEAD` bytes; otherwise the client gets a ``408`` or ``431`` and the connection is
closed. (The body has its own deadline and cap, in :mod:`qworker.serve.body`.)
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
_TOO_LARGE = _status(431, "Request Header Fields Too Large")


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
        super().connection_made(transport)
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

    def _refuse(self, response: bytes) -> None:
        self._stop_timer()
        self.transport.write(response)
        self.transport.close()

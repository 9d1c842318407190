"""uvicorn's httptools protocol with the bounds it lacks: how long a request may take to arrive,
and how large its head may be.

uvicorn times out idle keep-alive connections, but not a connection that sends its request line
and headers slowly (slowloris) or stops in the middle of its body, and it does not bound the
head's size: each such connection would be held for ever. Here, once a request's first byte has
arrived, its head must be complete within ``head_timeout`` seconds and :data:`MAX_HEAD` bytes,
and then its body within ``head_timeout`` seconds more; otherwise the client gets a ``408`` (in
SQS's error shape once the head said which protocol it speaks) or a ``431``, and the connection
is closed. The deadlines are one timer per connection on the event loop, cheaper than a timeout
around the app's body reads. (The body's size cap is the app's, in :mod:`qworker.serve.body`.)

The protocol also hands the SQS app the request's uvicorn cycle (``scope["extensions"]``, key
:data:`LEAN`): with it the app takes a body that has all arrived without awaiting ASGI's
``receive`` (:func:`ready_body`) and writes its whole response at once (:func:`respond`), which
is most of what uvicorn spends on a small request apart from parsing it. Anything unusual (more
body to come, ``Expect: 100-continue``, HEAD, a paused transport) goes through ASGI as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

#: the uvicorn internals the shortcuts read (uvicorn 0.30-0.55 have them): without any of them,
#: requests simply go through ASGI's receive and send, and keep-alive through uvicorn's own code
_CYCLE_FIELDS = (
    "more_body", "disconnected", "response_complete", "waiting_for_100_continue", "message_event",
    "flow", "body", "response_started", "access_log", "default_headers", "keep_alive", "transport",
    "on_response", "scope",
)  # fmt: skip
LEAN_SUPPORTED = all(
    hasattr(httptools_impl, name) for name in ("HEADER_RE", "HEADER_VALUE_RE", "STATUS_LINE")
) and all(hasattr(HttpToolsProtocol, name) for name in ("_unset_keepalive_if_required", "_start_asgi_task"))

HEAD_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024
#: the scope's ``extensions`` entry that hands the app the request's cycle (:func:`ready_body`,
#: :func:`respond`)
LEAN = "qworker.lean"


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

    def write_now(self, data: bytes) -> None:
        """``data`` out at once, after whatever was gathered before it: a whole response has
        nothing to wait for, and the turn's callback would cost a turn of the loop."""
        if self._pending:
            self._pending.append(data)
            self._flush()
        elif not self._transport.is_closing():
            self._transport.write(data)

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


#: what the connection's one timer is watching for
_NONE, _IDLE, _HEAD, _BODY = range(4)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that bounds how long and how large a request head may be.

    A new connection that sends nothing is closed silently after uvicorn's keep-alive timeout,
    like an idle keep-alive connection; once a request's first byte has arrived its head must
    be complete within ``head_timeout`` seconds.

    One timer per connection watches all three deadlines (idle keep-alive, head, body): a
    request moves the deadline (a float) and the timer is re-armed only when it fires before
    the deadline, or when a deadline comes earlier than the timer. Creating and cancelling a
    timer for each deadline of each request cost more than the rest of the protocol's work.
    """

    head_timeout = HEAD_TIMEOUT
    max_head = MAX_HEAD

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  #: when ``_timer`` fires
        self._phase = _NONE
        self._deadline = 0.0  #: when the phase's time is up
        self._head_bytes: int | None = 0  # None while a body (not a head) is being read

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm(_IDLE, self.timeout_keep_alive)

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
        self._arm(_HEAD, self.head_timeout)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()
        cycle = self.cycle
        if LEAN_SUPPORTED and cycle is not None and cycle.scope is self.scope and _lean_cycle(cycle):
            extensions = self.scope.get("extensions")
            if extensions is None:
                self.scope["extensions"] = {LEAN: cycle}
            else:
                extensions[LEAN] = cycle  # type: ignore[index]
        self._arm(_BODY, self.head_timeout)

    def on_message_complete(self) -> None:
        self._phase = _NONE
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not self.transport.is_closing():
            self._arm(_IDLE, self.timeout_keep_alive)  # answered before its body was in

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive deadline on the connection's one timer."""
        self._head_bytes = 0
        if not LEAN_SUPPORTED:  # another uvicorn: its own keep-alive timer, besides ours
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._phase == _NONE:  # else the next request's head or body is on its way
            self._arm(_IDLE, self.timeout_keep_alive)

    def _arm(self, phase: int, seconds: float) -> None:
        """Watch for ``phase`` lasting ``seconds`` from now."""
        loop = self.loop
        self._phase = phase
        self._deadline = deadline = loop.time() + seconds
        if self._timer is not None:
            if self._timer_at <= deadline:
                return  # fires first and re-arms
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire)
        self._timer_at = deadline

    def _stop_timer(self) -> None:
        self._phase = _NONE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == _NONE or self.transport.is_closing():
            return
        now = self.loop.time()
        if now < self._deadline:  # the deadline moved since the timer was set
            self._timer_at = min(self._deadline, now + self.head_timeout)
            self._timer = self.loop.call_at(self._timer_at, self._expire)
            return
        self._phase = _NONE
        if phase == _IDLE:
            self.transport.close()
        elif phase == _HEAD:
            self._refuse(_TIMEOUT)
        else:
            self._body_too_slow()

    def _body_too_slow(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # answered without its body: idle now
            self._arm(_IDLE, self.timeout_keep_alive)
            return
        query = not any(name == b"x-amz-target" for name, _ in self.headers)
        self._refuse(body_timeout_response(query, self.head_timeout))

    def _refuse(self, response: bytes) -> None:
        self._stop_timer()
        self.transport.write(response)
        self.transport.close()


def _lean_cycle(cycle: RequestResponseCycle) -> bool:
    """True when the cycle has every field the shortcuts read (checked once per class)."""
    known = _checked.get(type(cycle))
    if known is None:
        known = _checked[type(cycle)] = all(hasattr(cycle, name) for name in _CYCLE_FIELDS)
    return known


_checked: dict[type, bool] = {}


# -- the app's shortcuts past ASGI's receive and send ------------------------------------------------


def ready_body(cycle: RequestResponseCycle) -> bytes | None:
    """The request's whole body when it has all arrived, as ASGI's ``receive`` would give it;
    ``None`` when ``receive`` must be awaited (more to come, ``Expect: 100-continue``, gone)."""
    if cycle.more_body or cycle.disconnected or cycle.response_complete or cycle.waiting_for_100_continue:
        return None
    cycle.flow.resume_reading()
    cycle.message_event.clear()
    body = bytes(cycle.body)
    cycle.body = bytearray()
    return body


#: header lines found valid (the app's are the same few, the date changes once a second)
_valid_headers: set[tuple[bytes, bytes]] = set()
_MAX_VALID_HEADERS = 256


def _check_header(name: bytes, value: bytes) -> None:
    if httptools_impl.HEADER_RE.search(name) or httptools_impl.HEADER_VALUE_RE.search(value):
        raise RuntimeError("Invalid HTTP header.")
    if len(_valid_headers) >= _MAX_VALID_HEADERS:
        _valid_headers.clear()
    _valid_headers.add((name, value))


def respond(
    cycle: RequestResponseCycle, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> bool:
    """A whole response (``content-length`` added) in one write, as ASGI's two ``send`` calls
    would write it; False when they must be used instead (a HEAD request, an access log, a
    paused transport, a response already started or a client gone)."""
    if (
        cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused
        or cycle.access_log
        or cycle.scope["method"] == "HEAD"
    ):
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    content = [httptools_impl.STATUS_LINE[status]]
    closing = False
    for name, value in (*cycle.default_headers, *headers):  # names in lower case
        if (name, value) not in _valid_headers:
            _check_header(name, value)
        if name == b"connection" and b"close" in [token.strip() for token in value.lower().split(b",")]:
            cycle.keep_alive = False
            closing = True
        content += (name, b": ", value, b"\r\n")
    content.append(b"content-length: %d\r\n" % len(body))
    if not cycle.keep_alive and not closing:
        content.append(b"connection: close\r\n")
    content += (b"\r\n", body)
    transport = cycle.transport
    if type(transport) is CoalescingTransport:  # one whole response: no need to wait for more
        transport.write_now(b"".join(content))
    else:
        transport.write(b"".join(content))
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True

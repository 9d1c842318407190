"""One loopback HTTP listener for one execution environment, on the worker's (uvloop) loop.

Each execution environment gets its own listener on ``127.0.0.1:<free port>``: the address is
the environment's identity (``AWS_LAMBDA_RUNTIME_API``), as in Lambda where each environment has
its own API endpoint, and a replaced process gets a new listener, so nothing a killed process
had sent can reach its successor.

The server is a lean HTTP/1.1 protocol on httptools (llhttp): the API is called twice per
invocation, and a general ASGI server's per-request work (a task, an ASGI scope and messages, a
socket write for the head and another for the body) was most of the worker's cost of an
invocation. Here a request is answered from the parser's callbacks: an answer or a queued
invocation is written at once, in one write; a GET /next that has to wait is answered by the
dispatch itself (:meth:`RuntimeApiState.dispatch` calls the connection back), with no task and
no future. Keep-alive, pipelining, ``Expect: 100-continue``, chunked request bodies and a client
that leaves while it waits are handled; where httptools is not installed (it is a CPython-only
dependency), uvicorn (h11) serves :class:`~.app.RuntimeApiApp` as an ASGI app instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.app import Route, RuntimeApiApp, body_limit, route_url
from qworker.runtime.runtime_api.protocol import Answer
from qworker.runtime.runtime_api.state import Invocation

try:
    import httptools
except ImportError:  # pragma: no cover - CPython always has it (a dependency)
    httptools = None

#: seconds a closing listener gives its open requests (uvicorn fallback; its process is gone)
_SHUTDOWN_GRACE = 1.0
#: idle keep-alive connections stay open this long between a response and the next GET /next
#: (uvicorn fallback; the httptools server never closes an idle connection itself)
_KEEP_ALIVE = 600

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@lru_cache(maxsize=64)
def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())


@lru_cache(maxsize=64)
def _answer_head(status: int, length: int, keep_alive: bool) -> bytes:
    close = b"" if keep_alive else b"connection: close\r\n"
    return b"%scontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n" % (
        _status_line(status),
        length,
        close,
    )


def _header_value(value: bytes) -> bytes:
    """A header value as it can be written: CR and LF (never in qworker's own values; a trace
    header could come from a message) would end the header, so they become spaces."""
    if b"\r" in value or b"\n" in value:
        return value.replace(b"\r", b" ").replace(b"\n", b" ")
    return value


class _Request:
    """A parsed request waiting its turn (a pipelined one, behind a GET /next that waits)."""

    __slots__ = ("body", "error_type", "head", "keep_alive", "routed", "too_large")

    def __init__(
        self,
        routed: Route,
        body: bytes,
        too_large: bool,
        error_type: str | None,
        keep_alive: bool,
        head: bool,
    ) -> None:
        self.routed = routed
        self.body = body
        self.too_large = too_large
        self.error_type = error_type
        self.keep_alive = keep_alive
        self.head = head


class _Connection(asyncio.Protocol):
    """One runtime connection: parses requests, answers them in order, one write per answer."""

    def __init__(self, app: RuntimeApiApp, connections: set[_Connection]) -> None:
        self.app = app
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[_Request] = deque()  #: requests parsed while a GET /next waits
        self.waiting: _Request | None = None  #: the GET /next that waits for an invocation
        self.closed = False
        self.feeding = False  #: answers are collected (``out``) while one read is parsed
        self.out: list[bytes] = []  #: answers not written yet
        # the request being parsed
        self.url = b""
        self.error_type: str | None = None
        self.expect_continue = False
        self.routed: Route = protocol.NOT_FOUND
        self.method = ""
        self.limit = 0
        self.size = 0
        self.chunks: list[bytes] = []

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)
        if self.waiting is not None:  # the runtime left while it waited: the invocation stays queued
            self.waiting = None
            self.app.state.stop_waiting(self.deliver)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # served as plain HTTP, as uvicorn does with an upgrade it does not support
        except httptools.HttpParserError:
            self.out.clear()
            self._fail()
        finally:
            self.feeding = False
        # The answers to what this read held go out in one write. When its last request is a
        # GET /next that waits, they go out with the invocation that answers it: the runtime sent
        # that GET without waiting for them (it pipelines: qworker's Node.js client sends its
        # response and its next GET /next together), so it does not need them before, and one
        # write (one wake-up of the runtime) per invocation is what this saves.
        if self.out and self.waiting is None and not self.closed:
            self._flush()

    def _flush(self) -> None:
        out = self.out
        self.out = []
        assert self.transport is not None
        if len(out) == 1:
            self.transport.write(out[0])
        elif sum(map(len, out)) < 65536:
            self.transport.write(b"".join(out))
        else:
            self.transport.writelines(out)

    def _fail(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(_BAD_REQUEST)
            self.transport.close()
        self.closed = True

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.error_type = None
        self.expect_continue = False
        self.size = 0
        self.chunks = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == protocol.H_ERROR_TYPE:
            self.error_type = value.decode("latin-1")
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        self.method = self.parser.get_method().decode("ascii", "replace")
        self.routed = route_url(self.method, self.url)
        self.limit = body_limit(self.routed)
        if self.expect_continue and self.transport is not None and not self.closed:
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= self.limit:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        too_large = self.size > self.limit
        chunks = self.chunks
        body = b"" if too_large or not chunks else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        request = _Request(
            self.routed,
            body,
            too_large,
            self.error_type,
            self.parser.should_keep_alive(),
            self.method == "HEAD",
        )
        if self.waiting is not None or self.queue:
            self.queue.append(request)  # answered in order, after the GET /next that waits
            if self.transport is not None:
                self.transport.pause_reading()
        else:
            self._serve(request)

    # -- answers -------------------------------------------------------------------------------

    def _serve(self, request: _Request) -> None:
        if self.closed:
            return
        routed = request.routed
        if isinstance(routed, Answer):
            self._answer(routed, request)
            return
        got = self.app.handle(routed, request.body, request.too_large, request.error_type, self.deliver)
        if got is None:
            self.waiting = request
        elif isinstance(got, Invocation):
            self._invocation(got, request)
        else:
            self._answer(got, request)

    def deliver(self, invocation: Invocation) -> None:
        """The invocation for the GET /next that waits (called by the dispatch)."""
        request = self.waiting
        self.waiting = None
        if request is None or self.closed:
            return
        self._invocation(invocation, request)  # written with the answers held for it
        if self.queue:
            asyncio.get_running_loop().call_soon(self._drain_queue)

    def _drain_queue(self) -> None:
        while self.queue and self.waiting is None and not self.closed:
            self._serve(self.queue.popleft())
        if not self.queue and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _invocation(self, invocation: Invocation, request: _Request) -> None:
        payload = invocation.payload
        head = [_status_line(200)]
        for name, value in invocation.headers:
            head += (name, b": ", _header_value(value), b"\r\n")
        head.append(b"content-length: %d\r\n" % len(payload))
        if not request.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self._write(b"".join(head), b"" if request.head else payload, request.keep_alive)

    def _answer(self, answer: Answer, request: _Request) -> None:
        head = _answer_head(answer.status, len(answer.body), request.keep_alive)
        self._write(head, b"" if request.head else answer.body, request.keep_alive)

    def _write(self, head: bytes, body: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        if len(body) >= 16384:  # one writev, no copy of a large payload
            self.out += (head, body)
        else:
            self.out.append(head + body)
        if not keep_alive:
            self.closed = True
            self._flush()
            transport.close()
        elif not self.feeding and self.waiting is None:
            self._flush()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Listener:
    """A bound socket (so the runtime can connect at once) and the server behind it."""

    def __init__(self, app: RuntimeApiApp, *, uvicorn: bool = False) -> None:
        self.app = app
        #: serve with uvicorn (h11), as where httptools is not installed (the tests run both)
        self.uvicorn = uvicorn or httptools is None
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._uvicorn: _Uvicorn | None = None

    async def start(self) -> None:
        """Serve; returns once the server accepts on the socket."""
        if self.uvicorn:
            self._uvicorn = _Uvicorn(self.app, self.socket)
            await self._uvicorn.start()
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.app, self._connections), sock=self.socket
        )

    async def close(self) -> None:
        """Stop serving and close the socket and every connection."""
        if self._uvicorn is not None:
            await self._uvicorn.close()
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self.socket.close()


class _Uvicorn:
    """uvicorn (h11) serving the ASGI app, where httptools is not installed (it is a CPython-only
    dependency); without signal handlers (the worker owns them)."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        import uvicorn

        class EmbeddedServer(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

            def install_signal_handlers(self) -> None:  # uvicorn < 0.29
                return None

        config = uvicorn.Config(
            app,
            loop="none",
            http="h11",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=_KEEP_ALIVE,
            timeout_graceful_shutdown=_SHUTDOWN_GRACE,
        )
        self.server = EmbeddedServer(config)
        self.socket = sock
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[self.socket]))
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises what made uvicorn fail
                raise RuntimeError("the Runtime API listener stopped before it started")
            await asyncio.sleep(0.001)

    async def close(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task

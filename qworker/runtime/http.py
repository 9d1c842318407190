"""A small HTTP endpoint for Prometheus and Kubernetes probes: ``/metrics``, ``/livez``, ``/readyz``.

It runs on the worker's event loop (no thread), so ``/livez`` answering at all proves the loop is
not stuck; ``/readyz`` answers 200 only while the worker is connected to its backend, its
mappings are polling and it is not draining. It binds to 127.0.0.1 unless told otherwise
(RELIABILITY.md §3.6) and exposes counts only: no message bodies, receipts or configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

#: the whole request head (request line and headers) at most this many bytes...
MAX_HEAD_BYTES = 16 * 1024
#: ...and this many header lines; beyond either the answer is 431
MAX_HEADER_LINES = 100
#: a client gets this long to send its request head (a slow client cannot hold a connection)
REQUEST_TIMEOUT = 5.0


class _HeadTooLarge(Exception):
    pass


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The request line, after reading (and bounding) the headers, which this server ignores."""
    request_line = b""
    size = lines = 0  # bytes of the head, header lines
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:  # the client closed mid-head
            line = exc.partial
        except asyncio.LimitOverrunError:
            raise _HeadTooLarge from None
        size += len(line)
        if size > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        if not request_line:
            request_line = line
            if not line:
                return b""
            continue
        if line in (b"\r\n", b"\n", b""):
            return request_line
        lines += 1
        if lines > MAX_HEADER_LINES:
            raise _HeadTooLarge


class HealthServer:
    """Serves the three endpoints until closed."""

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]) -> None:
        self.registry = registry
        self.ready = ready
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_HEAD_BYTES)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    request_line = await _read_head(reader)
            except _HeadTooLarge:
                status, content_type, body = (
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    b"too large\n",
                )
            except TimeoutError:
                status, content_type, body = "408 Request Timeout", "text/plain", b"request timeout\n"
            else:
                status, content_type, body = self._respond(request_line)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            async with asyncio.timeout(REQUEST_TIMEOUT):  # a client that does not read its answer
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except TimeoutError:  # unsent bytes to a client that stopped reading
                writer.transport.abort()
            except ConnectionError:
                pass

    def _respond(self, request_line: bytes) -> tuple[str, str, bytes]:
        parts = request_line.decode("latin-1").split()
        if len(parts) < 2:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, path = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/livez":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            ok, why = self.ready()
            if ok:
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", f"not ready: {why}\n".encode()
        return "404 Not Found", "text/plain", b"not found: try /metrics, /livez or /readyz\n"

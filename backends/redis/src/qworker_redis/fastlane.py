"""The wire under :mod:`qworker_redis.transport`: RESP encoding and pipelined connections.

redis-py's asyncio client spends ~40 µs of CPU per command on pool bookkeeping, timeouts and
observability hooks; a lane spends ~12 µs: one asyncio Protocol, hiredis to parse, and a FIFO
of futures, so concurrent callers share one connection and are pipelined for free (Redis answers
in order). ``python -m benchmarks.bench_redis`` measures the whole backend on a lane against
redis-py's ``register_script`` path (``benchmarks/RESULTS.md``, section ``redis-transport``);
the lanes are kept because they are at least 1.3x faster end to end there, the bar a
hand-written transport has to clear.

This module is only the wire: it carries bytes and replies. It holds no policy: TLS settings,
which errors are retried and how, NOSCRIPT, what a reply error means to qworker all belong to
the transport. A lane raises the builtin :class:`ConnectionError` / :class:`TimeoutError` for a
broken or silent connection, and an error reply as the :class:`hiredis.ReplyError` hiredis made
of it.

Blocking commands (BLPOP) never use the shared lane: they would stall everyone behind them. A
long poll borrows a lane of its own from :class:`WaitLanes` instead, and sends its BLPOP and the
receive script there in one write (redis-py's pipeline costs ~100 µs more per wake-up).

A caller cancelled while waiting leaves its future in the FIFO; the reply, when it comes, is
dropped, so replies never shift to the wrong caller. A call that times out closes the
connection (a black-holed socket cannot hang later calls); the next call reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis

ReplyError = hiredis.ReplyError


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how a lane connects: the transport derives it from the backend URL."""

    host: str
    port: int
    ssl: ssl.SSLContext | None
    hello: tuple[bytes, ...]  #: packed commands sent first on every connection (AUTH, SELECT)
    connect_timeout: float
    read_timeout: float


# -- RESP encoding (the only RESP writer in qworker_redis) -----------------------------------------


def pack_command(parts: Sequence[bytes]) -> bytes:
    """One command in RESP (arguments already bytes)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)


def pack_head(sha: str, keys: Sequence[bytes]) -> bytes:
    """The items ``EVALSHA sha numkeys KEYS...`` of a script call without the array header:
    computed once per queue and script, then completed by :func:`pack_args` per call."""
    return pack_command([b"EVALSHA", sha.encode(), b"%d" % len(keys), *keys]).partition(b"\r\n")[2]


def pack_args(head: bytes, head_items: int, args: Sequence[Any]) -> bytes:
    """A whole command in RESP: ``head`` (``head_items`` items) followed by ``args``.

    Faster than redis-py's general packer for the hot path: arguments are only str, bytes, int.
    """
    parts = [b"*%d\r\n" % (head_items + len(args)), head]
    append = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            arg = arg.encode()
        elif kind is int:
            arg = b"%d" % arg
        elif kind is not bytes:
            raise TypeError(f"cannot send {kind.__name__} to Redis")
        append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


# -- connections ---------------------------------------------------------------------------------


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.client_id: bytes | None = None  #: Redis's CLIENT ID, when the lane asked for it
        self.lost = asyncio.Event()  #: the socket is closed (connection_lost ran)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        #: the connection's loop, for its replies' futures (Python 3.11's get_running_loop()
        #: makes a getpid system call each time)
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(ConnectionError(f"protocol error from Redis: {exc}"))
                _drop(self)
                return
            if reply is False:
                return
            if not self.waiters:  # a reply nobody asked for: the stream cannot be trusted
                self._fail(ConnectionError("unexpected reply from Redis"))
                _drop(self)
                return
            future = self.waiters.popleft()
            if not future.done():
                if isinstance(reply, ReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self._fail(ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_exception(exc)


class FastLane:
    """One lazily (re)connected, pipelined connection to a single Redis node."""

    def __init__(self, endpoint: Endpoint, *, track_client_id: bool = False) -> None:
        self._endpoint = endpoint
        self._track_client_id = track_client_id
        self._protocol: _Protocol | None = None
        self._lock = asyncio.Lock()
        self._closed = False  #: closed for good: a connect still under way is dropped

    async def _connect(self) -> _Protocol:
        e = self._endpoint
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(e.connect_timeout):
                _, protocol = await loop.create_connection(
                    _Protocol, e.host, e.port, ssl=e.ssl, server_hostname=e.host if e.ssl else None
                )
        except TimeoutError:
            raise TimeoutError(f"timed out connecting to {e.host}:{e.port}") from None
        except OSError as exc:
            raise ConnectionError(f"error connecting to {e.host}:{e.port}: {exc}") from None
        try:
            for command in e.hello:
                await self._send(protocol, command, e.read_timeout)
            if self._track_client_id:
                try:
                    client_id = await self._send(protocol, pack_command([b"CLIENT", b"ID"]), e.read_timeout)
                    protocol.client_id = str(client_id).encode()
                except ReplyError:  # an ACL without CLIENT: the lane cannot be unblocked early
                    protocol.client_id = None
        except Exception:  # a refused AUTH or a timeout: drop the socket
            _drop(protocol)
            await asyncio.sleep(0)  # the loop closes it now: a loop closed next would leak it
            raise
        except BaseException:  # a cancellation: drop the socket
            _drop(protocol)
            raise
        return protocol

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            async with self._lock:
                protocol = self._protocol
                if protocol is None or protocol.closed:
                    if self._closed:
                        raise ConnectionError("connection to Redis closed")
                    protocol = await self._connect()
                    if self._closed:  # the backend closed while this call connected
                        _drop(protocol)
                        await asyncio.sleep(0)  # the socket closes now, as in close()
                        raise ConnectionError("connection to Redis closed")
                    self._protocol = protocol
        return protocol

    async def execute(self, payload: bytes) -> Any:
        """Send one packed command and return its reply (an error reply is raised)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._ready()
        return await self._send(protocol, payload, self._endpoint.read_timeout)

    async def execute_many(self, payload: bytes, count: int) -> list[Any]:
        """Send ``count`` packed commands in one write and return their replies in order.

        A command's error reply is returned in its place (a :class:`ReplyError`), as redis-py's
        ``pipeline.execute(raise_on_error=False)`` does; a lost connection or a timeout raises.
        With a blocking command among them, use a lane of its own (:class:`WaitLanes`): the
        replies behind it wait for it.
        """
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._ready()
        futures = _write(protocol, payload, count)
        for future in futures:  # those after a failed one are never awaited: no "never retrieved"
            future.add_done_callback(_retrieved)
        timeout = self._endpoint.read_timeout
        replies: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                for future in futures:
                    try:
                        replies.append(await future)
                    except ReplyError as exc:
                        replies.append(exc)
        except TimeoutError:
            raise _timed_out(protocol, timeout) from None
        return replies

    @property
    def client_id(self) -> bytes | None:
        """This connection's Redis client id (lanes made with ``track_client_id``), for
        ``CLIENT UNBLOCK`` from another connection; None when unknown."""
        protocol = self._protocol
        return protocol.client_id if protocol is not None and not protocol.closed else None

    @property
    def healthy(self) -> bool:
        """Connected, with no reply outstanding: safe to hand to the next caller."""
        protocol = self._protocol
        return protocol is not None and not protocol.closed and not protocol.waiters

    async def _send(self, protocol: _Protocol, payload: bytes, timeout: float) -> Any:
        """One command's reply, or TimeoutError (the connection dropped) after ``timeout`` s.

        The deadline is one timer on the loop that fails the reply's future, not
        ``asyncio.timeout``: that costs three times as much, on every command of every request."""
        (future,) = _write(protocol, payload, 1)
        timer = future.get_loop().call_later(timeout, _expire, protocol, future, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    async def close(self) -> None:
        self._closed = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            await _closed(protocol)


class WaitLanes:
    """Connections for long polls: a blocking ``BLPOP`` (pipelined with the receive script) holds
    a connection for its whole wait, so each waiting receiver borrows a lane of its own and
    gives it back after. Idle lanes are kept (up to ``keep``) so a busy worker does not connect
    per wait; a lane that failed, timed out or was abandoned mid-call is closed, not reused."""

    def __init__(self, endpoint: Endpoint, keep: int = 64) -> None:
        self._endpoint = endpoint
        self._keep = keep
        self._idle: list[FastLane] = []
        self._busy: set[FastLane] = set()
        self._closed = False

    def borrow(self) -> FastLane:
        lane = self._idle.pop() if self._idle else FastLane(self._endpoint, track_client_id=True)
        self._busy.add(lane)
        return lane

    async def give_back(self, lane: FastLane) -> None:
        self._busy.discard(lane)
        if lane.healthy and len(self._idle) < self._keep and not self._closed:
            self._idle.append(lane)
        else:
            await lane.close()

    async def close(self) -> None:
        self._closed = True
        lanes = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        for lane in lanes:
            await lane.close()


def _write(protocol: _Protocol, payload: bytes, count: int) -> list[asyncio.Future[Any]]:
    """Write ``count`` packed commands and queue a future for each reply, in order."""
    transport = protocol.transport
    if protocol.closed or transport is None or transport.is_closing():
        protocol.closed = True
        raise ConnectionError("connection to Redis closed")
    loop = protocol.loop or asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(count)]
    protocol.waiters.extend(futures)
    transport.write(payload)
    return futures


def _drop(protocol: _Protocol) -> None:
    """Close a connection at once, discarding whatever is still buffered."""
    if protocol.transport is not None:
        protocol.transport.abort()


async def _closed(protocol: _Protocol, timeout: float = 1.0) -> None:
    """Close a connection and wait (at most ``timeout``) until its socket is closed: TLS says
    goodbye first, and a loop closed before that would leak the socket."""
    transport = protocol.transport
    if transport is None:
        return
    transport.close()
    try:
        async with asyncio.timeout(timeout):
            await protocol.lost.wait()
    except TimeoutError:
        transport.abort()


def _timed_out(protocol: _Protocol, timeout: float) -> TimeoutError:
    """Drop a connection whose replies are late (the stream can no longer be matched to its
    requests) and return the error to raise."""
    _drop(protocol)
    return TimeoutError(f"no reply from Redis in {timeout}s")


def _expire(protocol: _Protocol, future: asyncio.Future[Any], timeout: float) -> None:
    """A command's deadline passed: its caller gets the TimeoutError, the connection is dropped."""
    if not future.done():
        future.set_exception(_timed_out(protocol, timeout))


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()

"""A TCP fault proxy the tests control (RELIABILITY.md §2.0 item 3; Toxiproxy is not installable).

``client -> FaultProxy -> upstream``. Faults, switched on and off while connections are open:

* ``latency(mean, jitter)``: every chunk is delayed by ``mean ± jitter`` seconds, in order, per
  direction (pipelining is kept, as on a slow link);
* ``bandwidth(bytes_per_second)``: a cap per direction and connection;
* ``blackhole()``: connections are accepted, nothing is forwarded either way. Bytes are *held*,
  not dropped, as TCP holds them during a partition: if both ends are still there when the
  partition heals, what was sent is delivered (a command sent into the partition runs after it);
* ``reset()``: every open connection is reset (RST, via SO_LINGER 0) and so is every new one,
  until ``heal()``;
* ``half_close(direction)``: a FIN in one direction (the other still flows), on open and new
  connections;
* ``drop(direction)``: bytes in one direction are silently thrown away while the connection stays
  open: the classic half-open connection (commands reach the server, replies never come back);
* ``close_after(n)``: each new connection is cut (RST) after ``n`` bytes forwarded in total.

``heal()`` ends every fault. ``accepted`` / ``accept_times`` count connection attempts (for "no
hot reconnect loop" checks). :class:`ThreadedProxy` runs a proxy on its own event loop in a
thread, so a test that blocks (``time.sleep``, a subprocess wait) never stalls the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Direction = Literal["upstream", "downstream"]  #: client -> server, server -> client
DIRECTIONS: tuple[Direction, ...] = ("upstream", "downstream")
_CHUNK = 65536
T = TypeVar("T")


@dataclass
class Faults:
    """The faults in force (read by every pump at every chunk)."""

    latency: float = 0.0
    jitter: float = 0.0
    bandwidth: float | None = None
    reset: bool = False
    half_closed: set[Direction] = field(default_factory=set)
    dropped: set[Direction] = field(default_factory=set)
    close_after: int | None = None


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    budget: int | None = None  #: bytes left before close_after cuts it
    eof_sent: set[Direction] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def writer(self, direction: Direction) -> asyncio.StreamWriter | None:
        return self.upstream if direction == "upstream" else self.client


class FaultProxy:
    """An asyncio TCP proxy from ``host:port`` (0: a free port) to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.faults = Faults()
        self.accepted = 0
        self.accept_times: list[float] = []  #: time.time() of every accepted connection
        self.bytes = {"upstream": 0, "downstream": 0}
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def connections_between(self, start: float, end: float) -> int:
        """Connections accepted in ``[start, end)`` (``time.time()`` values)."""
        return sum(1 for t in list(self.accept_times) if start <= t < end)

    async def start(self) -> FaultProxy:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=_CHUNK)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            self._abort(connection)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- faults --------------------------------------------------------------------------------------

    def heal(self) -> None:
        """End every fault; held bytes flow again."""
        self.faults = Faults()
        assert self._flowing is not None
        self._flowing.set()

    def latency(self, mean: float, jitter: float = 0.0) -> None:
        self.faults.latency, self.faults.jitter = mean, jitter

    def bandwidth(self, bytes_per_second: float | None) -> None:
        self.faults.bandwidth = bytes_per_second

    def blackhole(self) -> None:
        assert self._flowing is not None
        self._flowing.clear()

    def reset(self) -> None:
        self.faults.reset = True
        for connection in list(self._connections):
            self._abort(connection)

    def half_close(self, direction: Direction) -> None:
        self.faults.half_closed.add(direction)
        for connection in list(self._connections):
            self._send_eof(connection, direction)

    def drop(self, direction: Direction) -> None:
        self.faults.dropped.add(direction)

    def close_after(self, nbytes: int) -> None:
        self.faults.close_after = nbytes

    # -- connections ---------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        self.accept_times.append(time.time())
        connection = _Connection(writer, budget=self.faults.close_after)
        self._connections.add(connection)
        graceful = False
        try:
            if self.faults.reset:
                return
            try:
                up_reader, connection.upstream = await asyncio.open_connection(*self.upstream, limit=_CHUNK)
            except OSError:
                return
            for direction in self.faults.half_closed:
                self._send_eof(connection, direction)
            connection.tasks = [
                asyncio.create_task(self._pump(connection, reader, "upstream")),
                asyncio.create_task(self._pump(connection, up_reader, "downstream")),
            ]
            await asyncio.gather(*connection.tasks[:2], return_exceptions=True)
            graceful = True
        except asyncio.CancelledError:
            pass  # close(): end quietly (asyncio logs a start_server callback that ends cancelled)
        finally:
            if graceful:  # both directions ended with EOF: close, and let queued bytes go out
                for writer in (connection.client, connection.upstream):
                    if writer is not None:
                        writer.close()
            else:
                self._abort(connection)
            self._connections.discard(connection)
            self._handlers.discard(task)

    async def _pump(
        self, connection: _Connection, reader: asyncio.StreamReader, direction: Direction
    ) -> None:
        """Read one direction; hand chunks to a deliverer that applies latency and bandwidth."""
        assert self._flowing is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        deliverer = asyncio.create_task(self._deliver(connection, queue, direction))
        connection.tasks.append(deliverer)
        last_due = 0.0
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # a blackhole that began during the read holds this chunk
                if direction in self.faults.dropped or direction in connection.eof_sent:
                    continue
                delay = self.faults.latency
                if self.faults.jitter:
                    delay += random.uniform(-self.faults.jitter, self.faults.jitter)
                last_due = max(last_due, loop.time() + max(0.0, delay))  # never reorder
                step = _CHUNK if not self.faults.bandwidth else max(1, int(self.faults.bandwidth / 20))
                for offset in range(0, len(data), step):  # a capped link sends in small slices
                    queue.put_nowait((last_due, data[offset : offset + step]))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((last_due, None))
            with contextlib.suppress(Exception):
                await deliverer  # if this pump is cancelled, so is the deliverer

    async def _deliver(
        self, connection: _Connection, queue: asyncio.Queue[tuple[float, bytes | None]], direction: Direction
    ) -> None:
        assert self._flowing is not None
        loop = asyncio.get_running_loop()
        writer = connection.writer(direction)
        assert writer is not None
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._flowing.wait()
                if data is None:
                    self._send_eof(connection, direction)
                    return
                if direction in self.faults.dropped or direction in connection.eof_sent:
                    continue
                if self.faults.bandwidth:
                    await asyncio.sleep(len(data) / self.faults.bandwidth)
                cut = False
                if connection.budget is not None:
                    if len(data) >= connection.budget:
                        data, cut = data[: connection.budget], True
                    connection.budget -= len(data)
                writer.write(data)
                self.bytes[direction] += len(data)
                await writer.drain()
                if cut:
                    self._abort(connection)
                    return
        except (ConnectionError, OSError):
            self._abort(connection)  # one side is gone: so is the connection

    def _send_eof(self, connection: _Connection, direction: Direction) -> None:
        writer = connection.writer(direction)
        if writer is None or direction in connection.eof_sent:
            return
        connection.eof_sent.add(direction)
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()

    def _abort(self, connection: _Connection) -> None:
        """Close both sides with RST (SO_LINGER 0), not FIN."""
        for writer in (connection.client, connection.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in connection.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class ThreadedProxy:
    """A :class:`FaultProxy` on its own event loop in a daemon thread, controlled from any thread.

    Every fault method has the same name as on :class:`FaultProxy` and returns once the fault is in
    force. Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = FaultProxy(upstream, host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def accepted(self) -> int:
        return self.proxy.accepted

    @property
    def open_connections(self) -> int:
        return self.proxy.open_connections

    def connections_between(self, start: float, end: float) -> int:
        return self.proxy.connections_between(start, end)

    def start(self) -> ThreadedProxy:
        self._thread.start()
        self._run(self.proxy.start())
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self.proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ThreadedProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(30)

    def _call(self, method: Callable[..., None], *args: Any) -> None:
        async def call() -> None:
            method(*args)

        self._run(call())

    def heal(self) -> None:
        self._call(self.proxy.heal)

    def latency(self, mean: float, jitter: float = 0.0) -> None:
        self._call(self.proxy.latency, mean, jitter)

    def bandwidth(self, bytes_per_second: float | None) -> None:
        self._call(self.proxy.bandwidth, bytes_per_second)

    def blackhole(self) -> None:
        self._call(self.proxy.blackhole)

    def reset(self) -> None:
        self._call(self.proxy.reset)

    def half_close(self, direction: Direction) -> None:
        self._call(self.proxy.half_close, direction)

    def drop(self, direction: Direction) -> None:
        self._call(self.proxy.drop, direction)

    def close_after(self, nbytes: int) -> None:
        self._call(self.proxy.close_after, nbytes)

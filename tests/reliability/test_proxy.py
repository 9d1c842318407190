"""The fault proxy against a trivial echo server: each fault does what it says, and heals."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from tests.reliability.proxy import FaultProxy, ThreadedProxy


@dataclass
class Echo:
    """An echo server that also remembers what it received and whether it saw EOF."""

    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    eofs: int = 0
    connections: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
            self.eofs += 1
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = server.server.sockets[0].getsockname()[1]
    yield server
    server.server.close()


@pytest.fixture
async def proxy(echo: Echo) -> AsyncIterator[FaultProxy]:
    proxy = await FaultProxy(("127.0.0.1", echo.port)).start()
    yield proxy
    await proxy.close()


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 5)


async def _write_then_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"x")
    await writer.drain()
    return await asyncio.wait_for(reader.read(10), 5)


async def test_passes_bytes_both_ways_and_counts_connections(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"hello") == b"hello"
    big = bytes(range(256)) * 4096  # 1 MiB: many chunks, order kept
    assert await roundtrip(reader, writer, big) == big
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server's FIN comes back
    writer.close()
    assert proxy.accepted == 1 and echo.connections == 1 and echo.eofs == 1
    assert proxy.bytes == {"upstream": 5 + len(big), "downstream": 5 + len(big)}
    assert proxy.connections_between(0, time.time() + 1) == 1


async def test_latency_delays_each_direction_and_keeps_order(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"warm")
    proxy.latency(0.1, jitter=0.05)
    started = time.monotonic()
    assert await roundtrip(reader, writer, b"x") == b"x"
    assert time.monotonic() - started >= 2 * 0.05  # at least mean - jitter each way
    # many small writes with jitter: delays differ, order does not
    for i in range(50):
        writer.write(b"%03d" % i)
        await asyncio.sleep(0.002)
    got = await asyncio.wait_for(reader.readexactly(150), 10)
    assert got == b"".join(b"%03d" % i for i in range(50))
    proxy.heal()
    started = time.monotonic()
    await roundtrip(reader, writer, b"y")
    assert time.monotonic() - started < 0.1, "healed link still slow"
    writer.close()


async def test_bandwidth_cap(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.bandwidth(200_000)
    started = time.monotonic()
    await roundtrip(reader, writer, b"z" * 60_000)
    assert time.monotonic() - started >= 60_000 / 200_000 * 0.9  # once each way, chunk sizes vary
    writer.close()


async def test_blackhole_accepts_holds_and_delivers_after_heal(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"before")
    proxy.blackhole()
    writer.write(b"held")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)
    new_reader, new_writer = await connect(proxy)  # new connections are accepted, and hang too
    new_writer.write(b"new")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(new_reader.readexactly(3), 0.2)
    assert bytes(echo.received) == b"before", "bytes went through the blackhole"
    assert proxy.accepted == 2
    proxy.heal()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"
    assert await asyncio.wait_for(new_reader.readexactly(3), 5) == b"new"
    for w in (writer, new_writer):
        w.close()


async def test_reset_kills_open_and_new_connections_until_healed(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"ok")
    proxy.reset()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 5)
    for _ in range(3):
        new_reader, new_writer = await connect(proxy)  # accepted by the kernel, then reset
        with pytest.raises(ConnectionResetError):
            await _write_then_read(new_reader, new_writer)
        new_writer.close()
    assert proxy.accepted == 4
    proxy.heal()
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"again") == b"again"
    writer.close()


async def test_half_close_downstream_sends_fin_to_the_client_only(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"a")
    proxy.half_close("downstream")
    assert await asyncio.wait_for(reader.read(10), 5) == b""  # the client sees EOF
    writer.write(b"still going up")
    await writer.drain()
    for _ in range(100):
        if bytes(echo.received).endswith(b"still going up"):
            break
        await asyncio.sleep(0.01)
    assert bytes(echo.received) == b"astill going up" and echo.eofs == 0
    writer.close()


async def test_half_close_upstream_sends_fin_to_the_server(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"a")
    proxy.half_close("upstream")
    for _ in range(100):
        if echo.eofs:
            break
        await asyncio.sleep(0.01)
    assert echo.eofs == 1
    assert await asyncio.wait_for(reader.read(10), 5) == b""  # the echo server then closed
    writer.close()


async def test_drop_downstream_is_a_silent_half_open_connection(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"a")
    proxy.drop("downstream")
    writer.write(b"command")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(10), 0.3)
    assert bytes(echo.received) == b"acommand", "the request must reach the server"
    assert proxy.open_connections == 1 and echo.eofs == 0
    writer.close()


async def test_drop_upstream_loses_requests(proxy: FaultProxy, echo: Echo) -> None:
    reader, writer = await connect(proxy)
    proxy.drop("upstream")
    writer.write(b"void")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(10), 0.3)
    assert bytes(echo.received) == b""
    writer.close()


async def test_close_after_n_bytes(proxy: FaultProxy) -> None:
    proxy.close_after(150)
    reader, writer = await connect(proxy)
    writer.write(b"q" * 100)  # 100 bytes up, then only 50 of the echo come down
    await writer.drain()
    got = b""
    with contextlib.suppress(ConnectionResetError, asyncio.IncompleteReadError):
        while chunk := await asyncio.wait_for(reader.read(1000), 5):
            got += chunk
    assert got == b"q" * 50
    assert proxy.bytes == {"upstream": 100, "downstream": 50}
    writer.close()
    proxy.heal()  # new connections are not cut any more
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"w" * 500) == b"w" * 500
    writer.close()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


@pytest.fixture
def thread_echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_threaded_proxy_runs_while_the_caller_blocks(thread_echo: int) -> None:
    """The proxy's loop is its own: a test that blocks does not stall it, and faults switch
    from the test's thread."""
    with (
        ThreadedProxy(("127.0.0.1", thread_echo)) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        proxy.blackhole()
        sock.sendall(b"pong")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        proxy.heal()
        sock.settimeout(5)
        assert sock.recv(4) == b"pong"
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            sock.recv(4)
        assert proxy.accepted == 1

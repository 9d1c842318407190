"""A moto SQS server for tests and benchmarks (moto is a development dependency only).

:class:`MotoSQSServer` runs moto's HTTP server in a thread of this process on a free port; the
backend talks to it over HTTP exactly as it talks to AWS (``sqs://?endpoint_url=...``).

moto's SQS model is not thread-safe, and its threaded server runs each request in its own thread
(SERVICES.md, "Known infidelities"): two concurrent DeleteMessageBatch calls rebuild the message
list from the same snapshot and bring deleted messages back, a send racing a delete can vanish,
and two receives can hand out one message. Real SQS does none of that, so
:func:`serialize_moto_sqs` fixes the *test server*: every moto SQS operation runs under one lock,
released while a long poll waits. The backend under test is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Condition(threading.RLock())
_OPERATIONS = (
    "create_queue",
    "get_queue_url",
    "list_queues",
    "delete_queue",
    "get_queue_attributes",
    "set_queue_attributes",
    "send_message",
    "send_message_batch",
    "receive_message",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
    "list_dead_letter_source_queues",
    "tag_queue",
    "untag_queue",
    "list_queue_tags",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clear_aws_environment(monkeypatch: Any, tmp_path: Path) -> None:
    """No trace of the host's AWS set-up for a test: no ``AWS_*`` variables, no shared config or
    credentials files, no instance metadata lookups (``monkeypatch`` is pytest's fixture)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def serialize_moto_sqs() -> None:
    """Run moto's SQS operations one at a time (idempotent). See the module docstring."""
    from moto.sqs import models

    backend_cls: Any = models.SQSBackend
    queue_cls: Any = models.Queue
    if getattr(backend_cls, "_qworker_serialized", False):
        return

    def locked(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _LOCK:
                return method(*args, **kwargs)

        return wrapper

    for name in _OPERATIONS:
        setattr(backend_cls, name, locked(getattr(backend_cls, name)))

    add_message = queue_cls.add_message

    def add_and_notify(self: Any, message: Any) -> None:
        with _LOCK:
            add_message(self, message)
            _LOCK.notify_all()

    def wait_for_messages(self: Any, timeout: float) -> None:
        with _LOCK:  # waiting releases the lock, so sends and other receives go on meanwhile
            _LOCK.wait_for(lambda: self.messages, timeout=timeout)

    queue_cls.add_message = add_and_notify
    queue_cls.wait_for_messages = wait_for_messages
    backend_cls._qworker_serialized = True


class MotoSQSServer:
    """moto's server on 127.0.0.1 and a free port, serialized (:func:`serialize_moto_sqs`)."""

    ACCOUNT_ID = "123456789012"  #: moto's default account
    REGION = "us-east-1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, **options: object) -> str:
        """An ``sqs://`` URL for this server, with extra options."""
        from urllib.parse import urlencode

        query = {"endpoint_url": self.endpoint_url, "region": self.REGION, **options}
        return "sqs://?" + urlencode(query, safe=":/")

    def start(self) -> MotoSQSServer:
        from moto.server import ThreadedMotoServer

        serialize_moto_sqs()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (moto's own stop leaves it bound, so
        clients would hang instead of being refused and a restart could not take the port)."""
        if self._server is not None:
            wsgi = getattr(self._server, "_server", None)
            self._server.stop()
            if wsgi is not None:
                wsgi.server_close()
            self._server = None


class FlakyProxy:
    """An HTTP proxy in front of moto that breaks connections on request, to test the network path.

    ``drop_before`` connections are closed before the request reaches moto (nothing happened);
    ``drop_after`` are forwarded and answered by moto, but the answer is thrown away (the request
    took effect, the client never hears of it). Each connection carries one request (the answer
    closes it, as moto's ``Connection: close`` does), so ``connections`` counts requests.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.drop_before = 0
        self.drop_after = 0
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FlakyProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        server_writer: asyncio.StreamWriter | None = None
        try:
            if self.drop_before > 0:
                self.drop_before -= 1
                return
            lose_answer = self.drop_after > 0
            if lose_answer:
                self.drop_after -= 1
            request = await _read_http_message(client_reader)
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            server_writer.write(request)
            await server_writer.drain()
            answer = await _read_http_message(server_reader)
            if not lose_answer:
                client_writer.write(answer)
                await client_writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            for writer in (server_writer, client_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
            self._tasks.discard(task)


async def _read_http_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request or response framed by Content-Length (botocore and moto use it)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body

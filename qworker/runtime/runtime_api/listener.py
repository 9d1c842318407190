"""One loopback HTTP listener (uvicorn, httptools, on the worker's uvloop loop) for one environment.

Each execution environment gets its own listener on ``127.0.0.1:<free port>``: the address is
the environment's identity (``AWS_LAMBDA_RUNTIME_API``), as in Lambda where each environment has
its own API endpoint, and a replaced process gets a new listener, so nothing a killed process
had sent can reach its successor.

uvicorn's ``Server.serve`` takes over SIGINT/SIGTERM while it runs; a worker runs many
listeners and owns its signals, so :class:`_EmbeddedServer` leaves them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

#: seconds a closing listener gives its open requests (its process is already gone by then)
_SHUTDOWN_GRACE = 1.0
#: idle keep-alive connections stay open this long between a response and the next GET /next
_KEEP_ALIVE = 600


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that does not install signal handlers (the worker owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None


def _http_implementation() -> str:
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class Listener:
    """A bound socket (so the runtime can connect at once) and the uvicorn server behind it."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            loop="none",
            http=_http_implementation(),
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # loopback only: no proxy in front, no per-request middleware
            server_header=False,
            date_header=False,
            timeout_keep_alive=_KEEP_ALIVE,
            timeout_graceful_shutdown=_SHUTDOWN_GRACE,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve; returns once uvicorn accepts on the socket."""
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self.socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what made uvicorn fail
                raise RuntimeError("the Runtime API listener stopped before it started")
            await asyncio.sleep(0.001)

    async def close(self) -> None:
        """Stop serving and close the socket (open requests get a short grace)."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        self.socket.close()

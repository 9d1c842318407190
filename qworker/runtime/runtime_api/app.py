"""The Runtime API as a plain ASGI app: routing, bodies and headers; the rules are in :mod:`.state`.

No framework: four routes, on the invocation hot path, where every microsecond is per message
at batch size 1. uvicorn (httptools, uvloop) parses HTTP; this module never does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.protocol import Answer
from qworker.runtime.runtime_api.state import Invocation, RuntimeApiState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RuntimeApiApp:
    """The API of one execution environment (one listener per environment, so the address
    itself says which environment a request is for, as in Lambda where each has its own)."""

    def __init__(self, state: RuntimeApiState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == protocol.NEXT_PATH:
            if method != "GET":
                await _answer(send, protocol.METHOD_NOT_ALLOWED)
                return
            await self._next(receive, send)
        elif path.startswith(protocol.INVOCATION_PREFIX):
            request_id, _, action = path[len(protocol.INVOCATION_PREFIX) :].rpartition("/")
            if action not in ("response", "error") or not request_id:
                await _answer(send, protocol.NOT_FOUND)
            elif method != "POST":
                await _answer(send, protocol.METHOD_NOT_ALLOWED)
            elif action == "response":
                body, too_large = await _read_body(receive, protocol.MAX_RESPONSE)
                await _answer(send, self.state.respond(request_id, body, too_large=too_large))
            else:
                body, _ = await _read_body(receive, protocol.MAX_ERROR_BODY)
                await _answer(send, self.state.error(request_id, _error_type(scope), body))
        elif path == protocol.INIT_ERROR_PATH:
            if method != "POST":
                await _answer(send, protocol.METHOD_NOT_ALLOWED)
                return
            body, _ = await _read_body(receive, protocol.MAX_ERROR_BODY)
            await _answer(send, self.state.init_error(_error_type(scope), body))
        else:
            await _answer(send, protocol.NOT_FOUND)

    async def _next(self, receive: Receive, send: Send) -> None:
        await _read_body(receive, 0)
        got = await self.state.next(receive)
        if isinstance(got, Answer):
            if got.status != 499:  # 499: the client went away while it waited
                await _answer(send, got)
            return
        await _deliver(send, got)


async def _deliver(send: Send, invocation: Invocation) -> None:
    headers = [*invocation.headers, (b"content-length", b"%d" % len(invocation.payload))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": invocation.payload})


async def _answer(send: Send, answer: Answer) -> None:
    # a content-length keeps uvicorn from chunking: one write, a simpler read for the client
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body up to ``limit`` bytes, and whether it was longer (the rest is read and
    dropped, so the connection stays usable for the runtime's next request)."""
    chunks: list[bytes] = []
    size = 0
    over = False
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            over = True
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if over:
        return b"", True
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), False


def _error_type(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == protocol.H_ERROR_TYPE:
            return str(value.decode("latin-1"))
    return None

"""The Runtime API's routes: which call a request is, how much of its body is kept, what answers it.

The rules are in :mod:`.state`; HTTP is :mod:`.listener`'s (a lean httptools server on the
worker's loop). :class:`RuntimeApiApp` is also a plain ASGI app, for the uvicorn server the
listener falls back to where httptools is not installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.protocol import Answer
from qworker.runtime.runtime_api.state import Deliver, Invocation, RuntimeApiState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# -- the calls of the API ------------------------------------------------------------------------
NEXT = 1  #: GET /runtime/invocation/next
RESPONSE = 2  #: POST /runtime/invocation/{id}/response
ERROR = 3  #: POST /runtime/invocation/{id}/error
INIT_ERROR = 4  #: POST /runtime/init/error

#: a routed request: the call and its request id ("" for /next and /init/error), or the answer
#: that refuses it (404, 405)
Route = tuple[int, str] | Answer

#: how much of each call's body is kept (the rest is read and dropped; over it, the call is "too
#: large": a response gets 413, an error body is kept empty)
_LIMITS = {
    NEXT: 0,
    RESPONSE: protocol.MAX_RESPONSE,
    ERROR: protocol.MAX_ERROR_BODY,
    INIT_ERROR: protocol.MAX_ERROR_BODY,
}


def route(method: str, path: str) -> Route:
    """Which call ``method path`` is (``path`` without its query, percent-decoded)."""
    if path == protocol.NEXT_PATH:
        return (NEXT, "") if method == "GET" else protocol.METHOD_NOT_ALLOWED
    if path.startswith(protocol.INVOCATION_PREFIX):
        request_id, _, action = path[len(protocol.INVOCATION_PREFIX) :].rpartition("/")
        if action not in ("response", "error") or not request_id:
            return protocol.NOT_FOUND
        if method != "POST":
            return protocol.METHOD_NOT_ALLOWED
        return (RESPONSE if action == "response" else ERROR, request_id)
    if path == protocol.INIT_ERROR_PATH:
        return (INIT_ERROR, "") if method == "POST" else protocol.METHOD_NOT_ALLOWED
    return protocol.NOT_FOUND


def route_url(method: str, url: bytes) -> Route:
    """:func:`route` for a raw request target (``/path?query``, percent-encoded)."""
    path = url.partition(b"?")[0].decode("latin-1")
    return route(method, unquote(path) if "%" in path else path)


def body_limit(routed: Route) -> int:
    return 0 if isinstance(routed, Answer) else _LIMITS[routed[0]]


class RuntimeApiApp:
    """The API of one execution environment (one listener per environment, so the address
    itself says which environment a request is for, as in Lambda where each has its own)."""

    def __init__(self, state: RuntimeApiState) -> None:
        self.state = state

    def handle(
        self, routed: tuple[int, str], body: bytes, too_large: bool, error_type: str | None, deliver: Deliver
    ) -> Invocation | Answer | None:
        """Answer one routed call; ``None``: a GET /next waits, ``deliver`` gets its invocation."""
        call, request_id = routed
        if call == NEXT:
            return self.state.next(deliver)
        if call == RESPONSE:
            return self.state.respond(request_id, body, too_large=too_large)
        if call == ERROR:
            return self.state.error(request_id, error_type, b"" if too_large else body)
        return self.state.init_error(error_type, b"" if too_large else body)

    # -- as an ASGI app (the uvicorn fallback) ---------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        routed = route(scope["method"], scope["path"])
        limit = body_limit(routed)
        body, too_large = await _read_body(receive, limit)
        if isinstance(routed, Answer):
            await _answer(send, routed)
            return
        if routed[0] != NEXT:
            got = self.handle(routed, body, too_large, _error_type(scope), _no_wait)
            assert got is not None
        else:
            got = await self._next(receive)
            if got is None:  # the client went away while it waited: nothing is sent
                return
        if isinstance(got, Invocation):
            headers = [*got.headers, (b"content-length", b"%d" % len(got.payload))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": got.payload})
        else:
            await _answer(send, got)

    async def _next(self, receive: Receive) -> Invocation | Answer | None:
        """GET /next: wait for the invocation, or for the client to leave (``receive`` returns)."""
        import asyncio

        waiter: asyncio.Future[Invocation] = asyncio.get_running_loop().create_future()
        got = self.state.next(waiter.set_result)
        if got is not None:
            return got
        gone = asyncio.ensure_future(receive())
        try:
            await asyncio.wait([waiter, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if waiter.done():
            return waiter.result()
        self.state.stop_waiting(waiter.set_result)
        return None


def _no_wait(invocation: Invocation) -> None:  # pragma: no cover - only GET /next waits
    raise AssertionError("only GET /next waits")


async def _answer(send: Send, answer: Answer) -> None:
    # a content-length keeps uvicorn from chunking: one write, a simpler read for the client
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body up to ``limit`` bytes, and whether it was longer (the rest is read and
    dropped, so the connection stays usable for the runtime's next request)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if chunk and size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        return b"", True
    return b"".join(chunks), False


def _error_type(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == protocol.H_ERROR_TYPE:
            return str(value.decode("latin-1"))
    return None

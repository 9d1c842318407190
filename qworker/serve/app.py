"""The ASGI application: the SQS API at ``/`` (both protocols), ``/livez``, ``/readyz``, ``/metrics``.

A plain ASGI callable, no framework: the SendMessage path is header scan, body read, decode, one
backend call, encode, and a framework's request and routing objects would cost more than the
rest together. Per request:

1. GET ``/livez`` ``/readyz`` ``/metrics`` are answered at once; ``/console/`` goes to the web
   console (:mod:`qworker.console`) when it is on.
2. The protocol: an ``X-Amz-Target`` header means AWS JSON 1.0; otherwise the query protocol
   (``Action=...`` in a form body or, for GET, the query string).
3. The body is read with a cap and a deadline (:mod:`qworker.serve.body`), the signature
   checked (:mod:`qworker.serve.auth`), the action run (:mod:`qworker.serve.actions`).
4. Errors are SQS's in the request's protocol. A qworker error from the backend becomes the SQS
   error it mirrors; anything else is logged with its traceback and answered 500
   ``InternalFailure`` (a bug: bad input is always a 4xx).

A ReceiveMessage that long-polls also watches the connection: when the client goes away, the
receive is cancelled, and the backend gives back what it had already taken (``take_safely``), so
a dropped connection does not hide messages for a visibility timeout.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any

import structlog

from qworker import arn
from qworker.errors import BackendUnavailable, QWorkerError
from qworker.serve import body as bodies
from qworker.serve import json_protocol, query_input, xml_output
from qworker.serve import protocol as lean
from qworker.serve.actions import ACTIONS
from qworker.serve.auth import Authenticator
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, from_qworker_error
from qworker.serve.metrics import CONTENT_TYPE as METRICS_TYPE
from qworker.serve.metrics import ServeMetrics
from qworker.serve.service import Service

log = structlog.get_logger("qworker.serve")

_XML = b"text/xml"
_TEXT = b"text/plain; charset=utf-8"
_WANTED = frozenset(
    (b"x-amz-target", b"content-length", b"host", b"content-type", b"x-amzn-trace-id", b"accept")
)
_PROBES = frozenset(("/livez", "/readyz", "/metrics"))
#: the most distinct ``Host`` headers whose base URL is kept (a client may send any)
_MAX_BASE_URLS = 256
_JSON = b"application/json"
#: allocations between collections of the young generation in a server process
YOUNG_GC_THRESHOLD = 20_000
#: the action of each ``X-Amz-Target`` header an SDK sends
_TARGETS = {f"{json_protocol.TARGET_PREFIX}{action}".encode(): action for action in ACTIONS}
#: actions that name no queue, refused when sent to a queue's URL (as SQS does)
_NOT_ON_QUEUE_URLS = ("CreateQueue", "ListQueues")


class Request:
    """What the app reads of one HTTP request."""

    __slots__ = ("body", "headers", "method", "path", "query_string", "raw_headers", "scope")

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.headers: dict[bytes, bytes] = {k: v for k, v in self.raw_headers if k in _WANTED}
        self.body = b""

    def base_url(self) -> str:
        host = self.headers.get(b"host")
        scheme = self.scope.get("scheme", "http")
        if host:
            key = (scheme, host)
            found = _base_urls.get(key)
            if found is None:
                if len(_base_urls) >= _MAX_BASE_URLS:
                    _base_urls.clear()
                found = _base_urls[key] = f"{scheme}://{host.decode('latin-1')}"
            return found
        server = self.scope.get("server") or ("127.0.0.1", 80)
        return f"{scheme}://{server[0]}:{server[1]}"


#: base URLs by (scheme, Host header): the same few for every request
_base_urls: dict[tuple[str, bytes], str] = {}


class SQSApp:
    """The server's ASGI app over one :class:`Service` (one per process)."""

    def __init__(
        self,
        service: Service,
        authenticator: Authenticator | None = None,
        body_timeout: float | None = bodies.BODY_TIMEOUT,
        console: Any = None,
    ) -> None:
        self.service = service
        #: the web console (:mod:`qworker.console`) served at ``/console/``, or None
        self.console = console
        self._console_app: Any = None
        if console is not None:
            from qworker.console.app import mounted

            self._console_app = mounted(console)
        self.body_timeout = body_timeout
        self.account = arn.account_id()
        self.auth = authenticator or Authenticator()
        self.metrics = ServeMetrics(frozenset(ACTIONS))
        self.ready = False
        #: False from a request that found the backend unreachable until one that reached it
        self.backend_reachable = True
        self._ids = _RequestIds()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # -- lifespan -------------------------------------------------------------------------------

    async def startup(self) -> None:
        await self.service.backend.connect()
        if self.console is not None:
            await self.console.start()
        self.ready = True
        # what start-up made lives as long as the process: out of the collector's full passes,
        # which would otherwise walk it again and again under load
        gc.freeze()
        # a request makes a few hundred tracked objects that die with it: at the default
        # threshold (700 allocations) the young generation was collected every few requests,
        # walking the live objects of the requests in flight each time (3% of the CPU)
        young, *older = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), *older)

    async def shutdown(self) -> None:
        self.ready = False
        if self.console is not None:
            await self.console.stop()
        await self.service.close()
        await self.service.backend.close()

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- HTTP -----------------------------------------------------------------------------------

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if self._console_app is not None and (path == "/console" or path.startswith("/console/")):
            await self._console_app(scope, receive, send)
            return
        request = Request(scope)
        if request.method == "GET" and path in _PROBES:
            await self.probe(request, send)
            return
        started = time.perf_counter()
        action, query, request_id = "unknown", request.headers.get(b"x-amz-target") is None, self._ids.next()
        cycle = scope.get("extensions", _NONE).get(lean.LEAN)  # uvicorn's, from our protocol
        try:
            declared = bodies.declared_length(request.headers.get(b"content-length"))
            body = _ready_body(cycle, declared)  # at once when it has all arrived (the usual)
            if body is None:  # capped, with a deadline
                body = await bodies.read(receive, declared, timeout=self.body_timeout)
            request.body = body
            call = self.parse(request, query)
            action = call.action
            if self.auth.enabled:
                raw_path = request.scope.get("raw_path") or request.path.encode()
                call.access_key = self.auth.check(
                    request.method, raw_path, request.query_string, request.raw_headers, request.body
                )
            handler = ACTIONS[call.action]  # a long poll also watches for the client leaving
            if call.action != "ReceiveMessage" or call.params.get("WaitTimeSeconds") == 0:
                result = await handler(self.service, call)
            else:
                result = await _unless_disconnected(handler(self.service, call), receive)
            self.backend_reachable = True
            status, headers, payload = self.success(request, call, result, request_id)
        except bodies.ClientGone:
            return
        except SQSError as exc:
            status, headers, payload = _failure(exc, query, request_id)
        except QWorkerError as exc:
            self.backend_reachable = not isinstance(exc, BackendUnavailable)  # else it answered
            status, headers, payload = _failure(from_qworker_error(exc, query=query), query, request_id)
        except Exception:
            log.exception("serve.internal_error", action=action)
            exc = SQSError("InternalFailure", "The server failed to process the request.")
            status, headers, payload = _failure(exc, query, request_id)
        if cycle is None or not lean.respond(cycle, status, headers, payload):
            await _respond(send, status, headers, payload)
        self.metrics.observe(action, status, time.perf_counter() - started)

    def parse(self, request: Request, query: bool) -> Call:
        """The call a request makes, in either protocol."""
        if not query:
            target = request.headers[b"x-amz-target"]
            action = _TARGETS.get(target) or json_protocol.action_of(target.decode("latin-1"))
            params = json_protocol.decode(request.body)
        else:
            form = query_input.parse_form(request.query_string) if request.query_string else {}
            if request.body and request.method != "GET":
                form.update(query_input.parse_form(request.body))
            action = form.get("Action", "")
            if not action:  # SQS: a bare 404 <UnknownOperationException/>
                raise SQSError("UnknownOperationException", "The request has no Action.", status=404)
            if action not in ACTIONS or (action in _NOT_ON_QUEUE_URLS and request.path.count("/") == 2):
                raise SQSError("InvalidAction", f"The action {action} is not valid for this endpoint.")
            params = query_input.decode(action, form)
        if action not in ACTIONS:
            raise SQSError(
                "UnknownOperationException", f"The action {action} is not valid for this endpoint."
            )
        call = Call(action, params, query, request.base_url(), request.path, account=self.account)
        trace = request.headers.get(b"x-amzn-trace-id")
        if trace:
            call.trace = trace.decode("latin-1")
        return call

    def success(
        self, request: Request, call: Call, result: dict[str, Any] | None, request_id: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if call.query:
            if request.headers.get(b"accept") == _JSON:  # SQS negotiates JSON for query clients
                document = xml_output.as_json_document(call.action, result, request_id)
                return 200, [(b"content-type", _JSON)], json_protocol.encode(document)
            return 200, [(b"content-type", _XML)], xml_output.response(call.action, result, request_id)
        return 200, [(b"content-type", json_protocol.CONTENT_TYPE)], json_protocol.encode(result)

    async def probe(self, request: Request, send: Any) -> None:
        if request.path == "/metrics":
            await _respond(send, 200, [(b"content-type", METRICS_TYPE.encode())], self.metrics.render())
        elif request.path == "/livez":
            await _respond(send, 200, [(b"content-type", _TEXT)], b"ok\n")
        elif self.ready and self.backend_reachable:
            await _respond(send, 200, [(b"content-type", _TEXT)], b"ready\n")
        else:
            why = b"not connected" if not self.ready else b"unreachable at the last request"
            await _respond(send, 503, [(b"content-type", _TEXT)], b"not ready: the backend is " + why + b"\n")


#: errors after which the rest of the request may still be on its way: the connection is closed
_CLOSING = frozenset({"RequestTimeout", "RequestEntityTooLarge"})


def _failure(exc: SQSError, query: bool, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if query:
        headers = [(b"content-type", _XML)]
        payload = xml_output.error(exc, request_id)
        if exc.name == "UnknownOperationException":
            payload = b"<UnknownOperationException/>"
    else:
        headers = [(b"content-type", json_protocol.CONTENT_TYPE), json_protocol.error_header(exc)]
        payload = json_protocol.error_body(exc)
    if exc.name in _CLOSING:
        headers.append((b"connection", b"close"))
    return exc.status, headers, payload


_NONE: dict[str, Any] = {}


def _ready_body(cycle: Any, declared: int | None) -> bytes | None:
    """The request body if the protocol has it all already, else None (read it from ASGI)."""
    if cycle is None or (declared is not None and declared > bodies.MAX_BODY):
        return None
    body = lean.ready_body(cycle)
    if body is not None and len(body) > bodies.MAX_BODY:
        raise bodies.too_large(bodies.MAX_BODY)
    return body


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], payload: bytes) -> None:
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _unless_disconnected(work: Any, receive: Any) -> Any:
    """Run ``work``; cancel it if the client disconnects first (then ``ClientGone``)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        raise bodies.ClientGone
    return task.result()


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _RequestIds:
    """Unique request ids shaped like SQS's (UUIDs), cheaper than ``uuid4()`` per request."""

    def __init__(self) -> None:
        seed = os.urandom(10).hex()
        self._prefix = f"{seed[:8]}-{seed[8:12]}-{seed[12:16]}-{seed[16:20]}-"
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:012x}"

"""The Runtime API over real HTTP, with the RIE's answers.

A client here is the standard library's ``http.client`` in a thread, the way a runtime process
would talk to the API; qworker's side (``dispatch``) runs on the test's event loop. Every test of
the API runs against both servers: qworker's httptools server and the uvicorn (h11) fallback used
where httptools is not installed. Raw-socket tests at the end check the httptools server's HTTP:
pipelining, ``Expect: 100-continue``, chunked bodies, ``Connection: close``, bad requests.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.app import RuntimeApiApp
from qworker.runtime.runtime_api.listener import Listener
from qworker.runtime.runtime_api.state import Invocation, RuntimeApiState

V = "/2018-06-01/runtime"


class Client:
    """One keep-alive connection to the API, used from a thread."""

    def __init__(self, address: str) -> None:
        host, port = address.split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any, Any]:
        self.conn.request(method, path, body, {k.replace("_", "-"): v for k, v in headers.items()})
        reply = self.conn.getresponse()
        data = reply.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return reply.status, parsed, reply.headers

    async def __call__(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        return await asyncio.to_thread(self.call, method, path, body, **headers)


@pytest.fixture(params=["httptools", "uvicorn"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RuntimeApiState, Client]]:
    state = RuntimeApiState()
    listener = Listener(RuntimeApiApp(state), uvicorn=request.param == "uvicorn")
    await listener.start()
    client = Client(listener.address)
    try:
        yield state, client
    finally:
        client.conn.close()
        await listener.close()


def _invocation(request_id: str = "req-1", event: Any = None) -> Invocation:
    payload = json.dumps(event or {"Records": []}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (protocol.H_REQUEST_ID, request_id.encode()),
        (protocol.H_DEADLINE, b"1700000000000"),
        (protocol.H_FUNCTION_ARN, b"arn:aws:lambda:us-east-1:000000000000:function:f"),
    ]
    return Invocation(request_id, payload, headers)


async def _next(state: RuntimeApiState, client: Client, invocation: Invocation) -> Any:
    waiting = asyncio.create_task(client("GET", f"{V}/invocation/next"))
    await asyncio.wait_for(state.initialized, 5)  # the first GET /next ends Init
    state.dispatch(invocation)
    return await waiting


async def test_next_delivers_the_event_with_lambda_headers_and_ends_init(api: Any) -> None:
    state, client = api
    status, body, headers = await _next(state, client, _invocation("abc", {"Records": [{"body": "x"}]}))
    assert status == 200
    assert body == {"Records": [{"body": "x"}]}
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "abc"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:f")
    assert state.initialized.result() is None


async def test_response_is_accepted_once(api: Any) -> None:
    state, client = api
    invocation = _invocation()
    await _next(state, client, invocation)
    status, body, _ = await client("POST", f"{V}/invocation/req-1/response", b'{"ok":1}')
    assert (status, body) == (202, {"status": "OK"})
    settled = await asyncio.wait_for(invocation.settled, 5)
    assert (settled.kind, settled.body) == ("response", b'{"ok":1}')
    status, body, _ = await client("POST", f"{V}/invocation/req-1/response", b"{}")
    assert status == 403 and body["errorType"] == "InvalidStateTransition"
    assert body["errorMessage"].startswith("State transition from ResponseSent to InvocationResponse failed")


async def test_wrong_request_id_is_400_invalid_request_id(api: Any) -> None:
    state, client = api
    invocation = _invocation()
    await _next(state, client, invocation)
    for action in ("response", "error"):
        status, body, _ = await client("POST", f"{V}/invocation/not-the-id/{action}", b"{}")
        assert (status, body) == (
            400,
            {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"},
        )
    assert not invocation.settled.done()


async def test_error_post_is_a_function_error_with_its_type_message_and_trace(api: Any) -> None:
    state, client = api
    invocation = _invocation()
    await _next(state, client, invocation)
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["  File a.py", "  File b.py"]}
    status, body, _ = await client(
        "POST",
        f"{V}/invocation/req-1/error",
        json.dumps(error).encode(),
        Lambda_Runtime_Function_Error_Type="Unhandled",
    )
    assert (status, body) == (202, {"status": "OK"})
    settled = await invocation.settled
    assert settled.error is not None
    assert (settled.error.error_type, settled.error.message) == ("ValueError", "boom")
    assert settled.error.detail == "  File a.py\n  File b.py"


async def test_response_over_the_quota_is_413_and_fails_the_invocation(api: Any) -> None:
    state, client = api
    invocation = _invocation()
    await _next(state, client, invocation)
    big = b'"' + b"x" * protocol.MAX_RESPONSE + b'"'
    status, body, _ = await client("POST", f"{V}/invocation/req-1/response", big)
    assert status == 413 and body["errorType"] == "RequestEntityTooLarge"
    assert (await invocation.settled).kind == "too_large"
    # the connection is still usable: the runtime asks for its next invocation on it
    second = _invocation("req-2")
    status, _, headers = await _next(state, client, second)
    assert status == 200 and headers["Lambda-Runtime-Aws-Request-Id"] == "req-2"


async def test_next_while_running_hands_out_the_same_invocation(api: Any) -> None:
    state, client = api
    await _next(state, client, _invocation("same"))
    status, _, headers = await client("GET", f"{V}/invocation/next")
    assert status == 200 and headers["Lambda-Runtime-Aws-Request-Id"] == "same"


async def test_init_error_during_init_then_refused_after(api: Any) -> None:
    state, client = api
    error = json.dumps({"errorMessage": "no config", "errorType": "Runtime.ConfigError"}).encode()
    assert (await client("POST", f"{V}/init/error", error))[0] == 202
    reported = await state.initialized
    assert reported is not None and (reported.error_type, reported.message) == (
        "Runtime.ConfigError",
        "no config",
    )
    status, body, _ = await client("POST", f"{V}/init/error", error)
    assert status == 403 and body["errorType"] == "InvalidStateTransition"
    status, _, _ = await client("GET", f"{V}/invocation/next")
    assert status == 403


async def test_unknown_paths_and_methods(api: Any) -> None:
    _, client = api
    status, body, _ = await client("POST", "/2020-01-01/extension/register", b"{}")
    assert status == 404 and "Extensions" in body["errorMessage"]
    assert (await client("POST", f"{V}/invocation/next", b""))[0] == 405
    assert (await client("GET", f"{V}/invocation/req-1/response"))[0] == 405
    assert (await client("POST", f"{V}/invocation/req-1/other", b""))[0] == 404


async def test_a_waiting_next_whose_client_leaves_keeps_the_invocation(api: Any) -> None:
    state, client = api
    waiting = asyncio.create_task(client("GET", f"{V}/invocation/next"))
    await asyncio.wait_for(state.initialized, 5)
    await asyncio.sleep(0.05)
    client.conn.sock.shutdown(socket.SHUT_RDWR)  # the runtime went away while it waited
    with pytest.raises(Exception):  # noqa: B017 - whatever http.client raises for a closed socket
        await waiting
    await asyncio.sleep(0.05)
    invocation = _invocation("kept")
    state.dispatch(invocation)
    fresh = Client(client.conn.host + ":" + str(client.conn.port))
    status, _, headers = await fresh("GET", f"{V}/invocation/next")
    assert status == 200 and headers["Lambda-Runtime-Aws-Request-Id"] == "kept"
    fresh.conn.close()


# -- the httptools server's HTTP, over a raw socket ------------------------------------------------


@pytest.fixture
async def raw_api() -> AsyncIterator[tuple[RuntimeApiState, str]]:
    state = RuntimeApiState()
    listener = Listener(RuntimeApiApp(state))
    await listener.start()
    try:
        yield state, listener.address
    finally:
        await listener.close()


async def _connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.split(":")
    return await asyncio.open_connection(host, int(port))


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(status_line.split()[1]), headers, body


def _get_next(extra: str = "") -> bytes:
    return f"GET {V}/invocation/next HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def _first_invocation(state: RuntimeApiState, address: str, request_id: str) -> Any:
    reader, writer = await _connect(address)
    writer.write(_get_next())
    await asyncio.wait_for(state.initialized, 5)
    invocation = _invocation(request_id)
    state.dispatch(invocation)
    status, headers, _ = await _response(reader)
    assert status == 200 and headers["lambda-runtime-aws-request-id"] == request_id
    return reader, writer, invocation


async def test_pipelined_response_and_next_get_their_answers_with_the_next_invocation(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer, first = await _first_invocation(state, address, "req-1")
    # qworker's Node.js client sends its response and its next GET /next in one write
    writer.write(_post(f"{V}/invocation/req-1/response", b'{"ok":1}') + _get_next())
    settled = await asyncio.wait_for(first.settled, 5)
    assert (settled.kind, settled.body) == ("response", b'{"ok":1}')
    with pytest.raises(TimeoutError):  # the 202 waits for the invocation that answers the GET
        await asyncio.wait_for(reader.read(1), 0.1)
    state.dispatch(_invocation("req-2"))
    status, _, body = await _response(reader)
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    status, headers, _ = await _response(reader)
    assert status == 200 and headers["lambda-runtime-aws-request-id"] == "req-2"
    writer.close()


async def test_a_response_alone_is_answered_at_once(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer, _ = await _first_invocation(state, address, "req-1")
    writer.write(_post(f"{V}/invocation/req-1/response", b"null"))
    status, headers, body = await _response(reader)
    assert (status, headers["content-type"], json.loads(body)) == (202, "application/json", {"status": "OK"})
    writer.close()


async def test_expect_100_continue_and_a_chunked_body(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer, invocation = await _first_invocation(state, address, "req-1")
    writer.write(
        f"POST {V}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"4\r\n[1, \r\n2\r\n2]\r\n0\r\n\r\n")
    status, _, _ = await _response(reader)
    assert status == 202
    assert (await invocation.settled).body == b"[1, 2]"
    writer.close()


async def test_a_request_id_is_percent_decoded_and_the_query_ignored(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer, invocation = await _first_invocation(state, address, "id/with space")
    writer.write(_post(f"{V}/invocation/id%2Fwith%20space/response?x=1", b"1"))
    status, _, _ = await _response(reader)
    assert status == 202 and (await invocation.settled).body == b"1"
    writer.close()


async def test_connection_close_is_honoured(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer = await _connect(address)
    writer.write(_get_next("Connection: close\r\n"))
    await asyncio.wait_for(state.initialized, 5)
    state.dispatch(_invocation("req-1"))
    status, headers, _ = await _response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed the connection
    writer.close()


async def test_a_bad_request_is_400_and_the_connection_closes(raw_api: Any) -> None:
    _, address = raw_api
    reader, writer = await _connect(address)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, _ = await _response(reader)
    assert status == 400
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_header_values_cannot_carry_line_breaks(raw_api: Any) -> None:
    state, address = raw_api
    reader, writer = await _connect(address)
    writer.write(_get_next())
    await asyncio.wait_for(state.initialized, 5)
    invocation = _invocation("req-1")
    invocation.headers.append((protocol.H_TRACE_ID, b"Root=1-abc\r\nx-injected: 1"))
    state.dispatch(invocation)
    status, headers, _ = await _response(reader)
    assert status == 200 and "x-injected" not in headers
    assert headers["lambda-runtime-trace-id"] == "Root=1-abc  x-injected: 1"
    writer.close()


async def test_closing_the_listener_ends_a_waiting_next() -> None:
    state = RuntimeApiState()
    listener = Listener(RuntimeApiApp(state))
    await listener.start()
    reader, writer = await _connect(listener.address)
    writer.write(_get_next())
    await asyncio.wait_for(state.initialized, 5)
    await asyncio.wait_for(listener.close(), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()

"""The Runtime API over real HTTP (the uvicorn listener), with the RIE's answers.

A client here is the standard library's ``http.client`` in a thread, the way a runtime process
would talk to the API; qworker's side (``dispatch``) runs on the test's event loop.
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


@pytest.fixture
async def api() -> AsyncIterator[tuple[RuntimeApiState, Client]]:
    state = RuntimeApiState()
    listener = Listener(RuntimeApiApp(state))
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

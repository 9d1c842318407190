"""The request path's shortcuts give what the full checks give: plain send entries, batch entry
ids checked once, the batch size counted only when it may be over, header lines checked once."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest

from qworker.backend import MessageAttributeValue, SendEntry
from qworker.serve import protocol
from qworker.serve.actions import batches
from qworker.serve.actions.send import _check_batch_size
from qworker.serve.errors import SQSError
from qworker.serve.messages import send_entry
from qworker.testing.serve import ServeProcess

from .wire import read_responses


def test_a_plain_entry_is_what_the_full_decoding_makes() -> None:
    plain = send_entry({"Id": "a", "MessageBody": "hé"}, "a", trace="Root=1")
    assert plain == SendEntry("hé", id="a", trace_header="Root=1")
    full = send_entry({"Id": "a", "MessageBody": "hé", "DelaySeconds": None}, "a", trace="Root=1")
    assert full == plain
    assert send_entry({"QueueUrl": "q", "MessageBody": "x"}, None) == SendEntry("x")


@pytest.mark.parametrize("body", [1, b"x", ["x"], True])
def test_a_body_that_is_not_a_string_is_still_refused(body: object) -> None:
    with pytest.raises(SQSError) as exc:
        send_entry({"MessageBody": body}, None)
    assert exc.value.name == "InvalidParameterValueException"


def test_entries_with_more_than_a_body_take_the_full_path() -> None:
    entry = send_entry(
        {"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}}, None
    )
    assert entry.message_attributes == {"a": MessageAttributeValue("String", "v")}
    assert send_entry({"MessageBody": None}, None).body == ""


def test_batch_entry_ids_are_checked_every_time_they_are_invalid() -> None:
    assert batches.check_entries([{"Id": "0"}, {"Id": "1"}], "SendMessageBatch") == ["0", "1"]
    assert batches.check_entries([{"Id": "0"}, {"Id": "1"}], "SendMessageBatch") == ["0", "1"]
    for bad in ("", "a b", "x" * 81, ["0"], {"a": 1}, 0, None):
        with pytest.raises(SQSError) as exc:
            batches.check_entries([{"Id": "0"}, {"Id": bad}], "SendMessageBatch")
        assert exc.value.name == "InvalidBatchEntryId"
    with pytest.raises(SQSError) as exc:
        batches.check_entries([{"Id": "0"}, {"Id": "0"}], "SendMessageBatch")
    assert exc.value.name == "BatchEntryIdsNotDistinct"


def test_the_batch_size_is_counted_in_bytes_when_it_may_be_over() -> None:
    limit = 1_048_576
    _check_batch_size([SendEntry("x" * (limit // 4))])  # few characters: not counted
    _check_batch_size([SendEntry("€" * (limit // 3))])  # 3 bytes each: counted, under
    with pytest.raises(SQSError) as exc:
        _check_batch_size([SendEntry("€" * (limit // 3 + 1))])
    assert exc.value.name == "BatchRequestTooLong"
    with pytest.raises(SQSError):
        _check_batch_size([SendEntry("x" * limit), SendEntry("y")])
    attribute = {"a" * 10: MessageAttributeValue("String", "v" * 10)}
    with pytest.raises(SQSError):  # the attributes count too
        _check_batch_size([SendEntry("x" * (limit - 20), message_attributes=attribute)])


def test_an_invalid_header_line_is_refused_every_time() -> None:
    protocol._check_header(b"content-type", b"text/plain")
    assert (b"content-type", b"text/plain") in protocol._valid_headers
    for _ in range(2):
        with pytest.raises(RuntimeError):
            protocol._check_header(b"x-bad", b"a\r\nb")
        assert (b"x-bad", b"a\r\nb") not in protocol._valid_headers


# -- on the wire: the one-write response and its fallbacks ----------------------------------------


def _request(target: str, body: bytes, *extra: str) -> bytes:
    head = [
        "POST / HTTP/1.1",
        "Host: 127.0.0.1",
        f"X-Amz-Target: AmazonSQS.{target}",
        "Content-Type: application/x-amz-json-1.0",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_pipelined_requests_get_their_answers_in_order(server: ServeProcess) -> None:
    names = [f"pipe{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    data = b"".join(_request("CreateQueue", json.dumps({"QueueName": n}).encode()) for n in names)
    data += _request("NoSuchAction", b"{}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        answers = read_responses(sock, 4)
    for (status, headers, body), name in zip(answers, names, strict=False):
        assert status == 200 and headers["content-type"] == "application/x-amz-json-1.0"
        assert json.loads(body)["QueueUrl"].endswith(f"/{name}")
    status, headers, body = answers[3]
    assert status == 400 and json.loads(body)["__type"].endswith("#UnknownOperationException")
    assert "x-amzn-query-error" in headers


def test_expect_continue_and_a_body_in_parts_take_the_asgi_path(server: ServeProcess) -> None:
    name = f"parts-{uuid.uuid4().hex[:6]}"
    body = json.dumps({"QueueName": name}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request("CreateQueue", body, "Expect: 100-continue")[: -len(body)])
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body[:5])
        time.sleep(0.05)
        sock.sendall(body[5:])
        ((status, _, answer),) = read_responses(sock, 1)
        assert status == 200 and json.loads(answer)["QueueUrl"].endswith(f"/{name}")
        sock.sendall(_request("GetQueueUrl", body))  # the same connection goes on
        ((status, _, answer),) = read_responses(sock, 1)
        assert status == 200 and json.loads(answer)["QueueUrl"].endswith(f"/{name}")


def test_connection_close_is_honoured(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request("ListQueues", b"{}", "Connection: close"))
        ((status, headers, _),) = read_responses(sock, 1)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(65536) == b""  # closed after the answer


def test_the_installed_uvicorn_has_what_the_shortcuts_read() -> None:
    """The shortcuts read uvicorn's protocol internals; a uvicorn without them turns them off
    (requests go through ASGI) rather than breaking: this says when an upgrade did that."""
    from qworker.serve import protocol

    assert protocol.LEAN_SUPPORTED, "this uvicorn lacks what qworker.serve.protocol's shortcuts read"


async def test_a_started_server_collects_its_young_objects_less_often(tmp_path: Path) -> None:
    import gc

    from qworker.serve.app import YOUNG_GC_THRESHOLD
    from qworker.serve.runner import build_app

    before = gc.get_threshold()
    app = build_app(f"sqlite:///{tmp_path}/q.db", [], protocol.GuardedHttpToolsProtocol.head_timeout)
    try:
        await app.startup()
        assert gc.get_threshold() == (max(before[0], YOUNG_GC_THRESHOLD), *before[1:])
        await app.shutdown()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()

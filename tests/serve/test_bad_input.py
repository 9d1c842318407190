"""Bad input never gets a 500 or a traceback: each case gets SQS's 4xx error shape within a
bounded time, and the server answers a good request afterwards.

Requests are written byte by byte on raw sockets, so nothing (no SDK, no HTTP library) tidies
them up first. The server runs with ``--request-timeout 1`` so that slow clients are cut off
quickly.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest

from qworker.testing.serve import ServeProcess

from .wire import read_response

TARGET = "AmazonSQS."
TIMEOUT = 1.0  # the server's --request-timeout


@pytest.fixture(scope="module")
def server(serve_backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(
        serve_backend_url, "--request-timeout", str(TIMEOUT), log_dir=tmp_path_factory.mktemp("log")
    ).start()
    yield process
    assert "Traceback" not in process.log(), process.log()
    process.stop()


def exchange(
    port: int, data: bytes, *, wait: float = 5.0, then: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (and ``then`` after a pause); the response's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        if then:
            time.sleep(0.05)
            sock.sendall(then)
        return read_response(sock)


def request(
    body: bytes,
    *,
    target: str | None = "ListQueues",
    content_type: str = "application/x-amz-json-1.0",
    extra: str = "",
    length: int | None = None,
) -> bytes:
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    if target is not None:
        head += f"X-Amz-Target: {TARGET}{target}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n{extra}\r\n"
    return head.encode() + body


def json_error(response: tuple[int, dict[str, str], bytes], status: int = 400) -> dict[str, Any]:
    got_status, headers, body = response
    assert got_status == status, response
    doc = json.loads(body)
    assert doc["__type"].startswith("com.amazonaws.sqs#") and doc["message"], doc
    assert headers["x-amzn-query-error"].endswith(";Sender"), headers
    return doc


def xml_error(response: tuple[int, dict[str, str], bytes], status: int = 400) -> str:
    got_status, _, body = response
    assert got_status == status, response
    root = ElementTree.fromstring(body)
    ns = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}
    assert root.find("q:Error/q:Type", ns).text == "Sender"
    assert root.find("q:Error/q:Message", ns).text
    return root.find("q:Error/q:Code", ns).text


def still_serving(port: int) -> None:
    status, _, body = exchange(port, request(b"{}"))
    assert status == 200, body


@pytest.mark.parametrize(
    ("body", "target", "shape"),
    [
        (b"{not json", "ListQueues", "SerializationException"),
        (b"[1, 2]", "ListQueues", "SerializationException"),
        (b'{"QueueName": "\xff\xfe"}', "GetQueueUrl", "SerializationException"),
        (b"[" * 5000 + b"]" * 5000, "ListQueues", "SerializationException"),
        (b"{}", "NoSuchAction", "UnknownOperationException"),
        (b'{"QueueName": 5}', "GetQueueUrl", "InvalidParameterValueException"),
        (b'{"QueueUrl": "/000000000000/x", "MaxNumberOfMessages": "ten"}', "ReceiveMessage", None),
        (b'{"QueueName": "q", "Attributes": [1]}', "CreateQueue", "InvalidParameterValueException"),
        (
            b'{"QueueUrl": "/000000000000/q", "Entries": "x"}',
            "SendMessageBatch",
            "InvalidParameterValueException",
        ),
        (b'{"QueueUrl": "/000000000000/q", "Entries": []}', "DeleteMessageBatch", None),
    ],
)
def test_malformed_json_requests(server: ServeProcess, body: bytes, target: str, shape: str | None) -> None:
    doc = json_error(exchange(server.port, request(body, target=target)))
    if shape is not None:
        assert doc["__type"] == f"com.amazonaws.sqs#{shape}"
    still_serving(server.port)


def test_unknown_target_service(server: ServeProcess) -> None:
    data = request(b"{}", target=None, extra="X-Amz-Target: DynamoDB_20120810.ListTables\r\n")
    assert json_error(exchange(server.port, data))["__type"].endswith("#UnknownOperationException")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Action=NoSuchAction&Version=2012-11-05", "InvalidAction"),
        (b"Action=GetQueueUrl&QueueName=%FF%FE", "MalformedQueryString"),
        (b"Action=ReceiveMessage&QueueUrl=/000000000000/q&MaxNumberOfMessages=ten", "InvalidParameterValue"),
        (
            b"Action=SendMessage&QueueUrl=%2F000000000000%2Fnope&MessageBody=x",
            "AWS.SimpleQueueService.NonExistentQueue",
        ),
        (b"Action=SendMessageBatch&QueueUrl=/000000000000/q", "AWS.SimpleQueueService.EmptyBatchRequest"),
    ],
)
def test_malformed_query_requests(server: ServeProcess, body: bytes, code: str) -> None:
    if code == "AWS.SimpleQueueService.EmptyBatchRequest":
        name = f"bad-{uuid.uuid4().hex[:8]}"
        exchange(server.port, request(json.dumps({"QueueName": name}).encode(), target="CreateQueue"))
        body = body.replace(b"/q", f"/{name}".encode())
    data = request(body, target=None, content_type="application/x-www-form-urlencoded")
    assert xml_error(exchange(server.port, data)) == code
    still_serving(server.port)


@pytest.mark.parametrize("body", [b"Version=2012-11-05", b"<xml><Action>ListQueues</Action></xml>", b""])
def test_query_request_without_an_action(server: ServeProcess, body: bytes) -> None:
    """As SQS: a bare 404 ``<UnknownOperationException/>``."""
    data = request(body, target=None, content_type="application/x-www-form-urlencoded")
    status, _, payload = exchange(server.port, data)
    assert (status, payload) == (404, b"<UnknownOperationException/>")


def test_too_many_form_fields(server: ServeProcess) -> None:
    body = b"Action=ListQueues&" + b"&".join(b"f%d=1" % i for i in range(30_000))
    data = request(body, target=None, content_type="application/x-www-form-urlencoded")
    assert xml_error(exchange(server.port, data)) == "MalformedQueryString"


def test_declared_length_over_the_cap_is_refused_before_reading(server: ServeProcess) -> None:
    started = time.monotonic()
    response = exchange(server.port, request(b"", length=100 * 1024 * 1024))
    assert json_error(response, 413)["__type"].endswith("#RequestEntityTooLarge")
    assert response[1].get("connection") == "close"
    assert time.monotonic() - started < TIMEOUT
    still_serving(server.port)


def test_streamed_body_over_the_cap_is_refused_while_it_streams(server: ServeProcess) -> None:
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}ListQueues\r\n"
        "Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b" " * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        status = None
        for _ in range(8):  # 8 MiB offered, the cap is 4 MiB: the answer comes before the end
            try:
                sock.sendall(chunk)
            except OSError:
                break
        status, _, body = read_response(sock)
    assert status == 413, body


def test_body_shorter_than_its_length_times_out(server: ServeProcess) -> None:
    started = time.monotonic()
    response = exchange(server.port, request(b"{}", length=1000), wait=TIMEOUT + 5)
    assert json_error(response, 408)["__type"].endswith("#RequestTimeout")
    assert TIMEOUT * 0.9 < time.monotonic() - started < TIMEOUT + 3
    still_serving(server.port)


def test_slow_request_head_times_out(server: ServeProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT + 5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Ta")
        status, _, _ = read_response(sock)
    assert status == 408
    assert time.monotonic() - started < TIMEOUT + 3
    still_serving(server.port)


@pytest.mark.parametrize("size", [80_000, 1_000_000])
def test_huge_request_head_is_refused(server: ServeProcess, size: int) -> None:
    """Over 64 KiB of head is refused: 431 from qworker's guard, or 400 from the HTTP parser's
    own limit, whichever comes first."""
    data = b"POST / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Junk-%d: %s\r\n" % (i, b"a" * 900) for i in range(size // 1000)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        status, _, _ = read_response(sock)
    assert status in (400, 431)
    still_serving(server.port)


def test_not_http_at_all(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        status, _, _ = read_response(sock)
    assert status == 400
    still_serving(server.port)


def test_idle_keep_alive_connection_gets_no_stray_response(server: ServeProcess) -> None:
    """An idle connection is never sent a 408 it did not ask for (an SDK would read it as the
    answer to its next request): only a request that started and stalled is."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request(b"{}"))
        assert read_response(sock)[0] == 200
        time.sleep(TIMEOUT * 2)
        sock.sendall(request(b"{}"))
        assert read_response(sock)[0] == 200


def test_invalid_base64_binary_attribute(server: ServeProcess) -> None:
    name = f"b64-{uuid.uuid4().hex[:8]}"
    exchange(server.port, request(json.dumps({"QueueName": name}).encode(), target="CreateQueue"))
    body = {
        "QueueUrl": f"/000000000000/{name}",
        "MessageBody": "x",
        "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "not base64!"}},
    }
    json_error(exchange(server.port, request(json.dumps(body).encode(), target="SendMessage")))


def test_a_long_poll_whose_client_left_takes_no_message(server: ServeProcess) -> None:
    """The receive of a client that disconnected is cancelled: a message sent afterwards goes to
    the next receiver, not to the dead connection (where it would stay hidden for a visibility
    timeout)."""
    name = f"gone-{uuid.uuid4().hex[:8]}"
    exchange(server.port, request(json.dumps({"QueueName": name}).encode(), target="CreateQueue"))
    queue_url = f"/000000000000/{name}"
    poll = {"QueueUrl": queue_url, "WaitTimeSeconds": 20, "VisibilityTimeout": 300}
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(request(json.dumps(poll).encode(), target="ReceiveMessage"))
    time.sleep(0.5)
    sock.close()
    time.sleep(0.5)
    send = {"QueueUrl": queue_url, "MessageBody": "for the living"}
    assert exchange(server.port, request(json.dumps(send).encode(), target="SendMessage"))[0] == 200
    receive = {"QueueUrl": queue_url, "WaitTimeSeconds": 2}
    status, _, body = exchange(server.port, request(json.dumps(receive).encode(), target="ReceiveMessage"))
    assert status == 200
    assert [m["Body"] for m in json.loads(body)["Messages"]] == ["for the living"]

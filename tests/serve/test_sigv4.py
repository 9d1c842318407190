"""``qworker.serve.sigv4``: SigV4 verification of SQS requests as real SDKs sign them.

Requests are signed by botocore itself: a boto3 SQS client speaking the JSON protocol (and one
speaking the query protocol, from botocore's own model with the protocol switched back), captured
at ``before-send``; ``AWSRequest`` objects signed with ``SigV4Auth``/``SigV4QueryAuth`` for the
query-protocol shapes other SDKs send (queue URL in the path, GET with everything in the query
string, presigned URLs). Wire-level tests send real requests to a loopback capture server from
boto3, from the AWS SDK for JavaScript v3 (client and bare signer; skipped when npm cannot install
it) and from the AWS CLI (skipped when absent). Every error case checks code, status, message, and
that no secret shows in the exception.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qworker.serve.sigv4 import AccessKey, AuthError, SigV4Verifier, parse_access_keys

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
OTHER_ID = "qworker-producer"
OTHER_SECRET = "an0ther:secret/with+odd=chars"
KEYS = {KEY_ID: AccessKey(KEY_ID, SECRET), OTHER_ID: AccessKey(OTHER_ID, OTHER_SECRET)}
SECRETS = (SECRET, OTHER_SECRET)

ENDPOINT = "http://127.0.0.1:9324"
QUEUE_PATH = "/000000000000/my-queue"
QUEUE_URL = ENDPOINT + QUEUE_PATH
UNICODE_BODY = "héllo ☃ 😀 <&> 'quotes' \"double\" ünïcödé"

MISMATCH_PREFIX = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


# -- requests as a server receives them -----------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A request as the server hands it to the verifier."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def verify(self, verifier: SigV4Verifier) -> str:
        return verifier.verify(self.method, self.path, self.query, list(self.headers), self.body)

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key.lower() == name.lower())

    def with_header(self, name: str, value: str) -> Received:
        """Replace every header called ``name`` (case-insensitively) by one, or add it."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=(*kept, (name, value)))

    def without_header(self, name: str) -> Received:
        return replace(self, headers=tuple((k, v) for k, v in self.headers if k.lower() != name.lower()))

    def signed_at(self) -> float:
        """When it was signed (its X-Amz-Date, header or query)."""
        try:
            stamp = self.header("X-Amz-Date")
        except StopIteration:
            stamp = dict(pair.split("=", 1) for pair in self.query.split("&"))["X-Amz-Date"]
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def host_header(url: str) -> str:
    """The Host header http.client/urllib3 send for ``url``: the port unless it is the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def from_prepared(method: str, url: str, headers: Any, body: bytes | str | None) -> Received:
    """A botocore-prepared request as it goes on the wire (http.client adds Host)."""
    parts = urlsplit(url)
    pairs = [(str(k), v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in pairs):
        pairs.append(("Host", host_header(url)))
    if isinstance(body, str):
        body = body.encode()
    return Received(method, parts.path or "/", parts.query, tuple(pairs), body or b"")


def sign(
    method: str,
    url: str,
    *,
    data: bytes | str | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "sqs",
    context: dict[str, Any] | None = None,
) -> Received:
    """A request signed by botocore's ``SigV4Auth``, as it would arrive."""
    request = AWSRequest(method=method, url=url, data=data, headers=headers or {}, params=params or {})
    request.context.update(context or {})
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    return from_prepared(prepared.method, prepared.url, prepared.headers, prepared.body)


def presign(
    method: str,
    url: str,
    *,
    expires: int = 300,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "sqs",
) -> Received:
    """A presigned request from botocore's ``SigV4QueryAuth`` (form data moves into the query)."""
    request = AWSRequest(method=method, url=url, data=data, headers=headers or {})
    SigV4QueryAuth(Credentials(key_id, secret), service, region, expires=expires).add_auth(request)
    prepared = request.prepare()
    return from_prepared(prepared.method, prepared.url, prepared.headers, prepared.body)


def form(params: dict[str, str]) -> dict[str, str]:
    return {"Version": "2012-11-05", **params}


def verifier(**kwargs: Any) -> SigV4Verifier:
    return SigV4Verifier(KEYS, **kwargs)


def at(moment: float) -> Callable[[], float]:
    return lambda: moment


def expect_error(
    request: Received, code: str, status: int, verify_with: SigV4Verifier | None = None
) -> AuthError:
    with pytest.raises(AuthError) as caught:
        request.verify(verify_with or verifier())
    error = caught.value
    assert (error.code, error.status) == (code, status), error
    for secret in SECRETS:
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in error.message
    return error


# -- boto3 clients, captured at before-send -----------------------------------------------------


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


_ERROR_BODIES = {
    "json": (
        b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"captured"}',
        "application/x-amz-json-1.0",
    ),
    "query": (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Captured</Code><Message>captured</Message>"
        b"</Error><RequestId>0</RequestId></ErrorResponse>",
        "text/xml",
    ),
}


@pytest.fixture(scope="session")
def query_protocol_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A botocore data path whose SQS model is botocore's own with the protocol switched back to
    ``query``, the protocol boto3 spoke to SQS before JSON (and older SDKs still do)."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = copy.deepcopy(loader.load_service_model("sqs", "service-2"))
    metadata = model["metadata"]
    for name in ("jsonVersion", "targetPrefix", "awsQueryCompatible"):
        metadata.pop(name, None)
    metadata.update(
        protocol="query", protocols=["query"], xmlNamespace="http://queue.amazonaws.com/doc/2012-11-05/"
    )
    root = tmp_path_factory.mktemp("botocore-data")
    target = root / "sqs" / metadata["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return root


@pytest.fixture
def captured_client(query_protocol_data: Path) -> Callable[..., tuple[Any, list[Received]]]:
    """``make(endpoint_url, protocol="json"|"query", ...)``: an SQS client whose requests are
    captured (and answered with an error) instead of sent."""

    def make(
        endpoint_url: str = ENDPOINT,
        *,
        protocol: str = "json",
        region: str = "us-east-1",
        key_id: str = KEY_ID,
        secret: str = SECRET,
        token: str | None = None,
    ) -> tuple[Any, list[Received]]:
        session = botocore.session.get_session()
        if protocol == "query":
            session.set_config_variable("data_path", str(query_protocol_data))
        client = boto3.Session(botocore_session=session).client(
            "sqs",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
        )
        captured: list[Received] = []
        body, content_type = _ERROR_BODIES[protocol]

        def capture(request: Any, **_: Any) -> AWSResponse:
            captured.append(from_prepared(request.method, request.url, request.headers, request.body))
            return AWSResponse(request.url, 400, {"Content-Type": content_type}, _RawBody(body))

        client.meta.events.register("before-send.sqs.*", capture)
        return client, captured

    return make


def call_all(client: Any, queue_url: str) -> None:
    """A spread of SQS calls; every one is answered with an error, only the requests matter."""
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "send_message",
            {
                "QueueUrl": queue_url,
                "MessageBody": UNICODE_BODY,
                "MessageAttributes": {
                    "Kind": {"DataType": "String", "StringValue": "ünïcode & more"},
                    "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"},
                },
            },
        ),
        (
            "send_message_batch",
            {
                "QueueUrl": queue_url,
                "Entries": [
                    {"Id": "a", "MessageBody": "first"},
                    {"Id": "b", "MessageBody": UNICODE_BODY, "DelaySeconds": 3},
                ],
            },
        ),
        ("receive_message", {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
        ("delete_message", {"QueueUrl": queue_url, "ReceiptHandle": "AQEB+/=handle"}),
        ("get_queue_url", {"QueueName": "my-queue"}),
        ("list_queues", {"QueueNamePrefix": "my"}),
        ("create_queue", {"QueueName": "q.fifo", "Attributes": {"FifoQueue": "true"}}),
    ]
    for name, kwargs in calls:
        with pytest.raises(ClientError):
            getattr(client, name)(**kwargs)


# -- valid requests: boto3, JSON and query protocol -----------------------------------------------


ENDPOINTS = [
    "http://127.0.0.1:9324",
    "http://localhost:4566",
    "http://localhost",  # port 80: neither signed nor sent
    "https://sqs.example.test:8443",
    "http://[::1]:9324",
    "http://127.0.0.1:9324/qworker/prefix",  # an endpoint with a path
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("protocol", ["json", "query"])
def test_boto3_requests_verify(captured_client: Any, endpoint: str, protocol: str) -> None:
    client, captured = captured_client(endpoint, protocol=protocol)
    call_all(client, endpoint + QUEUE_PATH)
    assert len(captured) == 7
    for request in captured:
        assert request.verify(verifier()) == KEY_ID
    if protocol == "json":
        assert {r.header("X-Amz-Target") for r in captured} >= {
            "AmazonSQS.SendMessage",
            "AmazonSQS.ListQueues",
        }
    else:
        assert all(r.header("Content-Type").startswith("application/x-www-form-urlencoded") for r in captured)
        assert any("Action=SendMessage&" in r.body.decode() for r in captured)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "ap-southeast-2", "local"])
def test_any_region_is_accepted_unless_one_is_configured(captured_client: Any, region: str) -> None:
    client, captured = captured_client(region=region)
    call_all(client, QUEUE_URL)
    for request in captured:
        assert request.verify(verifier()) == KEY_ID
        assert request.verify(verifier(region=region)) == KEY_ID
        if region != "us-east-1":
            error = expect_error(request, "SignatureDoesNotMatch", 403, verifier(region="us-east-1"))
            assert error.message == f"Credential should be scoped to a valid region, not '{region}'. "


def test_the_second_key_and_a_session_token(captured_client: Any) -> None:
    client, captured = captured_client(key_id=OTHER_ID, secret=OTHER_SECRET, token="FwoGZXIvYXdzE//token==")
    call_all(client, QUEUE_URL)
    for request in captured:
        assert request.header("X-Amz-Security-Token") == "FwoGZXIvYXdzE//token=="
        assert request.verify(verifier()) == OTHER_ID
    # The token, signed like any header, is blanked in the canonical request quoted back.
    tampered = captured[0].with_header("X-Amz-Target", "AmazonSQS.DeleteQueue")
    error = expect_error(tampered, "SignatureDoesNotMatch", 403)
    assert "x-amz-security-token:<redacted>\n" in error.message
    assert "FwoGZXIvYXdzE" not in error.message


def test_asgi_shaped_arguments_and_a_mapping(captured_client: Any) -> None:
    """bytes everywhere, the way an ASGI scope has them; or a plain dict of headers."""
    client, captured = captured_client()
    call_all(client, QUEUE_URL)
    request = captured[0]
    asgi_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
    key_id = verifier().verify(
        request.method.encode(), request.path.encode(), request.query.encode(), asgi_headers, request.body
    )
    assert key_id == KEY_ID
    assert verifier().verify(request.method, request.path, request.query, dict(request.headers), request.body)


# -- valid requests: botocore-signed query-protocol shapes --------------------------------------


def test_query_protocol_post_to_the_queue_url_path() -> None:
    body = form({"Action": "SendMessage", "MessageBody": UNICODE_BODY, "DelaySeconds": "0"})
    request = sign("POST", QUEUE_URL, data=body)
    assert request.path == QUEUE_PATH
    assert request.verify(verifier()) == KEY_ID


def test_query_protocol_get_with_everything_in_the_query_string() -> None:
    params = form(
        {
            "Action": "SendMessage",
            "MessageBody": UNICODE_BODY + " plus+ slash/ star* tilde~ equals= amp& percent% hash#",
            "MessageAttribute.1.Name": "attr",
            "MessageAttribute.1.Value.StringValue": "x y",
            "MessageAttribute.1.Value.DataType": "String",
        }
    )
    request = sign("GET", QUEUE_URL, params=params)
    # botocore signs a space as %20 but sends it as '+' (urlencode): '+' is read as a space
    assert "x+y" in request.query and "%E2%98%83" in request.query and "plus%2B" in request.query
    assert request.verify(verifier()) == KEY_ID
    assert replace(request, query=request.query.replace("+", "%20")).verify(verifier()) == KEY_ID
    # a '+' that was a plus is always sent as %2B; sent bare, it is a space, which was not signed
    bare = replace(request, query=request.query.replace("plus%2B", "plus+"))
    expect_error(bare, "SignatureDoesNotMatch", 403)


def test_query_string_encoded_differently_still_verifies() -> None:
    """The canonical query is rebuilt from the decoded pairs, sorted, RFC 3986 encoded: a client
    that leaves ``~*!`` bare or orders its parameters differently is verified all the same."""
    request = sign("GET", QUEUE_URL, params={"b": "~*!'()", "a": "x y", "a2": "é"})
    reordered = "a2=%c3%a9&b=~*!'()&a=x%20y"
    assert replace(request, query=reordered).verify(verifier()) == KEY_ID
    # but a different value does not
    expect_error(replace(request, query="a2=%c3%a9&b=~*!'()&a=x%20z"), "SignatureDoesNotMatch", 403)


def test_repeated_query_parameters() -> None:
    url = QUEUE_URL + "?AttributeName.1=All&x=2&x=1&x=10"
    request = sign("GET", url)
    assert request.verify(verifier()) == KEY_ID
    expect_error(replace(request, query="AttributeName.1=All&x=2&x=1"), "SignatureDoesNotMatch", 403)


@pytest.mark.parametrize(
    "path",
    [
        "/000000000000/my-queue",
        "/000000000000/my-queue.fifo",
        "/000000000000/my_queue-2",
        "/queue/with%20space",  # percent-encoded as sent: signed double-encoded
        "/queue/a%2Fb",
        "/queue/%E2%98%83",
        "/queue/sub-delims!$&'()*+,;=:@",
        "/",
        "/a//b/./c/../d/",  # normalised before signing (SigV4, not S3)
    ],
)
def test_paths_as_sent(path: str) -> None:
    request = sign("POST", ENDPOINT + path, data=form({"Action": "GetQueueAttributes"}))
    assert request.path == path
    assert request.verify(verifier()) == KEY_ID


def test_a_decoded_path_does_not_verify() -> None:
    """The path must be passed as sent (ASGI ``raw_path``): percent-decoding it changes what was
    signed (SigV4 for non-S3 services signs the path encoded once more)."""
    request = sign("POST", ENDPOINT + "/queue/with%20space", data=form({"Action": "GetQueueUrl"}))
    expect_error(replace(request, path="/queue/with space"), "IncompleteSignature", 400)
    request = sign("POST", ENDPOINT + "/queue/a%2Fb", data=form({"Action": "GetQueueUrl"}))
    error = expect_error(replace(request, path="/queue/a/b"), "SignatureDoesNotMatch", 403)
    assert "\n/queue/a/b\n" in error.message


def test_repeated_headers_are_joined_and_values_trimmed() -> None:
    request = AWSRequest(method="POST", url=QUEUE_URL, data=b"Action=ListQueues")
    request.headers["X-Multi"] = "first"
    request.headers["X-Multi"] = "  second   value "
    request.headers["X-Spaces"] = "  a   b\tc  "
    SigV4Auth(Credentials(KEY_ID, SECRET), "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()  # its headers are a dict: keep the repeated lines from the request's
    received = from_prepared(prepared.method, prepared.url, request.headers, prepared.body)
    assert [v for k, v in received.headers if k == "X-Multi"] == ["first", "  second   value "]
    assert received.verify(verifier()) == KEY_ID
    # an HTTP parser strips the outer whitespace; inner runs are collapsed by the canonicalisation
    stripped = replace(received, headers=tuple((k, v.strip()) for k, v in received.headers))
    assert stripped.verify(verifier()) == KEY_ID
    # order matters for a repeated header: it is joined with commas in arrival order
    values = [(k, v) for k, v in received.headers if k == "X-Multi"]
    others = tuple((k, v) for k, v in received.headers if k != "X-Multi")
    swapped = replace(received, headers=(*others, values[1], values[0]))
    error = expect_error(swapped, "SignatureDoesNotMatch", 403)
    assert "\nx-multi:second value,first\n" in error.message
    # a single comma-joined line is the same canonical header
    joined = replace(received, headers=(*others, ("X-Multi", "first,second value")))
    assert joined.verify(verifier()) == KEY_ID


def test_unsigned_headers_may_be_added() -> None:
    request = sign("POST", QUEUE_URL, data=form({"Action": "ListQueues"}))
    noisy = replace(
        request,
        headers=(
            *request.headers,
            ("User-Agent", "curl/8"),
            ("Connection", "keep-alive"),
            ("X-Forwarded-For", "::1"),
        ),
    )
    assert noisy.verify(verifier()) == KEY_ID


def test_the_date_header_instead_of_x_amz_date() -> None:
    request = sign("POST", QUEUE_URL, data=form({"Action": "ListQueues"}), headers={"Date": "placeholder"})
    assert not any(k.lower() == "x-amz-date" for k, _ in request.headers)
    assert request.verify(verifier()) == KEY_ID


def test_content_sha256_header() -> None:
    body = "Action=SendMessage&Version=2012-11-05&MessageBody=" + quote(UNICODE_BODY)
    digest = hashlib.sha256(body.encode()).hexdigest()
    request = sign("POST", QUEUE_URL, data=body, headers={"X-Amz-Content-Sha256": digest})
    assert request.verify(verifier()) == KEY_ID
    upper = sign("POST", QUEUE_URL, data=body, headers={"X-Amz-Content-Sha256": digest.upper()})
    assert upper.verify(verifier()) == KEY_ID
    tampered = replace(request, body=request.body + b"&DelaySeconds=900")
    error = expect_error(tampered, "SignatureDoesNotMatch", 403)
    assert error.message == "The provided 'x-amz-content-sha256' header does not match what was computed."
    doubled = replace(request, headers=(*request.headers, ("x-amz-content-sha256", digest)))
    assert expect_error(doubled, "IncompleteSignature", 400).message == (
        "The request has more than one X-Amz-Content-Sha256."
    )


def test_unsigned_payload() -> None:
    """botocore sends ``UNSIGNED-PAYLOAD`` over https when payload signing is off; the body is then
    not covered, which ``allow_unsigned_payload=False`` refuses."""
    url = "https://sqs.example.test:8443" + QUEUE_PATH
    request = sign(
        "POST", url, data=form({"Action": "ListQueues"}), context={"payload_signing_enabled": False}
    )
    assert request.header("X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    assert request.verify(verifier()) == KEY_ID
    assert replace(request, body=b"Action=DeleteQueue").verify(verifier()) == KEY_ID
    error = expect_error(request, "IncompleteSignature", 400, verifier(allow_unsigned_payload=False))
    assert "UNSIGNED-PAYLOAD" in error.message


# -- each wrong piece ----------------------------------------------------------------------------


@pytest.fixture
def valid(captured_client: Any) -> Received:
    client, captured = captured_client()
    with pytest.raises(ClientError):
        client.send_message(QueueUrl=QUEUE_URL, MessageBody=UNICODE_BODY)
    (request,) = captured
    assert request.verify(verifier()) == KEY_ID
    return request


def test_missing_authentication(valid: Received) -> None:
    request = valid.without_header("Authorization")
    error = expect_error(request, "MissingAuthenticationToken", 403)
    assert error.message == "Request is missing Authentication Token"
    assert error.fault == "Sender"
    expect_error(valid.with_header("Authorization", "   "), "MissingAuthenticationToken", 403)


def test_unknown_access_key_id(captured_client: Any) -> None:
    client, captured = captured_client(key_id="AKIAUNKNOWN", secret=SECRET)
    with pytest.raises(ClientError):
        client.list_queues()
    error = expect_error(captured[0], "InvalidClientTokenId", 403)
    assert error.message == "The security token included in the request is invalid."
    assert str(error) == "InvalidClientTokenId: The security token included in the request is invalid."


def test_wrong_secret(captured_client: Any) -> None:
    client, captured = captured_client(secret="not-the-secret")
    with pytest.raises(ClientError):
        client.send_message(QueueUrl=QUEUE_URL, MessageBody=UNICODE_BODY)
    error = expect_error(captured[0], "SignatureDoesNotMatch", 403)
    assert error.message.startswith(
        MISMATCH_PREFIX + "\n\nThe Canonical String for this request should have been\n'POST\n/\n\n"
    )
    assert "\nhost:127.0.0.1:9324\n" in error.message
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in error.message
    assert "not-the-secret" not in error.message


def _flip_signature(request: Received) -> Received:
    authorization = request.header("Authorization")
    last = "1" if authorization.endswith("0") else "0"
    return request.with_header("Authorization", authorization[:-1] + last)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: replace(r, body=r.body.replace(b"h\\u00e9llo", b"hello")), id="body"),
        pytest.param(lambda r: replace(r, body=r.body + b" "), id="body-trailing-space"),
        pytest.param(lambda r: r.with_header("X-Amz-Target", "AmazonSQS.PurgeQueue"), id="signed-header"),
        pytest.param(
            lambda r: r.with_header("Content-Type", "application/x-amz-json-1.1"), id="content-type"
        ),
        pytest.param(lambda r: r.with_header("Host", "127.0.0.1:9325"), id="host-port"),
        pytest.param(lambda r: r.with_header("Host", "127.0.0.1"), id="host-without-port"),
        pytest.param(lambda r: replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: replace(r, path="/000000000000/other-queue"), id="path"),
        pytest.param(lambda r: replace(r, query="Action=PurgeQueue"), id="query"),
        pytest.param(
            lambda r: r.with_header("X-Amz-Date", _shift_stamp(r.header("X-Amz-Date"), 1)), id="date"
        ),
        pytest.param(_flip_signature, id="signature"),
    ],
)
def test_each_tampered_piece_is_signature_does_not_match(
    valid: Received, change: Callable[[Received], Received]
) -> None:
    tampered = change(valid)
    assert tampered != valid
    error = expect_error(tampered, "SignatureDoesNotMatch", 403)
    assert error.message.startswith(MISMATCH_PREFIX)


def _shift_stamp(stamp: str, seconds: int) -> str:
    moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() + seconds
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ")


def test_a_signed_header_removed(valid: Received) -> None:
    error = expect_error(valid.without_header("X-Amz-Target"), "SignatureDoesNotMatch", 403)
    assert "\nx-amz-target:\n" in error.message


def test_wrong_service_in_the_credential_scope() -> None:
    request = sign("POST", QUEUE_URL, data=form({"Action": "ListQueues"}), service="sns")
    error = expect_error(request, "SignatureDoesNotMatch", 403)
    assert error.message == "Credential should be scoped to correct service: 'sqs'. "
    assert request.verify(verifier(service="sns")) == KEY_ID


def _with_credential(request: Received, change: Callable[[list[str]], list[str]]) -> Received:
    authorization = request.header("Authorization")
    head, _, rest = authorization.partition("Credential=")
    credential, _, tail = rest.partition(",")
    return request.with_header(
        "Authorization", f"{head}Credential={'/'.join(change(credential.split('/')))},{tail}"
    )


def test_credential_scope_date_must_be_the_request_date(valid: Received) -> None:
    request = _with_credential(valid, lambda parts: [parts[0], "20000101", *parts[2:]])
    error = expect_error(request, "SignatureDoesNotMatch", 403)
    stamp = valid.header("X-Amz-Date")
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'20000101' != '{stamp[:8]}', from '{stamp}'."
    )


def test_credential_scope_terminator(valid: Received) -> None:
    request = _with_credential(valid, lambda parts: [*parts[:4], "aws5_request"])
    error = expect_error(request, "SignatureDoesNotMatch", 403)
    assert (
        error.message
        == "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
    )


@pytest.mark.parametrize(
    "parts", [["AKIDEXAMPLE"], ["AKIDEXAMPLE", "20240101", "us-east-1", "sqs"], ["a"] * 6]
)
def test_credential_with_the_wrong_number_of_elements(valid: Received, parts: list[str]) -> None:
    request = _with_credential(valid, lambda _: parts)
    error = expect_error(request, "IncompleteSignature", 400)
    assert error.message.startswith("Credential must have exactly 5 slash-delimited elements")


def test_unknown_key_in_the_credential_takes_precedence_over_scope(valid: Received) -> None:
    request = _with_credential(valid, lambda parts: ["NOPE", "19990101", "mars", "s3", "x"])
    expect_error(request, "InvalidClientTokenId", 403)


# -- the clock -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (0, True),
        (899, True),
        (900, True),
        (901, False),
        (-899, True),
        (-900, True),
        (-901, False),
        (-86400, False),
    ],
)
def test_skew_both_ways(valid: Received, offset: float, ok: bool) -> None:
    """The server's clock ``offset`` seconds after the signing time; SQS allows 15 minutes."""
    signed = valid.signed_at()
    check = verifier(clock=at(signed + offset))
    if ok:
        assert valid.verify(check) == KEY_ID
        return
    error = expect_error(valid, "SignatureDoesNotMatch", 403, check)
    stamp = valid.header("X-Amz-Date")
    now = datetime.fromtimestamp(signed + offset, UTC)
    if offset > 0:
        limit = datetime.fromtimestamp(signed + offset - 900, UTC)
        assert error.message == (
            f"Signature expired: {stamp} is now earlier than {limit:%Y%m%dT%H%M%SZ} "
            f"({now:%Y%m%dT%H%M%SZ} - 15 min.)"
        )
    else:
        limit = datetime.fromtimestamp(signed + offset + 900, UTC)
        assert error.message == (
            f"Signature not yet current: {stamp} is still later than {limit:%Y%m%dT%H%M%SZ} "
            f"({now:%Y%m%dT%H%M%SZ} + 15 min.)"
        )


def test_a_configured_skew(valid: Received) -> None:
    signed = valid.signed_at()
    assert valid.verify(verifier(max_skew_seconds=60, clock=at(signed + 60))) == KEY_ID
    error = expect_error(
        valid, "SignatureDoesNotMatch", 403, verifier(max_skew_seconds=60, clock=at(signed + 61))
    )
    assert error.message.endswith(" - 1 min.)")
    error = expect_error(
        valid, "SignatureDoesNotMatch", 403, verifier(max_skew_seconds=2.5, clock=at(signed + 3))
    )
    assert error.message.endswith(" - 2.5 sec.)")


def test_time_is_checked_before_the_signature(valid: Received) -> None:
    stale = valid.with_header("Authorization", valid.header("Authorization")[:-4] + "beef")
    error = expect_error(stale, "SignatureDoesNotMatch", 403, verifier(clock=at(valid.signed_at() + 3600)))
    assert error.message.startswith("Signature expired: ")


# -- presigned URLs ------------------------------------------------------------------------------


def presigned_receive(expires: int = 300, **kwargs: Any) -> Received:
    params = "Action=ReceiveMessage&Version=2012-11-05&MaxNumberOfMessages=10&AttributeName.1=All"
    return presign("GET", f"{QUEUE_URL}?{params}", expires=expires, **kwargs)


def test_presigned_url_valid() -> None:
    request = presigned_receive()
    assert "X-Amz-Signature=" in request.query and "Authorization" not in dict(request.headers)
    assert request.verify(verifier()) == KEY_ID


def test_presigned_post_form_moves_into_the_query() -> None:
    request = presign("POST", QUEUE_URL, data=form({"Action": "SendMessage", "MessageBody": UNICODE_BODY}))
    assert request.body == b"" and "MessageBody=" in request.query
    assert request.verify(verifier()) == KEY_ID


@pytest.mark.parametrize(
    ("expires", "offset", "ok"),
    [(300, 300, True), (300, 301, False), (3600, 3000, True), (60, -900, True), (60, -901, False)],
)
def test_presigned_url_lifetime(expires: int, offset: float, ok: bool) -> None:
    request = presigned_receive(expires)
    check = verifier(clock=at(request.signed_at() + offset))
    if ok:
        assert request.verify(check) == KEY_ID
        return
    error = expect_error(request, "SignatureDoesNotMatch", 403, check)
    if offset > 0:
        assert error.message.startswith("Signature expired: ")
        assert error.message.endswith(
            f" - {expires // 60} min.)" if expires % 60 == 0 else f" - {expires} sec.)"
        )
    else:
        assert error.message.startswith("Signature not yet current: ")


def _query_with(query: str, name: str, value: str | None) -> str:
    pairs = [pair for pair in query.split("&") if not pair.startswith(name + "=")]
    if value is not None:
        pairs.append(f"{name}={value}")
    return "&".join(pairs)


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("MaxNumberOfMessages", "1", "SignatureDoesNotMatch"),
        ("Action", "PurgeQueue", "SignatureDoesNotMatch"),
        ("Extra", "1", "SignatureDoesNotMatch"),
        ("X-Amz-Expires", "604800", "SignatureDoesNotMatch"),
        ("X-Amz-Signature", "0" * 64, "SignatureDoesNotMatch"),
        ("X-Amz-Expires", "604801", "IncompleteSignature"),
        ("X-Amz-Expires", "-1", "IncompleteSignature"),
        ("X-Amz-Expires", "9" * 5000, "IncompleteSignature"),
        ("X-Amz-Expires", None, "IncompleteSignature"),
        ("X-Amz-SignedHeaders", None, "IncompleteSignature"),
        ("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256", "IncompleteSignature"),
        ("X-Amz-Date", "2024-01-01T00:00:00Z", "IncompleteSignature"),
        ("X-Amz-SignedHeaders", "x-amz-date", "IncompleteSignature"),
        ("X-Amz-Credential", "NOPE%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request", "InvalidClientTokenId"),
    ],
)
def test_presigned_url_tampered(name: str, value: str | None, code: str) -> None:
    request = presigned_receive()
    tampered = replace(request, query=_query_with(request.query, name, value))
    expect_error(tampered, code, 403 if code != "IncompleteSignature" else 400)


def test_presigned_url_with_a_repeated_auth_parameter() -> None:
    request = presigned_receive()
    error = expect_error(
        replace(request, query=request.query + "&X-Amz-Date=20240101T000000Z"), "IncompleteSignature", 400
    )
    assert error.message == "The query string has more than one 'X-Amz-Date' parameter."


def test_presigned_and_header_auth_together(valid: Received) -> None:
    request = presigned_receive()
    both = replace(request, headers=(*request.headers, ("Authorization", valid.header("Authorization"))))
    error = expect_error(both, "IncompleteSignature", 400)
    assert error.message.startswith("Found both 'X-Amz-Algorithm'")


# -- malformed Authorization headers -------------------------------------------------------------


def _authorization(valid: Received, **parts: str | None) -> Received:
    """``valid`` with its Authorization rebuilt from parts (None drops one)."""
    current = dict(
        part.strip().split("=", 1)
        for part in valid.header("Authorization").removeprefix("AWS4-HMAC-SHA256 ").split(",")
    )
    for name, value in parts.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    text = ", ".join(f"{name}={value}" for name, value in current.items())
    return valid.with_header("Authorization", f"AWS4-HMAC-SHA256 {text}")


def test_missing_authorization_parameters(valid: Received) -> None:
    error = expect_error(_authorization(valid, Credential=None), "IncompleteSignature", 400)
    assert error.message == "Authorization header requires 'Credential' parameter."
    error = expect_error(
        _authorization(valid, Signature=None, SignedHeaders=None).without_header("X-Amz-Date"),
        "IncompleteSignature",
        400,
    )
    assert error.message == (
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
        "parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


@pytest.mark.parametrize(
    ("authorization", "starts"),
    [
        (
            "AWS AKIDEXAMPLE:c2lnbmF0dXJl",
            "The Authorization header must use the 'AWS4-HMAC-SHA256' algorithm",
        ),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "The Authorization header must use"),
        ("Bearer eyJhbGciOi", "The Authorization header must use"),
        ("AWS4-HMAC-SHA256", "Authorization header requires 'Credential' parameter."),
        (
            "AWS4-HMAC-SHA256 Credential",
            "Component 1 of the Authorization header is not a valid key=value pair",
        ),
        (
            f"AWS4-HMAC-SHA256 {SECRET}",
            "Component 1 of the Authorization header is not a valid key=value pair",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a, Credential=b",
            "The Authorization header has more than one 'Credential'",
        ),
        ("AWS4-HMAC-SHA256 " + "x=1," * 3000, "The Authorization header is longer than 8192 characters."),
        ("AWS4-HMAC-SHA256 CREDENTIAL=a, SIGNATURE=b, SIGNEDHEADERS=host", "Authorization header requires"),
    ],
)
def test_malformed_authorization(valid: Received, authorization: str, starts: str) -> None:
    error = expect_error(valid.with_header("Authorization", authorization), "IncompleteSignature", 400)
    assert error.message.startswith(starts), error.message


@pytest.mark.parametrize(
    ("signed_headers", "message"),
    [
        ("content-type;x-amz-date", "'Host' must be a 'SignedHeader' in the AWS Authorization."),
        ("Host;x-amz-date", "SignedHeaders must be a ';'-separated list of lowercase header names."),
        ("host;;x-amz-date", "SignedHeaders must be a ';'-separated list of lowercase header names."),
        ("host;x-amz-date;host", "SignedHeaders names a header more than once."),
        (";".join(["host", *(f"x-h{i}" for i in range(200))]), "SignedHeaders names more than 128 headers."),
        ("host;" + "a" * 300, "SignedHeaders must be a ';'-separated list of lowercase header names."),
    ],
)
def test_malformed_signed_headers(valid: Received, signed_headers: str, message: str) -> None:
    error = expect_error(_authorization(valid, SignedHeaders=signed_headers), "IncompleteSignature", 400)
    assert error.message == message


def test_many_repeats_of_a_signed_header_are_refused(valid: Received) -> None:
    request = _authorization(valid, SignedHeaders="content-type;host;x-amz-date;x-amz-target;x-flood")
    request = replace(request, headers=(*request.headers, *(("X-Flood", "1") for _ in range(2000))))
    error = expect_error(request, "IncompleteSignature", 400)
    assert error.message == "The signed headers repeat more than 1024 times in all."


@pytest.mark.parametrize(
    "stamp", ["2024-01-01T00:00:00Z", "20241301T000000Z", "20240101T000000", "x" * 500, ""]
)
def test_malformed_x_amz_date(valid: Received, stamp: str) -> None:
    error = expect_error(valid.with_header("X-Amz-Date", stamp), "IncompleteSignature", 400)
    assert error.message.startswith("Date must be in ISO-8601 'basic format'. Got ")
    assert "x" * 100 not in error.message


def test_two_authorization_headers_or_dates(valid: Received) -> None:
    doubled = replace(valid, headers=(*valid.headers, ("authorization", valid.header("Authorization"))))
    assert (
        expect_error(doubled, "IncompleteSignature", 400).message
        == "The request has more than one Authorization header."
    )
    doubled = replace(valid, headers=(*valid.headers, ("x-amz-date", valid.header("X-Amz-Date"))))
    assert (
        expect_error(doubled, "IncompleteSignature", 400).message
        == "The request has more than one date header."
    )


def test_bad_request_lines(valid: Received) -> None:
    expect_error(replace(valid, method="GET /x"), "IncompleteSignature", 400)
    for path in ["relative", "/with space", "/frag#ment", "/ctl\x00", "/é"]:
        expect_error(replace(valid, path=path), "IncompleteSignature", 400)


# -- parse_access_keys and AccessKey --------------------------------------------------------------


def test_parse_access_keys() -> None:
    keys = parse_access_keys(["AKIDEXAMPLE:wJalr/K7+x", " second:s:with:colons , third:x ", ""])
    assert keys == {
        "AKIDEXAMPLE": AccessKey("AKIDEXAMPLE", "wJalr/K7+x"),
        "second": AccessKey("second", "s:with:colons"),
        "third": AccessKey("third", "x"),
    }
    assert parse_access_keys([]) == {}
    assert parse_access_keys(["a:b,c:d"]) == parse_access_keys(["a:b", "c:d"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            ["good:one", "JUSTASECRETWITHOUTID"],
            "access key #2 is not of the form ACCESS_KEY_ID:SECRET_ACCESS_KEY",
        ),
        (["wJalr/K7+x:AKIDEXAMPLE"], "access key #1: the access key id (before the first ':') must be"),
        ([":secretonly"], "access key #1: the access key id (before the first ':') must be"),
        (["AKID:"], "access key #1 ('AKID'): the secret access key must be 1-1024 printable ASCII"),
        (["AKID:has space"], "access key #1 ('AKID'): the secret access key must be"),
        (["AKID:nön-ascii"], "access key #1 ('AKID'): the secret access key must be"),
        (["AKID:one,AKID:two"], "access key #2: access key id 'AKID' is given more than once"),
    ],
)
def test_parse_access_keys_errors_name_the_item_never_the_secret(values: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_access_keys(values)
    text = str(caught.value)
    assert text.startswith(message), text
    for secret in (
        "JUSTASECRETWITHOUTID",
        "wJalr/K7+x",
        "secretonly",
        "has space",
        "nön-ascii",
        "one",
        "two",
    ):
        assert secret not in text


def test_parse_access_keys_source_name() -> None:
    with pytest.raises(ValueError, match=r"^QWORKER_SERVE_ACCESS_KEYS #1 is not of the form"):
        parse_access_keys(["nocolon"], source="QWORKER_SERVE_ACCESS_KEYS")


def test_access_key_repr_hides_the_secret() -> None:
    key = AccessKey(KEY_ID, SECRET)
    assert SECRET not in repr(key) and SECRET not in str(key)
    assert repr(key) == "AccessKey(access_key_id='AKIDEXAMPLE')"
    with pytest.raises(ValueError) as caught:
        AccessKey(KEY_ID, "bad secret")
    assert "bad secret" not in str(caught.value)
    with pytest.raises(ValueError):
        AccessKey("id/with/slash", SECRET)


def test_verifier_arguments() -> None:
    with pytest.raises(ValueError, match="must be an AccessKey with that access key id"):
        SigV4Verifier({"a": AccessKey("b", "x")})
    with pytest.raises(ValueError, match="region"):
        SigV4Verifier(KEYS, region="us east 1")
    with pytest.raises(ValueError, match="max_skew_seconds"):
        SigV4Verifier(KEYS, max_skew_seconds=0)
    with pytest.raises(ValueError, match="service"):
        SigV4Verifier(KEYS, service="SQS!")


# -- properties ----------------------------------------------------------------------------------


_header_names = st.one_of(
    st.sampled_from(
        [
            "Authorization",
            "authorization",
            "X-Amz-Date",
            "x-amz-date",
            "Date",
            "Host",
            "X-Amz-Content-Sha256",
            "X-Amz-Security-Token",
        ]
    ),
    st.text(max_size=20),
)
_credential = st.builds(
    lambda parts: "/".join(parts),
    st.lists(
        st.one_of(
            st.sampled_from([KEY_ID, OTHER_ID, "20240101", "us-east-1", "sqs", "aws4_request"]),
            st.text(max_size=12),
        ),
        max_size=7,
    ),
)
_authorization_values = st.builds(
    lambda scheme, parts, sep: scheme + " " + sep.join(parts),
    st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ", "AWS", "", "aws4-hmac-sha256"]),
    st.lists(
        st.one_of(
            st.builds(lambda c: f"Credential={c}", _credential),
            st.builds(lambda h: f"SignedHeaders={h}", st.text(max_size=40) | st.just("host;x-amz-date")),
            st.builds(
                lambda s: f"Signature={s}",
                st.text(alphabet="0123456789abcdef", min_size=60, max_size=66) | st.text(max_size=10),
            ),
            st.text(max_size=20),
        ),
        max_size=6,
    ),
    st.sampled_from([", ", ",", " ,", ",,"]),
)
_header_values = st.one_of(
    st.text(max_size=60),
    _authorization_values,
    st.sampled_from(
        ["20240101T000000Z", "Mon, 01 Jan 2024 00:00:00 GMT", "UNSIGNED-PAYLOAD", "127.0.0.1:9324"]
    ),
)
_queries = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda extra: (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fsqs"
            "%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="
            + "0" * 64
            + extra
        ),
        st.text(max_size=30),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.one_of(st.sampled_from(["POST", "GET"]), st.text(max_size=10)),
    path=st.one_of(st.sampled_from(["/", QUEUE_PATH]), st.text(max_size=40)),
    query=_queries,
    headers=st.lists(st.tuples(_header_names, _header_values), max_size=10),
    body=st.binary(max_size=200),
    as_bytes=st.booleans(),
)
def test_garbage_raises_auth_error_only(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, as_bytes: bool
) -> None:
    check = SigV4Verifier(KEYS, clock=at(datetime(2024, 1, 1, tzinfo=UTC).timestamp()))
    if as_bytes:
        # What an ASGI server hands over: bytes.
        def b(text: str) -> bytes:
            return text.encode("utf-8", "surrogatepass")

        with pytest.raises(AuthError):
            check.verify(b(method), b(path), b(query), [(b(k), b(v)) for k, v in headers], body)
    else:
        with pytest.raises(AuthError):
            check.verify(method, path, query, headers, body)


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda name: not name.startswith("X-Amz-")),
        st.text(max_size=20),
        max_size=6,
    ),
    segments=st.lists(st.text(min_size=1, max_size=8), max_size=3),
    safe=st.sampled_from(["", "/", "!$&'()*+,;=:@", "~"]),
    presigned=st.booleans(),
)
def test_any_botocore_signed_query_and_path_verifies(
    params: dict[str, str], segments: list[str], safe: str, presigned: bool
) -> None:
    """Whatever the query parameters and path segments (encoded with more or fewer characters left
    bare), a request botocore signed verifies, header-signed or presigned."""
    path = "/" + "/".join(quote(segment, safe=safe) for segment in segments)
    url = ENDPOINT + path
    if presigned:
        if params:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
        request = presign("GET", url)
    else:
        request = sign("GET", url, params=params)
    assert request.verify(verifier()) == KEY_ID


@settings(max_examples=100, deadline=None)
@given(
    extra=st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,15}", fullmatch=True).filter(
                lambda n: (
                    n.lower() not in {"authorization", "x-amz-date", "date", "x-amz-content-sha256"}
                    and not n.lower().startswith(
                        ("content-type", "host", "x-amz-target", "x-amzn-query-mode")
                    )
                )
            ),
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        ),
        max_size=8,
    )
)
def test_unsigned_extra_headers_never_matter(extra: list[tuple[str, str]]) -> None:
    request = sign(
        "POST",
        QUEUE_URL,
        data=json.dumps({"QueueUrl": QUEUE_URL}),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.GetQueueAttributes",
        },
    )
    assert replace(request, headers=(*request.headers, *extra)).verify(verifier()) == KEY_ID


def _splice(data: st.DataObject, text: str) -> str:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 12)))
    return text[:start] + data.draw(st.text(max_size=12)) + text[end:]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), presigned=st.booleans())
def test_mutated_requests_raise_auth_error_or_still_verify(data: st.DataObject, presigned: bool) -> None:
    """A valid request with a few pieces spliced at random: an AuthError or (a change that does
    not matter, such as in an unsigned header) the key id; never anything else."""
    if presigned:
        request = presigned_receive()
    else:
        request = sign("POST", QUEUE_URL, data=form({"Action": "SendMessage", "MessageBody": UNICODE_BODY}))
    check = verifier(clock=at(request.signed_at()))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["header", "header", "query", "path", "method", "body"]))
        if where == "header":
            index = data.draw(st.integers(0, len(request.headers) - 1))
            headers = list(request.headers)
            name, value = headers[index]
            headers[index] = (
                (name, _splice(data, value)) if data.draw(st.booleans()) else (_splice(data, name), value)
            )
            request = replace(request, headers=tuple(headers))
        elif where == "body":
            request = replace(request, body=data.draw(st.binary(max_size=40)))
        else:
            request = replace(request, **{where: _splice(data, getattr(request, where))})
    try:
        assert request.verify(check) == KEY_ID
    except AuthError:
        pass


# -- on the wire ---------------------------------------------------------------------------------


class _CaptureHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _CaptureServer

    def _capture(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        self.server.captured.append(Received(self.command, path, query, tuple(self.headers.items()), body))
        answer = b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"captured by the test"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _capture

    def log_message(self, *_: Any) -> None:
        pass


class _CaptureServer(ThreadingHTTPServer):
    captured: list[Received]


@pytest.fixture
def capture_server() -> Iterator[_CaptureServer]:
    """A loopback HTTP server that records each request as received and answers with an error."""
    server = _CaptureServer(("127.0.0.1", 0), _CaptureHandler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _endpoint(server: _CaptureServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_boto3_over_the_wire(capture_server: _CaptureServer) -> None:
    endpoint = _endpoint(capture_server)
    client = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=OTHER_ID,
        aws_secret_access_key=OTHER_SECRET,
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    call_all(client, endpoint + QUEUE_PATH)
    request = presign("GET", endpoint + QUEUE_PATH + "?Action=ReceiveMessage&Version=2012-11-05")
    with pytest.raises(urllib.request.HTTPError):
        urllib.request.urlopen(f"{endpoint}{request.path}?{request.query}", timeout=10)
    assert len(capture_server.captured) == 8
    for received in capture_server.captured:
        assert received.header("Host") == f"127.0.0.1:{capture_server.server_address[1]}"
        assert received.verify(verifier()) in (OTHER_ID, KEY_ID)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_over_the_wire(capture_server: _CaptureServer, tmp_path: Path) -> None:
    endpoint = _endpoint(capture_server)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [
            "aws",
            "sqs",
            "send-message",
            "--endpoint-url",
            endpoint,
            "--queue-url",
            endpoint + QUEUE_PATH,
            "--message-body",
            UNICODE_BODY,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not capture_server.captured:
        pytest.skip(f"the AWS CLI did not run: {result.stderr.strip()[-300:]}")
    for received in capture_server.captured:
        assert received.verify(verifier()) == KEY_ID


JS_PACKAGES = ["@aws-sdk/client-sqs@3", "@smithy/signature-v4@5", "@aws-crypto/sha256-js@5"]


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the AWS SDK for JavaScript v3 installed by npm, or a skip saying why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the AWS SDK for JavaScript v3 tests")
    root = tmp_path_factory.mktemp("js-sdk")
    try:
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *JS_PACKAGES],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(
            "npm could not install the AWS SDK for JavaScript v3 within 240 s (registry unreachable?)"
        )
    if result.returncode != 0:
        pytest.skip(f"npm could not install the AWS SDK for JavaScript v3: {result.stderr.strip()[-500:]}")
    shutil.copy(Path(__file__).with_name("sigv4_js_client.cjs"), root)
    return root


@pytest.mark.timeout(300)
def test_aws_sdk_for_javascript_v3(js_sdk: Path, capture_server: _CaptureServer) -> None:
    """The SQS client (JSON protocol) and the bare SignatureV4 signer (query protocol POST and GET
    to the queue path, a presigned URL), from Node over real HTTP."""
    endpoint = _endpoint(capture_server)
    result = subprocess.run(
        ["node", "sigv4_js_client.cjs", endpoint, OTHER_ID, OTHER_SECRET, "ap-northeast-1"],
        cwd=js_sdk,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    captured = capture_server.captured
    assert len(captured) == 8, [(r.method, r.path) for r in captured]
    kinds = [(r.method, r.path, "X-Amz-Signature=" in r.query) for r in captured]
    assert kinds[:5] == [("POST", "/", False)] * 5
    assert kinds[5:] == [("POST", QUEUE_PATH, False), ("GET", QUEUE_PATH, False), ("GET", QUEUE_PATH, True)]
    for received in captured:
        assert received.verify(verifier(region="ap-northeast-1")) == OTHER_ID
    assert captured[0].header("X-Amz-Target") == "AmazonSQS.SendMessage"
    # the message body arrived as UTF-8 JSON and was part of what was signed
    assert "😀".encode() in captured[0].body or "\\ud83d" in captured[0].body.decode()
    # the client sends X-Amz-Content-Sha256, so a changed body fails that check
    tampered = replace(captured[0], body=captured[0].body.replace(b"MessageBody", b"MessageBodx"))
    error = expect_error(tampered, "SignatureDoesNotMatch", 403)
    assert error.message == "The provided 'x-amz-content-sha256' header does not match what was computed."
    error = expect_error(tampered.without_header("X-Amz-Content-Sha256"), "SignatureDoesNotMatch", 403)
    assert error.message.startswith(MISMATCH_PREFIX)

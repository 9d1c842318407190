"""``qworker serve`` with access keys: every request must carry a valid SigV4 signature (the
verification itself is :mod:`qworker.serve.sigv4`'s, tested in ``test_sigv4.py``; here, that the
server applies it to both protocols and both forms, and answers refusals in SQS's shapes)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qworker.testing.serve import ServeProcess

from .conftest import make_client

pytest.importorskip("qworker.serve.sigv4")

KEY_ID, SECRET = "AKIDQWORKERTEST1", "s3cr3t/with+chars"
OTHER_ID, OTHER_SECRET = "AKIDQWORKERTEST2", "another-secret"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("auth")
    server = ServeProcess(
        f"sqlite:///{folder}/q.db",
        "--access-key",
        f"{KEY_ID}:{SECRET}",
        "--access-key",
        f"{OTHER_ID}:{OTHER_SECRET}",
        log_dir=folder,
    ).start()
    yield server
    server.stop()


def client_for(server: ServeProcess, key_id: str, secret: str, protocol: str = "json") -> Any:
    credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    return make_client(server.url, protocol, credentials)


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_signed_requests_with_a_known_key_are_served(secured: ServeProcess, protocol: str) -> None:
    client = client_for(secured, KEY_ID, SECRET, protocol)
    url = client.create_queue(QueueName=f"auth-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="signed")
    other = client_for(secured, OTHER_ID, OTHER_SECRET, protocol)
    (message,) = other.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "signed"


@pytest.mark.parametrize("protocol", ["json", "query"])
@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [(KEY_ID, "wrong", "SignatureDoesNotMatch"), ("AKIDUNKNOWN", SECRET, "InvalidClientTokenId")],
)
def test_bad_credentials_are_refused(
    secured: ServeProcess, protocol: str, key_id: str, secret: str, code: str
) -> None:
    client = client_for(secured, key_id, secret, protocol)
    with pytest.raises(ClientError) as info:
        client.list_queues()
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_requests_are_refused(secured: ServeProcess) -> None:
    request = urllib.request.Request(f"{secured.url}/?Action=ListQueues")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in info.value.read()


def test_presigned_query_urls_are_accepted(secured: ServeProcess, tmp_path: Path) -> None:
    client = client_for(secured, KEY_ID, SECRET, "query")
    name = f"pre-{uuid.uuid4().hex[:8]}"
    client.create_queue(QueueName=name)
    url = client.generate_presigned_url("get_queue_url", Params={"QueueName": name}, ExpiresIn=60)
    # botocore presigns a query action for its HTTP method, POST (a GET would not match, on SQS too)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=5) as response:
        assert response.status == 200
        assert f"/000000000000/{name}</QueueUrl>".encode() in response.read()


def test_keys_from_the_environment(tmp_path: Path) -> None:
    keys = f"{KEY_ID}:{SECRET},{OTHER_ID}:{OTHER_SECRET}"
    env = {"QWORKER_SERVE_ACCESS_KEYS": keys}
    with ServeProcess(f"sqlite:///{tmp_path}/q.db", env=env, log_dir=tmp_path) as server:
        for key_id, secret in ((KEY_ID, SECRET), (OTHER_ID, OTHER_SECRET)):
            assert "QueueUrls" not in client_for(server, key_id, secret).list_queues()
        with pytest.raises(ClientError):
            client_for(server, KEY_ID, OTHER_SECRET).list_queues()


def test_probes_need_no_signature(secured: ServeProcess) -> None:
    with urllib.request.urlopen(f"{secured.url}/readyz", timeout=5) as response:
        assert response.status == 200


def test_a_public_address_with_keys_needs_no_allow_anonymous(tmp_path: Path) -> None:
    """Only the refusal path is run here (nothing listens beyond loopback in tests): with keys the
    non-loopback check passes and start-up goes on to the backend, which is unreachable."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "qworker", "serve", "--host", "0.0.0.0", "--access-key", f"{KEY_ID}:{SECRET}",
         "--backend", "redis://127.0.0.1:1/0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr

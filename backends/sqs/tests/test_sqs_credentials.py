"""Credentials: the standard chain only, refusals fail fast and clearly, secrets never printed.

moto checks signatures and IAM policies once its IAM authentication is switched on
(``moto.core.authorization.enable_iam_authentication``), which these tests do for their own
duration only: unknown keys are then refused as AWS refuses them (``InvalidClientTokenId``) and
a user without SQS permissions is denied (``AccessDenied``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication

from qworker.backend import QueueSpec
from qworker.errors import BackendUnavailable, ExitCode
from qworker_sqs import SQSBackend
from qworker_sqs.testing import MotoSQSServer, clear_aws_environment
from tests.runtime.conftest import WorkerProcess

FAKE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def iam_enforced() -> Iterator[None]:
    with enable_iam_authentication():
        yield


@pytest.fixture
def unknown_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


async def test_no_credentials_fail_at_connect(
    moto_server: MotoSQSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """RELIABILITY §3.4: with nothing in the chain, connect fails at once and names the chain."""
    clear_aws_environment(monkeypatch, tmp_path)
    backend = SQSBackend(moto_server.url())
    with pytest.raises(BackendUnavailable, match="No AWS credentials found") as caught:
        await backend.connect()
    assert caught.value.exit_code == ExitCode.BACKEND_UNREACHABLE
    await backend.close()


async def test_refused_credentials_fail_at_connect_without_the_secret(
    moto_server: MotoSQSServer, unknown_credentials: None, iam_enforced: None
) -> None:
    """RELIABILITY §3.4: keys AWS does not know fail fast (exit 3) with what to check; the error
    text carries neither the key id nor the secret."""
    backend = SQSBackend(moto_server.url())
    with pytest.raises(BackendUnavailable, match="refused the credentials") as caught:
        await backend.connect()
    text = str(caught.value)
    assert "InvalidClientTokenId" in text and "credential chain" in text
    assert FAKE_SECRET not in text and FAKE_KEY_ID not in text
    await backend.close()


async def test_access_denied_is_clear(
    moto_server: MotoSQSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws_env: None
) -> None:
    """Valid keys whose policy allows nothing: connect works (listing queues is not needed), the
    first queue operation fails with BackendUnavailable naming the denied action."""
    async with SQSBackend(moto_server.url()) as admin:
        await admin.create_queue(QueueSpec("denied-q"))
    iam = boto3.client("iam", endpoint_url=moto_server.endpoint_url, region_name="us-east-1")
    user = f"nobody-{tmp_path.name[-12:]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with enable_iam_authentication():
        async with SQSBackend(moto_server.url()) as backend:
            with pytest.raises(BackendUnavailable, match="access denied") as caught:
                await backend.get_queue("denied-q")
    assert "sqs:GetQueueUrl" in str(caught.value)
    assert key["SecretAccessKey"] not in str(caught.value)


def test_worker_exits_3_on_refused_credentials_and_prints_no_secret(
    moto_server: MotoSQSServer, unknown_credentials: None, iam_enforced: None
) -> None:
    """DESIGN.md exit codes: `qworker run --backend sqs://` with refused credentials exits 3 with a
    clear message; neither the key id nor the secret appears in its output (RELIABILITY T24)."""
    worker = WorkerProcess(
        ["apps.ledger:async_handler", "--queue", "orders", "--backend", moto_server.url(max_attempts=1)]
    )
    try:
        code, stderr = worker.wait(timeout=50)
    finally:
        worker.kill()
    assert code == ExitCode.BACKEND_UNREACHABLE, stderr[-2000:]
    assert "refused the credentials" in stderr
    assert FAKE_SECRET not in stderr and FAKE_KEY_ID not in stderr
    assert "Traceback" not in stderr

"""The AWS CLI (``aws sqs ... --endpoint-url``) against ``qworker serve``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from qworker.testing.serve import ServeProcess


def aws_cli() -> str:
    found = Path(sys.executable).parent / "aws"
    if found.exists():
        return str(found)
    on_path = shutil.which("aws")
    if on_path is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli: it is in the dev extra)")
    return on_path


def aws(server: ServeProcess, tmp_path: Path, *args: str) -> Any:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [aws_cli(), "sqs", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_aws_cli_round_trip(server: ServeProcess, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    url = aws(server, tmp_path, "create-queue", "--queue-name", name)["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    sent = aws(
        server,
        tmp_path,
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "from the aws cli",
        "--message-attributes",
        '{"color": {"DataType": "String", "StringValue": "blue"}}',
    )
    received = aws(
        server,
        tmp_path,
        "receive-message",
        "--queue-url",
        url,
        "--message-attribute-names",
        "All",
        "--wait-time-seconds",
        "2",
    )
    (message,) = received["Messages"]
    assert (message["MessageId"], message["Body"]) == (sent["MessageId"], "from the aws cli")
    assert message["MessageAttributes"]["color"]["StringValue"] == "blue"
    aws(server, tmp_path, "delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    attrs = aws(server, tmp_path, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert url in aws(server, tmp_path, "list-queues", "--queue-name-prefix", "cli-")["QueueUrls"]
    aws(server, tmp_path, "delete-queue", "--queue-url", url)

"""The API and qworker's own commands see the same queues: a boto3 producer's messages are
consumed by ``qworker run`` on the same backend, ``qworker send`` messages are received through
the API, and ``qworker queue stats`` agrees with GetQueueAttributes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

from qworker.testing.serve import ServeProcess


def qworker(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qworker", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def test_boto3_producer_qworker_run_consumer(sqs: Any, server: ServeProcess, tmp_path: Path) -> None:
    name = f"run-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": str(i),
                "MessageBody": json.dumps({"n": i}),
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "test"}},
            }
            for i in range(5)
        ],
    )
    out = tmp_path / "seen.jsonl"
    (tmp_path / "handler.py").write_text(
        textwrap.dedent(
            f"""
            import json

            def handler(event, context):
                with open({str(out)!r}, "a") as f:
                    for record in event["Records"]:
                        kind = record["messageAttributes"]["kind"]["stringValue"]
                        f.write(json.dumps([record["body"], kind, record["eventSourceARN"]]) + "\\n")
            """
        )
    )
    done = qworker(
        "run",
        "handler:handler",
        "--queue",
        name,
        "--backend",
        server.backend_url,
        "--until-empty",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(json.loads(body)["n"] for body, _, _ in seen) == list(range(5))
    assert {(kind, arn) for _, kind, arn in seen} == {("test", f"arn:aws:sqs:us-east-1:000000000000:{name}")}
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_qworker_send_is_received_through_the_api(sqs: Any, server: ServeProcess) -> None:
    name = f"send-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sent = qworker(
        "send",
        "--queue",
        name,
        "--backend",
        server.backend_url,
        "--attribute",
        "n=Number:7",
        "hello from the cli",
    )
    assert sent.returncode == 0, sent.stderr
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=2)[
        "Messages"
    ]
    assert message["Body"] == "hello from the cli"
    assert message["MessageId"] == sent.stdout.strip()
    assert message["MessageAttributes"] == {"n": {"DataType": "Number", "StringValue": "7"}}


def test_queue_stats_agrees_with_get_queue_attributes(sqs: Any, server: ServeProcess) -> None:
    name = f"stats-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(4)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=300)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    stats = qworker("queue", "stats", name, "--backend", server.backend_url)
    assert stats.returncode == 0, stats.stderr
    cli = json.loads(stats.stdout)
    api = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for key in (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "VisibilityTimeout",
        "QueueArn",
        "MessageRetentionPeriod",
    ):
        assert cli[key] == api[key], key
    assert (api["ApproximateNumberOfMessages"], api["ApproximateNumberOfMessagesNotVisible"]) == ("3", "1")
    assert api["ApproximateNumberOfMessagesDelayed"] == "1"


def test_queues_created_by_the_cli_are_listed_by_the_api(sqs: Any, server: ServeProcess) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}.fifo"
    made = qworker(
        "queue", "create", name, "--fifo", "--content-based-dedup", "--backend", server.backend_url
    )
    assert made.returncode == 0, made.stderr
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue", "ContentBasedDeduplication"])
    assert attrs["Attributes"] == {"FifoQueue": "true", "ContentBasedDeduplication": "true"}

"""``qworker serve`` as a command: refusals at start-up, probes and metrics, several workers."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from qworker.testing.serve import ServeProcess, free_port

from .conftest import make_client


def run_qworker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qworker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_public_address_without_keys_needs_allow_anonymous(tmp_path: Path) -> None:
    done = run_qworker("serve", "--backend", f"sqlite:///{tmp_path}/q.db", "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --host 0.0.0.0 is reachable from other machines")
    assert "--allow-anonymous" in done.stderr


def test_unreachable_backend_exits_3() -> None:
    done = run_qworker("serve", "--backend", f"redis://127.0.0.1:{free_port()}/0", "--port", str(free_port()))
    assert done.returncode == 3, done.stderr
    assert "cannot reach" in done.stderr


def test_run_does_not_import_the_server() -> None:
    code = "import sys, qworker.cli; sys.exit('uvicorn' in sys.modules or 'qworker.serve.app' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_probes_and_metrics(server: ServeProcess, sqs: Any) -> None:
    assert get(f"{server.url}/livez") == (200, "ok\n")
    assert get(f"{server.url}/readyz") == (200, "ready\n")
    url = sqs.create_queue(QueueName=f"m-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    status, text = get(f"{server.url}/metrics")
    assert status == 200
    assert 'qworker_serve_requests_total{action="SendMessage",status="200"}' in text
    assert 'qworker_serve_request_duration_seconds_count{action="SendMessage"}' in text


def test_several_workers_serve_the_same_queues(tmp_path: Path) -> None:
    with ServeProcess(f"sqlite:///{tmp_path}/q.db", "--workers", "2", log_dir=tmp_path) as server:
        clients = [make_client(server.url) for _ in range(4)]
        url = clients[0].create_queue(QueueName="shared")["QueueUrl"]
        for index, client in enumerate(clients):
            client.send_message(QueueUrl=url, MessageBody=f"m{index}")
        got = []
        for client in clients:
            got += [
                m["Body"]
                for m in client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            ]
        assert sorted(got) == ["m0", "m1", "m2", "m3"]
        move_tasks_are_seen_by_every_process(server)
        assert server.stop() == 0


def move_tasks_are_seen_by_every_process(server: ServeProcess) -> None:
    """A move task started through one process is listed through all (the backend's record store
    holds the records); each new client is a new connection, which lands on either process."""
    import json
    import time

    admin = make_client(server.url)
    dlq = admin.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = admin.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    admin.create_queue(QueueName="source", Attributes={"RedrivePolicy": policy})
    admin.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)
    time.sleep(0.2)
    for _ in range(6):
        (task,) = make_client(server.url).list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        assert task["Status"] in ("RUNNING", "COMPLETED")


@pytest.mark.slow
def test_a_lost_backend_is_a_503_and_readyz_says_so(tmp_path: Path) -> None:
    """Redis stops: requests get SQS's 503 ServiceUnavailable (SDKs retry those) and /readyz
    turns 503; Redis is back: both recover, without restarting the server."""
    from botocore.exceptions import ClientError

    from qworker_redis.testing import RedisServer

    redis = RedisServer().start()
    try:
        with ServeProcess(f"{redis.url}?socket_timeout=1", log_dir=tmp_path) as server:
            client = make_client(server.url)
            url = client.create_queue(QueueName="q")["QueueUrl"]
            redis.stop()
            with pytest.raises(ClientError) as info:
                client.send_message(QueueUrl=url, MessageBody="x")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert info.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert get(f"{server.url}/readyz")[0] == 503
            redis.start()  # empty: it keeps nothing on disk
            for _ in range(50):
                try:
                    client.create_queue(QueueName="q")
                    break
                except ClientError:
                    time.sleep(0.2)
            client.send_message(QueueUrl=url, MessageBody="y")
            assert get(f"{server.url}/readyz") == (200, "ready\n")
    finally:
        redis.stop()


def test_the_console_is_served_beside_the_api(server: ServeProcess, sqs: Any) -> None:
    sqs.create_queue(QueueName=f"shown-{uuid.uuid4().hex[:8]}")
    status, page = get(f"{server.url}/console/")
    assert status == 200 and "<html" in page.lower()
    assert get(f"{server.url}/console")[0] == 200  # redirected to /console/


def test_no_console(tmp_path: Path) -> None:
    with ServeProcess(f"sqlite:///{tmp_path}/q.db", "--no-console", log_dir=tmp_path) as server:
        assert get(f"{server.url}/console/")[0] == 404
        assert make_client(server.url).list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_console_with_several_workers(tmp_path: Path) -> None:
    with ServeProcess(
        f"sqlite:///{tmp_path}/q.db", "--workers", "2", "--console-read-only", log_dir=tmp_path
    ) as server:
        for _ in range(4):
            assert get(f"{server.url}/console/")[0] == 200

"""The client over ``sqs://`` (moto's SQS server in this process, reached over HTTP as AWS is),
and the ``AWSTraceHeader`` of an SQS message reaching the record of a qworker worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import qworker
from qworker.client import SendFailed
from qworker.errors import QueueDoesNotExist
from qworker.runtime.config import MappingConfig
from tests.runtime import conftest as runtime_fixtures
from tests.runtime.conftest import Ledger, run_worker_until_empty

ledger = runtime_fixtures.ledger
_restore_environment = runtime_fixtures._restore_environment
pytest.importorskip("qworker_sqs")
PRODUCER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Any]:
    from qworker_sqs.testing import MotoSQSServer

    server = MotoSQSServer().start()
    yield server
    server.stop()


@pytest.fixture
def sqs_url(moto_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    from qworker_sqs.testing import MotoSQSServer, clear_aws_environment

    clear_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", MotoSQSServer.REGION)
    return str(moto_server.url(max_attempts=2))


def unique(prefix: str, fifo: bool = False) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")


async def test_the_async_client_on_sqs(sqs_url: str) -> None:
    queue, fifo = unique("cl"), unique("cl", fifo=True)
    async with qworker.AsyncClient.from_url(sqs_url) as client:
        await client.create_queue(queue, VisibilityTimeout=45)
        await client.create_queue(fifo, ContentBasedDeduplication=True)
        assert await client.send(queue, {"a": 1}, attributes={"n": 2, "s": "x", "b": b"\x01"})
        result = await client.send_batch(
            queue, [{"body": f"m{i}"} for i in range(23)] + [{"body": "x", "delay": 901}]
        )
        assert len(result.successful) == 23 and [f.id for f in result.failed] == ["23"]
        ids = await asyncio.gather(*(client.send(queue, str(i)) for i in range(30)))
        assert len(set(ids)) == 30
        await client.send(fifo, "same", group_id="g")
        await client.send(fifo, "same", group_id="g")  # deduplicated by content
        assert (await client.stats(fifo))["ApproximateNumberOfMessages"] == "1"
        with pytest.raises(SendFailed) as missing:
            await client.send(fifo, "no group")
        assert missing.value.code == "MissingParameter"
        with pytest.raises(QueueDoesNotExist):
            await client.send(unique("missing"), "x")
        stats = await client.stats(queue)
        assert stats["VisibilityTimeout"] == "45"
        assert stats["ApproximateNumberOfMessages"] == "54"


def test_threads_on_one_sync_client_on_sqs(sqs_url: str) -> None:
    queue = unique("threads")
    with qworker.Client.from_url(sqs_url) as client:
        client.create_queue(queue)
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda i: client.send(queue, f"m{i}"), range(80)))
        assert len(set(ids)) == 80
        assert client.stats(queue)["ApproximateNumberOfMessages"] == "80"


async def test_an_sqs_trace_header_reaches_the_record(sqs_url: str, moto_server: Any, ledger: Ledger) -> None:
    """EVT-4 on the SQS backend: a producer's AWSTraceHeader (here boto3's SendMessage with
    MessageSystemAttributes) is a system attribute of the record the handler gets. (moto drops
    system attributes of SendMessageBatch, which the SQS backend uses, so the message is sent
    with SendMessage; the backend's batch request carrying it is checked in
    backends/sqs/tests/test_sqs_backend.py.)"""
    import boto3

    queue = unique("traced")
    async with qworker.AsyncClient.from_url(sqs_url) as client:
        await client.create_queue(queue)
    sqs = boto3.client("sqs", endpoint_url=moto_server.endpoint_url)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="traced",
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": PRODUCER}},
    )
    config = MappingConfig(handler="apps.tracing_app:sync_trace", queue=queue)
    assert await run_worker_until_empty(sqs_url, config) == 0
    [line] = ledger.lines()
    assert line["record_traces"] == [PRODUCER]
    assert line["var"].startswith("Root=1-") and PRODUCER not in line["var"]

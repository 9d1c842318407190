"""Fixtures for the SQS API server's tests: ``qworker serve`` as a real subprocess over SQLite
and over Redis (a private redis-server), and boto3 clients of both protocols pointed at it.

One server per module and backend (starting one takes about a second); every test makes
uniquely named queues, so the tests of a module share it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config

from qworker.testing.serve import ServeProcess

QUERY_MODEL_DIR = Path(__file__).parent / "data"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(scope="session")
def serve_redis() -> Iterator[Any]:
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def serve_backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('serve')}/queues.db"
    server = request.getfixturevalue("serve_redis")
    return f"{server.url}?prefix=s{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def server(serve_backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(serve_backend_url, log_dir=tmp_path_factory.mktemp("serve-log")).start()
    yield process
    process.stop()


def make_client(
    endpoint: str, protocol: str = "json", credentials: dict[str, str] | None = None, **config: Any
) -> Any:
    """A boto3 SQS client; ``protocol="query"`` loads the query-protocol model (data/README.md)."""
    session = botocore.session.get_session()
    if protocol == "query":
        session.set_config_variable("data_path", str(QUERY_MODEL_DIR))
    config.setdefault("retries", {"max_attempts": 1})
    return boto3.Session(botocore_session=session).client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(**config),
        **(credentials or CREDENTIALS),
    )


@pytest.fixture(scope="module")
def sqs(server: ServeProcess) -> Any:
    """A JSON-protocol client (what current SDKs are)."""
    return make_client(server.url)


@pytest.fixture(scope="module")
def sqs_query(server: ServeProcess) -> Any:
    """A query-protocol client (form requests, XML answers)."""
    client = make_client(server.url, "query")
    assert client.meta.service_model.protocol == "query"
    return client


@pytest.fixture(params=["json", "query"])
def client(request: pytest.FixtureRequest, server: ServeProcess) -> Any:
    """The test runs once per protocol."""
    return request.getfixturevalue("sqs" if request.param == "json" else "sqs_query")


@pytest.fixture
def make_queue(sqs: Any) -> Callable[..., str]:
    """Create a uniquely named queue through the API; returns its URL."""

    def make(fifo: bool = False, prefix: str = "t", **attributes: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes["FifoQueue"] = "true"
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

    return make

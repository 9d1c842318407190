"""Fixtures for the SQS backend's tests: one moto server per session, dummy credentials per test.

moto's SQS server runs in a thread of the test process on a free port (SERVICES.md) and is
serialized (:func:`qworker_sqs.testing.serialize_moto_sqs`): the backend reaches it over HTTP
exactly as it reaches AWS. Every test makes uniquely named queues, so the server is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qworker_sqs import SQSBackend
from qworker_sqs.testing import FlakyProxy, MotoSQSServer, clear_aws_environment

DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoSQSServer]:
    server = MotoSQSServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and region us-east-1, for moto."""
    clear_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", MotoSQSServer.REGION)


@pytest.fixture
def sqs_url(moto_server: MotoSQSServer, aws_env: None) -> str:
    """The backend URL for moto. Two attempts per request: moto answers 500 for actions it lacks
    (StartMessageMoveTask), and a test need not wait for the SDK's full back-off on those."""
    return moto_server.url(max_attempts=2)


@pytest.fixture
async def sqs(sqs_url: str) -> AsyncIterator[SQSBackend]:
    async with SQSBackend(sqs_url) as backend:
        yield backend


@pytest.fixture
async def flaky_proxy(moto_server: MotoSQSServer) -> AsyncIterator[FlakyProxy]:
    proxy = await FlakyProxy(moto_server.port).start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def inject_entry_failures(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], list[int]]:
    """Make moto answer the next ``calls`` calls of a ``*_batch`` operation with every entry
    failed as ``InternalError`` with ``SenderFault: false`` (the answer real SQS gives when an
    entry may succeed on retry). Returns a list that records how many entries each call had."""
    from moto.sqs import models

    def inject(operation: str, calls: int) -> list[int]:
        original = getattr(models.SQSBackend, operation)
        seen: list[int] = []
        left = [calls]

        def flaky(self: Any, queue_name: str, entries: Any) -> Any:
            items = list(entries.values()) if isinstance(entries, dict) else list(entries)
            seen.append(len(items))
            if left[0] <= 0:
                return original(self, queue_name, entries)
            left[0] -= 1
            failed = [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected failure"}
                for e in items
            ]
            return [], failed

        monkeypatch.setattr(models.SQSBackend, operation, flaky)
        return seen

    return inject


@pytest.fixture(scope="session")
def serve_redis() -> Iterator[Any]:
    """A private redis-server for the ``qworker serve`` endpoints of this session."""
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def serve_endpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qworker serve`` as a subprocess over SQLite and over Redis: the endpoint URL."""
    import uuid

    from qworker.testing.serve import ServeProcess

    if request.param == "sqlite":
        backend = f"sqlite:///{tmp_path_factory.mktemp('serve')}/queues.db"
    else:
        backend = f"{request.getfixturevalue('serve_redis').url}?prefix=s{uuid.uuid4().hex[:10]}"
    server = ServeProcess(backend, log_dir=tmp_path_factory.mktemp("serve-log")).start()
    yield server.url
    server.stop()

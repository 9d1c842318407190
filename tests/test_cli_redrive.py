"""``qworker redrive DLQ``: dead letters go back to their source queue or ``--to`` (SPEC ESM-DLQ-6).

Messages reach the DLQ the way a worker puts them there: received through the backend API until a
receive would exceed maxReceiveCount (ESM-DLQ-2). Real SQLite backend, one temp file per test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qworker.backend import Backend
from qworker.cli import cli
from qworker.registry import open_backend


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/redrive.db"


def invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--backend", url])


def api(url: str, action: Callable[[Backend], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with open_backend(url) as backend:
            return await action(backend)

    return asyncio.run(go())


def visible(url: str, queue: str) -> int:
    return api(url, lambda backend: backend.get_queue(queue)).counts.visible


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def assert_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def dead_letter(url: str, source: str, bodies: list[str], max_receive_count: int = 2) -> None:
    """Create SOURCE with DLQ SOURCE-dlq, send BODIES, and receive them until all are dead letters."""
    ok(invoke(url, "queue", "create", f"{source}-dlq"))
    ok(invoke(url, "queue", "create", source, "--dlq", f"{source}-dlq", "--max-receive-count",
              str(max_receive_count)))  # fmt: skip
    ok(invoke(url, "send", "--queue", source, *bodies))

    async def fail_every_time(backend: Backend) -> None:
        for _ in range(max_receive_count):
            got = await backend.receive(source, len(bodies), wait_seconds=0, visibility_timeout=0)
            assert len(got) == len(bodies)
        # this receive would exceed maxReceiveCount: the messages move instead (ESM-DLQ-2)
        assert await backend.receive(source, len(bodies), wait_seconds=0) == []

    api(url, fail_every_time)
    assert visible(url, f"{source}-dlq") == len(bodies)


def test_redrive_back_to_source(url: str) -> None:
    dead_letter(url, "orders", ["a", "b", "c"])
    result = ok(invoke(url, "redrive", "orders-dlq"))
    assert result.stdout == "moved 3 messages from orders-dlq to their source queues\n"
    assert visible(url, "orders-dlq") == 0
    assert visible(url, "orders") == 3
    received = api(url, lambda backend: backend.receive("orders", 10, wait_seconds=0))
    assert sorted(m.body for m in received) == ["a", "b", "c"]
    assert {m.receive_count for m in received} == {1}  # new messages: the count starts again


def test_redrive_to_other_queue_with_rate(url: str) -> None:
    dead_letter(url, "orders", ["a", "b"], max_receive_count=1)
    ok(invoke(url, "queue", "create", "retry"))
    result = ok(invoke(url, "redrive", "orders-dlq", "--to", "retry", "--rate", "100"))
    assert result.stdout == "moved 2 messages from orders-dlq to retry\n"
    assert (visible(url, "retry"), visible(url, "orders"), visible(url, "orders-dlq")) == (2, 0, 0)


def test_redrive_empty_dlq(url: str) -> None:
    ok(invoke(url, "queue", "create", "dlq"))
    assert ok(invoke(url, "redrive", "dlq")).stdout == "moved 0 messages from dlq to their source queues\n"


def test_redrive_unknown_queues(url: str) -> None:
    assert_error(invoke(url, "redrive", "ghost-dlq"), 2, "does not exist", "'ghost-dlq'")
    ok(invoke(url, "queue", "create", "dlq"))
    assert_error(invoke(url, "redrive", "dlq", "--to", "ghost"), 2, "does not exist", "'ghost'")


def test_redrive_bad_rate(url: str) -> None:
    ok(invoke(url, "queue", "create", "dlq"))
    assert_error(invoke(url, "redrive", "dlq", "--rate", "0"), 2, "--rate")


def test_redrive_with_source_queue_gone_exits_1_and_keeps_messages(url: str) -> None:
    dead_letter(url, "orders", ["a", "b"], max_receive_count=1)
    ok(invoke(url, "queue", "delete", "orders"))
    result = invoke(url, "redrive", "orders-dlq")
    assert result.exit_code == 1, result.output
    assert result.stdout == "moved 0 messages from orders-dlq to their source queues\n"
    assert_error(result, 1, "2 message(s) could not be moved", "--to NAME")
    assert visible(url, "orders-dlq") == 2

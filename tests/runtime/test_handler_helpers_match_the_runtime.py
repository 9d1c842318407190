"""The "test your handler" helpers build what the worker really passes.

A capture handler runs under a real worker (in this process, on ``memory://``) and writes down
every event and the context's attributes; ``sqs_event`` and ``lambda_context`` are then asked
for the same messages. Every record must have the same keys in the same order at every level,
values of the same types, and the same values wherever the value is not per delivery (ids,
receipt handles, timestamps, sequence numbers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import MessageAttributeValue, QueueSpec, SendEntry
from qworker.memory import drop_store
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from qworker.runtime.worker import Worker, WorkerOptions
from qworker.testing.lambda_events import lambda_context, sqs_event

CAPTURE_APP = """
import json, os

def handler(event, context):
    names = [n for n in dir(context) if not n.startswith("_")]
    kinds = {n: type(getattr(context, n)).__name__ for n in names}
    seen = {"event": event, "context": kinds, "memory": context.memory_limit_in_mb}
    with open(os.environ["QW_CAPTURE"], "a") as out:
        out.write(json.dumps(seen) + "\\n")
"""

ATTRIBUTES = {
    "kind": MessageAttributeValue("String", "order"),
    "count": MessageAttributeValue("Number", "3"),
    "blob": MessageAttributeValue("Binary", binary_value=b"\x00\xff"),
}
#: values that differ on every delivery: compared by shape only
PER_DELIVERY = {"messageId", "receiptHandle"}
PER_DELIVERY_ATTRIBUTES = {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SequenceNumber"}


def shape(value: Any) -> Any:
    """Keys in order and value types, recursively: what must be identical."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def stable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without what differs per delivery."""
    out = {k: v for k, v in record.items() if k not in PER_DELIVERY}
    out["attributes"] = {k: v for k, v in record["attributes"].items() if k not in PER_DELIVERY_ATTRIBUTES}
    return out


@pytest.fixture
def url() -> Iterator[str]:
    name = f"helpers-{time.monotonic_ns()}"
    yield f"memory://{name}"
    drop_store(name)


async def _capture(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Send the messages, run a worker with the capture handler until empty; what it saw."""
    (tmp_path / "capture_app.py").write_text(CAPTURE_APP)
    capture = tmp_path / "capture.jsonl"
    monkeypatch.setenv("QW_CAPTURE", str(capture))
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("orders"))
        await backend.create_queue(QueueSpec("jobs.fifo", content_based_deduplication=True))
        sent = await backend.send(
            "orders", [SendEntry('{"n": 1}', message_attributes=ATTRIBUTES), SendEntry("plain")]
        )
        assert not sent.failed
        fifo = [SendEntry(b, message_group_id="g", message_deduplication_id=f"d-{b}") for b in ("a", "b")]
        assert not (await backend.send("jobs.fifo", fifo)).failed
    mappings = [
        MappingConfig(handler="capture_app:handler", queue=q, function_name=f"fn-{i}", memory=256)
        for i, q in enumerate(("orders", "jobs.fifo"))
    ]
    options = WorkerOptions(backend_url=url, until_empty=True, app_dir=str(tmp_path))
    assert await Worker(mappings, options).serve() == 0
    return [json.loads(line) for line in capture.read_text().splitlines()]


async def test_sqs_event_and_lambda_context_match_what_the_worker_passes(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = await _capture(url, tmp_path, monkeypatch)
    real = sorted((r for c in captured for r in c["event"]["Records"]), key=lambda r: r["body"])
    assert [r["body"] for r in real] == ["a", "b", "plain", '{"n": 1}']
    assert all(list(c["event"]) == ["Records"] for c in captured)

    built = sorted(
        sqs_event({"n": 1}, queue="orders", message_attributes=ATTRIBUTES)["Records"]
        + sqs_event("plain", queue="orders")["Records"]
        + sqs_event("a", "b", queue="jobs.fifo", group_id="g", dedup_ids=["d-a", "d-b"])["Records"],
        key=lambda r: r["body"],
    )
    for got, made in zip(real, built, strict=True):
        assert shape(made) == shape(got), got["body"]
        assert stable(made) == stable(got), got["body"]

    kinds = lambda_context("fn-0", memory=256)
    expected = {n: type(getattr(kinds, n)).__name__ for n in dir(kinds) if not n.startswith("_")}
    for invocation in captured:
        assert invocation["context"] == expected
        assert invocation["memory"] == "256"

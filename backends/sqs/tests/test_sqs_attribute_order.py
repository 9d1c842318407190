"""Records from the SQS backend carry their system attributes in Lambda's order (SPEC EVT-4):
the order of :data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER`, whatever order SQS sent them in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from qworker.backend import QueueSpec, SendEntry
from qworker.events import SYSTEM_ATTRIBUTE_ORDER, build_record
from qworker_sqs import SQSBackend
from qworker_sqs.convert import received_message


def _lambda_order(names: list[str]) -> list[str]:
    return [name for name in SYSTEM_ATTRIBUTE_ORDER if name in names]


def test_every_system_attribute_is_put_in_lambdas_order() -> None:
    """SQS answers in its own order (here: sorted by name, the reverse of Lambda's first names);
    the message's attributes come out in Lambda's, and names Lambda's order does not know follow."""
    attributes = {name: f"v-{name}" for name in sorted(SYSTEM_ATTRIBUTE_ORDER)}
    attributes["SomeFutureAttribute"] = "later"
    message = received_message(
        {
            "MessageId": "m",
            "ReceiptHandle": "r",
            "Body": "b",
            "MD5OfBody": "x",
            "Attributes": attributes,
        }
    )
    assert list(message.attributes) == [*SYSTEM_ATTRIBUTE_ORDER, "SomeFutureAttribute"]
    assert message.attributes["SenderId"] == "v-SenderId"


async def test_records_received_from_sqs_have_lambdas_order(sqs: SQSBackend) -> None:
    """End to end on moto: a FIFO message's record lists its attributes in Lambda's order."""
    name = f"order-{uuid.uuid4().hex[:10]}.fifo"
    await sqs.create_queue(QueueSpec(name, content_based_deduplication=True))
    await sqs.send(name, [SendEntry("hello", message_group_id="g")])
    (message,) = await sqs.receive(name, max_messages=1, wait_seconds=1)
    names = list(message.attributes)
    assert {"ApproximateReceiveCount", "SentTimestamp", "MessageGroupId", "SenderId"} <= set(names)
    assert names == _lambda_order(names)
    record = build_record(message, sqs.queue_arn(name), "us-east-1")
    assert list(record["attributes"]) == names


@pytest.fixture
def moto_keeps_trace_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SendMessageBatch drops MessageSystemAttributes (SQS keeps AWSTraceHeader): keep it."""
    from moto.sqs import models

    original = models.SQSBackend.send_message_batch

    def send_message_batch(self: Any, queue_name: str, entries: Any) -> Any:
        messages, failed = original(self, queue_name, entries)
        by_id = {entry["Id"]: entry for entry in entries.values()}
        for message in messages:
            message.system_attributes = by_id[message.user_id].get("MessageSystemAttributes") or {}
        return messages, failed

    monkeypatch.setattr(models.SQSBackend, "send_message_batch", send_message_batch)


async def test_a_traced_message_has_its_trace_header_where_lambda_puts_it(
    sqs: SQSBackend, moto_keeps_trace_headers: None
) -> None:
    """Where this backend's own order used to differ from Lambda's: AWSTraceHeader comes right
    after ApproximateReceiveCount, not last."""
    name = f"order-{uuid.uuid4().hex[:10]}"
    await sqs.create_queue(QueueSpec(name))
    await sqs.send(name, [SendEntry("traced", trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")])
    (message,) = await sqs.receive(name, max_messages=1, wait_seconds=1)
    names = list(message.attributes)
    assert names[:2] == ["ApproximateReceiveCount", "AWSTraceHeader"]
    assert names == _lambda_order(names)

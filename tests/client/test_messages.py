"""How the client turns Python values into SQS messages and queue attributes (no backend)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy
from qworker.client.messages import (
    Message,
    add_trace_fields,
    encode_attributes,
    encode_body,
    messages_of,
    to_entry,
)
from qworker.client.queues import queue_spec
from qworker.errors import InvalidAttributeName, InvalidAttributeValue, InvalidMessageContents


def test_bodies_str_bytes_and_compact_json() -> None:
    assert encode_body("as is ") == "as is "
    assert encode_body("é".encode()) == "é"
    assert encode_body(bytearray(b"abc")) == "abc"
    assert encode_body({"a": [1, 2.5, None], "é": True}) == '{"a":[1,2.5,null],"é":true}'
    assert json.loads(encode_body([1, "x"])) == [1, "x"]
    assert encode_body(None) == "null"


def test_bodies_that_cannot_be_sent_fail_before_sending() -> None:
    with pytest.raises(InvalidMessageContents, match="must be UTF-8"):
        encode_body(b"\xff\xfe")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        encode_body({"when": object()})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        encode_body(float("nan"))  # not JSON: a consumer's JSON parser would refuse it


def test_a_custom_dumps_serialises_bodies() -> None:
    assert encode_body({"a": 1}, dumps=lambda obj: b"<%d>" % obj["a"]) == "<1>"
    assert encode_body("text", dumps=lambda obj: "never called") == "text"


def test_attribute_types_are_inferred() -> None:
    attrs = encode_attributes(
        {
            "s": "x",
            "i": 3,
            "f": 1.5,
            "d": Decimal("2.50"),
            "b": b"\x00",
            "m": MessageAttributeValue("Number.int", "7"),
        }
    )
    assert attrs == {
        "s": MessageAttributeValue("String", string_value="x"),
        "i": MessageAttributeValue("Number", string_value="3"),
        "f": MessageAttributeValue("Number", string_value="1.5"),
        "d": MessageAttributeValue("Number", string_value="2.50"),
        "b": MessageAttributeValue("Binary", binary_value=b"\x00"),
        "m": MessageAttributeValue("Number.int", "7"),
    }
    assert encode_attributes(None) == {}


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}, object()])
def test_attributes_without_an_sqs_type_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="'x'"):
        encode_attributes({"x": value})


def test_batch_entries_are_messages_or_dicts() -> None:
    messages = messages_of([Message("a"), {"body": {"k": 1}, "group_id": "g", "dedup_id": "d", "id": "e1"}])
    assert messages[1] == Message({"k": 1}, group_id="g", dedup_id="d", id="e1")
    with pytest.raises(TypeError, match="Unknown message field"):
        messages_of([{"body": "x", "MessageGroupId": "g"}])
    with pytest.raises(TypeError, match="needs a 'body'"):
        messages_of([{"group_id": "g"}])
    with pytest.raises(TypeError, match="wrap each body"):
        messages_of(["a", "b"])
    with pytest.raises(TypeError, match="use send"):
        messages_of({"body": "x"})


def test_entries_carry_the_senders_trace_unless_given() -> None:
    trace = (
        "Root=1-00000001-000000000000000000000001;Parent=0000000000000001;Sampled=1",
        {"traceparent": "00-x"},
    )
    entry = to_entry(Message("b", attributes={"a": "1"}), None, trace)
    assert entry.trace_header == trace[0]
    assert entry.message_attributes["traceparent"] == MessageAttributeValue("String", "00-x")
    own = to_entry(Message("b", trace_header="Root=mine"), None, trace)
    assert own.trace_header == "Root=mine"
    assert to_entry(Message("b"), None, None).trace_header is None


def test_trace_fields_never_take_a_message_past_ten_attributes() -> None:
    attributes = {f"a{i}": MessageAttributeValue("String", "x") for i in range(9)}
    add_trace_fields(attributes, {"traceparent": "tp", "tracestate": "ts"})
    assert len(attributes) == 9  # both would make 11: the AWSTraceHeader alone carries the trace
    add_trace_fields(attributes, {"traceparent": "tp"})
    assert attributes["traceparent"].string_value == "tp"
    mine = {"traceparent": MessageAttributeValue("String", "given")}
    add_trace_fields(mine, {"traceparent": "tp"})
    assert mine["traceparent"].string_value == "given"


def test_queue_attributes_by_sqs_name_or_spec_field_give_one_spec() -> None:
    arn = "arn:aws:sqs:us-east-1:000000000000:jobs-dlq"
    by_sqs = queue_spec(
        "jobs",
        {
            "VisibilityTimeout": 60,
            "DelaySeconds": "5",
            "RedrivePolicy": {"deadLetterTargetArn": arn, "maxReceiveCount": 3},
        },
    )
    by_field = queue_spec(
        "jobs", {"visibility_timeout": 60, "delay_seconds": 5, "redrive_policy": RedrivePolicy("jobs-dlq", 3)}
    )
    as_dict = queue_spec(
        "jobs",
        {
            "visibility_timeout": 60,
            "delay_seconds": 5,
            "redrive_policy": {"deadLetterTargetArn": arn, "maxReceiveCount": 3},
        },
    )
    assert by_sqs == by_field == as_dict
    assert by_sqs.extra_attributes == ()  # no SqsManagedSseEnabled unless asked: same spec as the CLI's
    fifo = queue_spec("jobs.fifo", {"ContentBasedDeduplication": True})
    assert fifo.fifo and fifo.content_based_deduplication
    assert queue_spec("plain", {}) == QueueSpec("plain")
    assert queue_spec(QueueSpec("given", delay_seconds=3), {}) == QueueSpec("given", delay_seconds=3)


def test_bad_queue_attributes_get_sqs_errors() -> None:
    with pytest.raises(InvalidAttributeName, match="Unknown Attribute Nope"):
        queue_spec("q", {"Nope": 1})
    with pytest.raises(InvalidAttributeValue):
        queue_spec("q", {"VisibilityTimeout": 99999})
    with pytest.raises(InvalidAttributeName, match="not both"):
        queue_spec("q", {"VisibilityTimeout": 1, "delay_seconds": 1})
    with pytest.raises(InvalidAttributeName, match="QueueSpec fields"):
        queue_spec("q", {"visibility": 1})
    with pytest.raises(InvalidAttributeName):
        queue_spec("q", {"ContentBasedDeduplication": True})  # standard queues have no such attribute

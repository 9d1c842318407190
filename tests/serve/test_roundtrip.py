"""boto3 against ``qworker serve``, over both wire protocols: every value goes through an SDK's
serializer and parser (and botocore's MD5 checks of received messages)."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
import uuid
from typing import Any

import pytest

from qworker.testing.serve import ServeProcess

from .conftest import make_client


def canonical_md5(attributes: dict[str, dict[str, Any]]) -> str:
    """SQS's digest of message attributes, written here from the SQS developer guide (not
    qworker's code): sorted names; name, type, transport byte and value, each length-prefixed."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name.encode(), value["DataType"].encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if "BinaryValue" in value:
            data = value["BinaryValue"]
            digest.update(b"\x02" + struct.pack(">I", len(data)) + data)
        else:
            data = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


ATTRIBUTES = {
    "text": {"DataType": "String", "StringValue": "héllo wörld"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
    "custom": {"DataType": "String.custom", "StringValue": "x"},
    "money": {"DataType": "Number.float", "StringValue": "3.14"},
    "bin.custom": {"DataType": "Binary.gz", "BinaryValue": b"\x1f\x8b"},
}


def test_queue_lifecycle(client: Any, server: ServeProcess) -> None:
    name = f"life-{uuid.uuid4().hex[:10]}"
    url = client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url == f"{server.url}/000000000000/{name}"
    assert client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    assert client.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in client.list_queues(QueueNamePrefix="life-")["QueueUrls"]
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    client.set_queue_attributes(QueueUrl=url, Attributes={"Policy": '{"Statement":[]}'})
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "Policy"])["Attributes"]
    assert attrs == {"DelaySeconds": "0", "Policy": '{"Statement":[]}'}
    client.delete_queue(QueueUrl=url)
    assert url not in client.list_queues(QueueNamePrefix="life-").get("QueueUrls", [])


@pytest.mark.skipif(
    not hasattr(__import__("qworker.backend").backend.Backend, "set_queue_attributes"),
    reason="the backend protocol has no set_queue_attributes yet (branch backend-api)",
)
def test_set_queue_attributes_changes_the_queue(client: Any, make_queue: Any) -> None:
    url = make_queue()
    client.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2", "VisibilityTimeout": "5"})
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "VisibilityTimeout"])
    assert attrs["Attributes"] == {"DelaySeconds": "2", "VisibilityTimeout": "5"}


def test_list_queues_pages(client: Any) -> None:
    prefix = f"page{uuid.uuid4().hex[:6]}"
    urls = [client.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    first = client.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    second = client.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    third = client.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
    assert first["QueueUrls"] + second["QueueUrls"] + third["QueueUrls"] == urls
    assert "NextToken" not in third


def test_message_round_trip_with_every_attribute_type(client: Any, make_queue: Any) -> None:
    url = make_queue()
    body = 'line one\r\nline two <xml> & "quotes" ✓ 𝄞'
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    sent = client.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes=ATTRIBUTES,
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": trace}},
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == canonical_md5(ATTRIBUTES)
    assert sent["MD5OfMessageSystemAttributes"] == canonical_md5(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
    )
    (message,) = client.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"], WaitTimeSeconds=2
    )["Messages"]
    assert (message["MessageId"], message["Body"]) == (sent["MessageId"], body)
    assert message["MessageAttributes"] == ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["AWSTraceHeader"] == trace
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert set(message["Attributes"]) >= {"SenderId", "SentTimestamp", "ApproximateFirstReceiveTimestamp"}
    client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in client.receive_message(QueueUrl=url)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["All"], set(ATTRIBUTES)),
        ([".*"], set(ATTRIBUTES)),
        (["*"], set(ATTRIBUTES)),
        (["cou.*", "money"], {"count", "money"}),
        (["text", "blob"], {"text", "blob"}),
        (["bin.*"], {"bin.custom"}),
        (["nothing"], set()),
    ],
)
def test_message_attribute_selection_and_its_md5(
    client: Any, make_queue: Any, names: list[str], expected: set[str]
) -> None:
    url = make_queue()
    client.send_message(QueueUrl=url, MessageBody="b", MessageAttributes=ATTRIBUTES)
    (message,) = client.receive_message(
        QueueUrl=url, MessageAttributeNames=names, AttributeNames=["SenderId"], WaitTimeSeconds=2
    )["Messages"]
    got = message.get("MessageAttributes", {})
    assert set(got) == expected
    assert message.get("MD5OfMessageAttributes") == (canonical_md5(got) if got else None)
    assert set(message["Attributes"]) == {"SenderId"}


def test_trace_header_from_the_http_header(client: Any, make_queue: Any) -> None:
    """SQS gives a sent message the request's X-Amzn-Trace-Id as its AWSTraceHeader."""
    url = make_queue()
    trace = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"

    def add_header(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = trace

    client.meta.events.register("before-send.sqs.SendMessage", add_header)
    try:
        client.send_message(QueueUrl=url, MessageBody="traced")
    finally:
        client.meta.events.unregister("before-send.sqs.SendMessage", add_header)
    (message,) = client.receive_message(QueueUrl=url, AttributeNames=["AWSTraceHeader"])["Messages"]
    assert message["Attributes"] == {"AWSTraceHeader": trace}


def test_attribute_names_may_have_latin_letters(client: Any, make_queue: Any) -> None:
    url = make_queue()
    attributes = {"attr.1øßä": {"DataType": "String", "StringValue": "v"}}
    client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attributes)
    (message,) = client.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"] == attributes


def test_setting_fifo_queue_true_on_a_fifo_queue_is_accepted(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True)
    client.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    with pytest.raises(client.exceptions.ClientError) as info:
        client.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert info.value.response["Error"]["Code"] == "InvalidAttributeValue"


def test_fifo_groups_dedup_and_sequence_numbers(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True)
    sequence = []
    for index in range(3):
        sent = client.send_message(
            QueueUrl=url, MessageBody=f"a{index}", MessageGroupId="A", MessageDeduplicationId=f"d{index}"
        )
        sequence.append(int(sent["SequenceNumber"]))
    again = client.send_message(
        QueueUrl=url, MessageBody="dup", MessageGroupId="A", MessageDeduplicationId="d0"
    )
    client.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B", MessageDeduplicationId="e0")
    assert sequence == sorted(sequence) and len(set(sequence)) == 3
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    assert [m["Body"] for m in messages] == ["a0", "a1", "a2", "b0"]
    assert messages[0]["MessageId"] == again["MessageId"]
    assert [m["Attributes"]["MessageGroupId"] for m in messages] == ["A", "A", "A", "B"]
    numbers = [int(m["Attributes"]["SequenceNumber"]) for m in messages]
    assert numbers == sorted(numbers)


def test_fifo_group_is_locked_while_in_flight(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    client.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(2)],
    )
    (first,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert "Messages" not in client.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    client.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    (second,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert (first["Body"], second["Body"]) == ("m0", "m1")


def test_content_based_deduplication(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    one = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    two = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert len(client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 1


def test_receive_request_attempt_id_returns_the_same_messages(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    client.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g")
    first = client.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-1")["Messages"]
    retry = client.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]
    assert "Messages" not in client.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-2")


def test_batches_report_failures_per_entry(client: Any, make_queue: Any) -> None:
    url = make_queue(MaximumMessageSize="1024")
    result = client.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "fine"},
            {"Id": "big", "MessageBody": "x" * 2000},
            {"Id": "bad", "MessageBody": "bad \x00 char"},
            {"Id": "delay", "MessageBody": "late", "DelaySeconds": 901},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok"]  # "Failed" is there: some failed
    failed = {e["Id"]: e for e in result["Failed"]}
    assert {k: v["Code"] for k, v in failed.items()} == {
        "big": "InvalidParameterValue",
        "bad": "InvalidMessageContents",
        "delay": "InvalidParameterValue",
    }
    assert all(e["SenderFault"] for e in failed.values())
    (message,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)[
        "Messages"
    ]
    deleted = client.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": message["ReceiptHandle"]},
            {"Id": "b", "ReceiptHandle": "garbage"},
        ],
    )
    assert [e["Id"] for e in deleted["Successful"]] == ["a"]
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("b", "ReceiptHandleIsInvalid")]


def test_batch_entries_carry_attributes_and_digests(client: Any, make_queue: Any) -> None:
    url = make_queue()
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-aa-bb"}}
    entries = [
        {"Id": "plain", "MessageBody": "p"},
        {
            "Id": "attrs",
            "MessageBody": "a",
            "MessageAttributes": ATTRIBUTES,
            "MessageSystemAttributes": trace,
        },
        {"Id": "late", "MessageBody": "l", "DelaySeconds": 1},
    ]
    result = client.send_message_batch(QueueUrl=url, Entries=entries)
    by_id = {entry["Id"]: entry for entry in result["Successful"]}
    assert set(by_id) == {"plain", "attrs", "late"} and "Failed" not in result
    assert by_id["attrs"]["MD5OfMessageAttributes"] == canonical_md5(ATTRIBUTES)
    assert by_id["attrs"]["MD5OfMessageSystemAttributes"] == canonical_md5(trace)
    assert "MD5OfMessageAttributes" not in by_id["plain"]
    got = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=3
    )
    messages = {m["Body"]: m for m in got["Messages"]}
    while len(messages) < 3:
        more = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=3
        )
        messages.update({m["Body"]: m for m in more.get("Messages", [])})
    assert messages["a"]["MessageAttributes"] == ATTRIBUTES
    assert messages["a"]["MessageId"] == by_id["attrs"]["MessageId"]


def test_visibility_changes(client: Any, make_queue: Any) -> None:
    url = make_queue(VisibilityTimeout="60")
    client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}]
    )
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 2
    client.change_message_visibility(
        QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    result = client.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "keep", "ReceiptHandle": messages[1]["ReceiptHandle"], "VisibilityTimeout": 120},
            {"Id": "gone", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 10},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["keep"]
    assert [(e["Id"], e["Code"]) for e in result["Failed"]] == [
        ("gone", "AWS.SimpleQueueService.MessageNotInflight")
    ]
    (again,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert again["Body"] == messages[0]["Body"]


def test_long_poll_is_woken_by_a_send(client: Any, make_queue: Any, server: ServeProcess) -> None:
    url = make_queue()
    sender = make_client(server.url)
    timer = threading.Timer(1.0, lambda: sender.send_message(QueueUrl=url, MessageBody="wake"))
    started = time.monotonic()
    timer.start()
    try:
        messages = client.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    finally:
        timer.join()
    took = time.monotonic() - started
    assert [m["Body"] for m in messages] == ["wake"]
    assert 0.9 < took < 4, took


def test_long_poll_ends_empty_after_the_wait(client: Any, make_queue: Any) -> None:
    url = make_queue()
    started = time.monotonic()
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - started < 3


def test_dead_letter_redrive_with_a_move_task(client: Any, make_queue: Any) -> None:
    dlq = make_queue()
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source = make_queue(RedrivePolicy=policy, VisibilityTimeout="30")
    assert client.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    client.send_message(QueueUrl=source, MessageBody="poison")
    (message,) = client.receive_message(QueueUrl=source)["Messages"]
    client.change_message_visibility(
        QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert "Messages" not in client.receive_message(QueueUrl=source)  # moved to the DLQ on this receive
    (dead,) = client.receive_message(QueueUrl=dlq, AttributeNames=["All"], WaitTimeSeconds=2)["Messages"]
    source_arn = dlq_arn.rsplit(":", 1)[0] + ":" + source.rsplit("/", 1)[1]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    client.change_message_visibility(QueueUrl=dlq, ReceiptHandle=dead["ReceiptHandle"], VisibilityTimeout=0)
    handle = client.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.monotonic() + 10
    while True:
        (task,) = client.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert task["Status"] == "COMPLETED", task
    assert task["ApproximateNumberOfMessagesMoved"] == 1
    assert handle
    (back,) = client.receive_message(QueueUrl=source, WaitTimeSeconds=2)["Messages"]
    assert back["Body"] == "poison"


def test_tags(client: Any, make_queue: Any) -> None:
    name = f"tags-{uuid.uuid4().hex[:10]}"
    url = client.create_queue(QueueName=name, tags={"team": "a", "env": "dev"})["QueueUrl"]
    assert client.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a", "env": "dev"}
    client.tag_queue(QueueUrl=url, Tags={"env": "prod", "cost": "1"})
    client.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert client.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost": "1"}


def test_permissions_are_kept_in_the_policy(client: Any, make_queue: Any) -> None:
    url = make_queue()
    client.add_permission(QueueUrl=url, Label="p1", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    policy = json.loads(
        client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert [(s["Sid"], s["Action"]) for s in policy["Statement"]] == [("p1", "SQS:SendMessage")]
    client.remove_permission(QueueUrl=url, Label="p1")
    assert "Policy" not in client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_purge(client: Any, make_queue: Any) -> None:
    url = make_queue()
    client.send_message(QueueUrl=url, MessageBody="x")
    client.purge_queue(QueueUrl=url)
    assert "Messages" not in client.receive_message(QueueUrl=url)
    with pytest.raises(client.exceptions.PurgeQueueInProgress):
        client.purge_queue(QueueUrl=url)

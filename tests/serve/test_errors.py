"""SQS's errors as botocore parses them, over both protocols: ``Error.Code`` (the query code,
which programs test), ``Error.QueryErrorCode`` (JSON: the shape name), the HTTP status, and the
modelled exception class a program catches (``client.exceptions.QueueDoesNotExist``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_of(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def check(client: Any, exc: ClientError, code: str, shape: str | None, status: int) -> None:
    error = exc.response["Error"]
    assert error["Code"] == code, error
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.get("Type") == "Sender"
    assert error["Message"]
    if shape is not None:
        if client.meta.service_model.protocol == "json":
            assert error["QueryErrorCode"] == shape
        modelled = getattr(client.exceptions, shape, None)
        if modelled is not None:
            assert isinstance(exc, modelled)


def test_queue_does_not_exist(client: Any, server: Any) -> None:
    exc = error_of(lambda: client.get_queue_url(QueueName="no-such-queue"))
    check(client, exc, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400)
    query = client.meta.service_model.protocol == "query"
    expected = "for this wsdl version." if query else "The specified queue does not exist."
    assert exc.response["Error"]["Message"].endswith(expected)
    url = f"{server.url}/000000000000/no-such-queue"
    for call in (
        lambda: client.send_message(QueueUrl=url, MessageBody="x"),
        lambda: client.receive_message(QueueUrl=url),
        lambda: client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda: client.delete_queue(QueueUrl=url),
        lambda: client.purge_queue(QueueUrl=url),
    ):
        check(client, error_of(call), "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400)
    other_account = f"{server.url}/123456789012/no-such-queue"
    check(
        client,
        error_of(lambda: client.send_message(QueueUrl=other_account, MessageBody="x")),
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        400,
    )


def test_queue_already_exists(client: Any) -> None:
    name = f"exists-{uuid.uuid4().hex[:8]}"
    client.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})
    exc = error_of(lambda: client.create_queue(QueueName=name, Attributes={"DelaySeconds": "2"}))
    check(client, exc, "QueueAlreadyExists", "QueueNameExists", 400)
    assert exc.response["Error"]["Message"] == (
        "A queue already exists with the same name and a different value for attribute DelaySeconds"
    )


@pytest.mark.parametrize(
    ("attributes", "code", "message"),
    [
        (
            {"VisibilityTimeout": "43201"},
            "InvalidAttributeValue",
            "Invalid value for the parameter VisibilityTimeout.",
        ),
        ({"Bogus": "1"}, "InvalidAttributeName", "Unknown Attribute Bogus."),
        ({"FifoQueue": "true"}, "InvalidParameterValue", None),
        (
            {"ContentBasedDeduplication": "true"},
            "InvalidAttributeName",
            "Unknown Attribute ContentBasedDeduplication.",
        ),
    ],
)
def test_create_queue_refusals(
    client: Any, attributes: dict[str, str], code: str, message: str | None
) -> None:
    exc = error_of(
        lambda: client.create_queue(QueueName=f"bad-{uuid.uuid4().hex[:8]}", Attributes=attributes)
    )
    check(client, exc, code, None, 400)
    if message is not None:
        assert exc.response["Error"]["Message"] == message


def test_invalid_parameter_values(client: Any, make_queue: Any) -> None:
    url = make_queue()
    exc = error_of(lambda: client.receive_message(QueueUrl=url, MaxNumberOfMessages=11))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    assert exc.response["Error"]["Message"] == (
        "Value 11 for parameter MaxNumberOfMessages is invalid. "
        "Reason: Must be between 1 and 10, if provided."
    )
    exc = error_of(lambda: client.receive_message(QueueUrl=url, WaitTimeSeconds=21))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    exc = error_of(lambda: client.get_queue_attributes(QueueUrl=url, AttributeNames=["Nope"]))
    check(client, exc, "InvalidAttributeName", "InvalidAttributeName", 400)


def test_message_refusals(client: Any, make_queue: Any) -> None:
    url = make_queue(MaximumMessageSize="1024")
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody=""))
    check(client, exc, "MissingParameter", "MissingRequiredParameterException", 400)
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody="x" * 1025))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    assert exc.response["Error"]["Message"] == (
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    )
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody="a\x01b"))
    check(client, exc, "InvalidMessageContents", "InvalidMessageContents", 400)
    attribute = {"a": {"DataType": "String", "StringValue": ""}}
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attribute))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)


def test_fifo_refusals(client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True)
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d"))
    check(client, exc, "MissingParameter", "MissingRequiredParameterException", 400)
    exc = error_of(lambda: client.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g"))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    exc = error_of(
        lambda: client.send_message(
            QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=2
        )
    )
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)


def test_batch_refusals(client: Any, make_queue: Any) -> None:
    url = make_queue()
    entries = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    exc = error_of(lambda: client.send_message_batch(QueueUrl=url, Entries=entries))
    check(
        client,
        exc,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "TooManyEntriesInBatchRequest",
        400,
    )
    exc = error_of(
        lambda: client.send_message_batch(QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "x"}])
    )
    check(client, exc, "AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId", 400)
    same = [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]
    exc = error_of(lambda: client.send_message_batch(QueueUrl=url, Entries=same))
    check(client, exc, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct", 400)
    big = [{"Id": str(i), "MessageBody": "x" * 120_000} for i in range(10)]
    exc = error_of(lambda: client.send_message_batch(QueueUrl=url, Entries=big))
    check(client, exc, "AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", 400)


def test_receipt_handle_refusals(client: Any, make_queue: Any) -> None:
    url = make_queue()
    exc = error_of(lambda: client.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle"))
    check(client, exc, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400)
    client.send_message(QueueUrl=url, MessageBody="x")
    (message,) = client.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    exc = error_of(
        lambda: client.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=10
        )
    )
    check(client, exc, "AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight", 400)


def test_move_task_refusals(client: Any, make_queue: Any) -> None:
    missing = "arn:aws:sqs:us-east-1:000000000000:no-such-queue"
    exc = error_of(lambda: client.list_message_move_tasks(SourceArn=missing))
    check(client, exc, "ResourceNotFoundException", "ResourceNotFoundException", 404)
    plain = make_queue()
    arn = client.get_queue_attributes(QueueUrl=plain, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    exc = error_of(lambda: client.start_message_move_task(SourceArn=arn))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    assert "Dead Letter Queue" in exc.response["Error"]["Message"]
    exc = error_of(lambda: client.cancel_message_move_task(TaskHandle="bad"))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)


def test_permission_refusals(client: Any, make_queue: Any) -> None:
    url = make_queue()
    exc = error_of(lambda: client.remove_permission(QueueUrl=url, Label="none"))
    check(client, exc, "InvalidParameterValue", "InvalidParameterValueException", 400)
    client.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["111122223333"], Actions=["*"])
    exc = error_of(
        lambda: client.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["111122223333"], Actions=["*"])
    )
    assert (
        exc.response["Error"]["Message"] == "Value l for parameter Label is invalid. Reason: Already exists."
    )
    policy = client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    assert json.loads(policy)["Statement"][0]["Action"] == "SQS:*"

"""The query protocol by GET, as SQS's documentation shows it (``GET /ACCOUNT/QUEUE?Action=...``),
and SQS's answers to the odd requests of that style."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from qworker.testing.serve import ServeProcess


def get(url: str, params: dict[str, str] | None = None, **headers: str) -> tuple[int, bytes]:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_send_and_receive_by_get_on_the_queue_url(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"get-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    status, body = get(url, {"Action": "SendMessage", "MessageBody": "by get & <xml>"})
    assert status == 200 and b"<MessageId>" in body
    status, body = get(url, {"Action": "ReceiveMessage", "VisibilityTimeout": "0"})
    assert status == 200 and b"<Body>by get &amp; &lt;xml&gt;</Body>" in body
    status, body = get(url, {"Action": "PurgeQueue"})
    status, body = get(url, {"Action": "ReceiveMessage"})
    assert b"<ReceiveMessageResult/>" in body


def test_json_is_negotiated_for_query_clients(server: ServeProcess, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"neg-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"a": "b\\r"}')
    status, body = get(server.url, {"Action": "ReceiveMessage", "QueueUrl": url}, Accept="application/json")
    doc = json.loads(body)
    assert doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["messages"][0]["Body"] == '{"a": "b\\r"}'
    status, body = get(server.url, {"Action": "ListQueues"})
    assert status == 200 and body.startswith(b'<?xml version="1.0"?><ListQueuesResponse')


def test_no_action_is_an_unknown_operation(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"noact-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert get(url) == (404, b"<UnknownOperationException/>")
    assert get(url, Accept="application/json") == (404, b"<UnknownOperationException/>")


def test_queue_less_actions_are_refused_on_a_queue_url(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"ql-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for action in ("CreateQueue", "ListQueues"):
        status, body = get(url, {"Action": action, "QueueName": "other"})
        assert status == 400
        assert b"<Code>InvalidAction</Code>" in body
        assert f"<Message>The action {action} is not valid for this endpoint.".encode() in body

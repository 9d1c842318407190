"""The request path's shortcuts give what the full checks give: plain send entries, batch entry
ids checked once, the batch size counted only when it may be over, header lines checked once."""

from __future__ import annotations

import pytest

from qworker.backend import MessageAttributeValue, SendEntry
from qworker.serve import protocol
from qworker.serve.actions import batches
from qworker.serve.actions.send import _check_batch_size
from qworker.serve.errors import SQSError
from qworker.serve.messages import send_entry


def test_a_plain_entry_is_what_the_full_decoding_makes() -> None:
    plain = send_entry({"Id": "a", "MessageBody": "hé"}, "a", trace="Root=1")
    assert plain == SendEntry("hé", id="a", trace_header="Root=1")
    full = send_entry({"Id": "a", "MessageBody": "hé", "DelaySeconds": None}, "a", trace="Root=1")
    assert full == plain
    assert send_entry({"QueueUrl": "q", "MessageBody": "x"}, None) == SendEntry("x")


@pytest.mark.parametrize("body", [1, b"x", ["x"], True])
def test_a_body_that_is_not_a_string_is_still_refused(body: object) -> None:
    with pytest.raises(SQSError) as exc:
        send_entry({"MessageBody": body}, None)
    assert exc.value.name == "InvalidParameterValueException"


def test_entries_with_more_than_a_body_take_the_full_path() -> None:
    entry = send_entry(
        {"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}}, None
    )
    assert entry.message_attributes == {"a": MessageAttributeValue("String", "v")}
    assert send_entry({"MessageBody": None}, None).body == ""


def test_batch_entry_ids_are_checked_every_time_they_are_invalid() -> None:
    assert batches.check_entries([{"Id": "0"}, {"Id": "1"}], "SendMessageBatch") == ["0", "1"]
    assert batches.check_entries([{"Id": "0"}, {"Id": "1"}], "SendMessageBatch") == ["0", "1"]
    for bad in ("", "a b", "x" * 81, ["0"], {"a": 1}, 0, None):
        with pytest.raises(SQSError) as exc:
            batches.check_entries([{"Id": "0"}, {"Id": bad}], "SendMessageBatch")
        assert exc.value.name == "InvalidBatchEntryId"
    with pytest.raises(SQSError) as exc:
        batches.check_entries([{"Id": "0"}, {"Id": "0"}], "SendMessageBatch")
    assert exc.value.name == "BatchEntryIdsNotDistinct"


def test_the_batch_size_is_counted_in_bytes_when_it_may_be_over() -> None:
    limit = 1_048_576
    _check_batch_size([SendEntry("x" * (limit // 4))])  # few characters: not counted
    _check_batch_size([SendEntry("€" * (limit // 3))])  # 3 bytes each: counted, under
    with pytest.raises(SQSError) as exc:
        _check_batch_size([SendEntry("€" * (limit // 3 + 1))])
    assert exc.value.name == "BatchRequestTooLong"
    with pytest.raises(SQSError):
        _check_batch_size([SendEntry("x" * limit), SendEntry("y")])
    attribute = {"a" * 10: MessageAttributeValue("String", "v" * 10)}
    with pytest.raises(SQSError):  # the attributes count too
        _check_batch_size([SendEntry("x" * (limit - 20), message_attributes=attribute)])


def test_an_invalid_header_line_is_refused_every_time() -> None:
    protocol._check_header(b"content-type", b"text/plain")
    assert (b"content-type", b"text/plain") in protocol._valid_headers
    for _ in range(2):
        with pytest.raises(RuntimeError):
            protocol._check_header(b"x-bad", b"a\r\nb")
        assert (b"x-bad", b"a\r\nb") not in protocol._valid_headers

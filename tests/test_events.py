"""Lambda SQS event records (SPEC EVT-1..8, FLT-5, ESM-B-4)."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.parser.models import SqsModel
from hypothesis import given, settings
from hypothesis import strategies as st

from qworker import digest
from qworker.backend import MessageAttributeValue, ReceivedMessage
from qworker.events import (
    EMPTY_EVENT_BYTES,
    EVENT_SOURCE,
    MAX_EVENT_BYTES,
    SYSTEM_ATTRIBUTE_ORDER,
    PayloadMeter,
    build_event,
    build_record,
    complete_record,
    event_size,
    filter_view,
    java_hashmap_order,
    record_size,
)

ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"
FIFO_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue.fifo"
REGION = "us-east-2"

EVT_2_KEY_ORDER = [
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfMessageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
]


def standard_attributes(receive_count: int = 1) -> dict[str, str]:
    # deliberately not in Lambda's order: the record must reorder them
    return {
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
        "SentTimestamp": "1545082649183",
        "ApproximateReceiveCount": str(receive_count),
    }


def make_message(
    body: str = "Test message.",
    attributes: dict[str, str] | None = None,
    message_attributes: dict[str, MessageAttributeValue] | None = None,
    message_id: str | None = None,
) -> ReceivedMessage:
    message_attributes = message_attributes or {}
    return ReceivedMessage(
        message_id=message_id or str(uuid.uuid4()),
        receipt_handle="AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a" + uuid.uuid4().hex,
        body=body,
        md5_of_body=digest.md5_of_body(body),
        attributes=standard_attributes() if attributes is None else attributes,
        message_attributes=message_attributes,
        md5_of_message_attributes=digest.md5_of_message_attributes(message_attributes),
    )


def fifo_attributes(group: str = "1", sequence: str = "18849496460467696128") -> dict[str, str]:
    return {
        **standard_attributes(),
        "MessageDeduplicationId": "dedup-1",
        "MessageGroupId": group,
        "SequenceNumber": sequence,
    }


# -- digests: qworker.digest against SQS's published vectors (EVT-3, EVT-6) ----------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(
            {"attribName1": MessageAttributeValue("String", "attribValue 1")},
            "19e27d4e946b072f3f58da80d94fd778",
            id="EVT-6-string",
        ),
        pytest.param(
            {
                "customNumberTypeAttrib": MessageAttributeValue(
                    "Number.float", "4563442423554324324264524243.32543234"
                )
            },
            "9fe1b90bbd9965bdf77bac517c7d2495",
            id="EVT-6-number-custom-label",
        ),
        pytest.param(
            {"binaryAttribute": MessageAttributeValue("Binary", binary_value=b"Hello binary world!")},
            "31a92b15d92f8db860eda32aceb656c3",
            id="EVT-6-binary",
        ),
        pytest.param(
            {
                "attribName1": MessageAttributeValue("String", "attribValue 1"),
                "customNumberTypeAttrib": MessageAttributeValue(
                    "Number.float", "4563442423554324324264524243.32543234"
                ),
                "binaryAttribute": MessageAttributeValue("Binary", binary_value=b"Hello binary world!"),
            },
            "c932db14a896c663f83c260297d594ff",
            id="EVT-6-all-three",
        ),
        pytest.param(
            {  # LocalStack's AWS-recorded snapshot (SPEC §3.1 example)
                "Title": MessageAttributeValue("String", "The Whistler"),
                "Author": MessageAttributeValue("String", "John Grisham"),
                "WeeksOn": MessageAttributeValue("Number", "6"),
            },
            "d25a6aea97eb8f585bfa92d314504a92",
            id="EVT-6-aws-recorded-event",
        ),
    ],
)
def test_md5_of_message_attributes_matches_sqs_vectors(
    attributes: dict[str, MessageAttributeValue], expected: str
) -> None:
    assert digest.md5_of_message_attributes(attributes) == expected
    record = build_record(make_message(message_attributes=attributes), ARN, REGION)
    assert record["md5OfMessageAttributes"] == expected


def test_md5_of_body_evt_3() -> None:
    # the body of the Lambda guide's example event and its md5OfBody
    assert digest.md5_of_body("Test message.") == "e4e68fb7bd0e697a0ae8f1bb342846b3"
    body = "héllo ✓ 😀"
    record = build_record(make_message(body=body), ARN, REGION)
    assert record["md5OfBody"] == digest.md5_of_body(body) == digest.md5_of_body(record["body"])


# -- record shape ---------------------------------------------------------------------------------


def test_standard_record_evt_2_to_8() -> None:
    message = make_message(message_id="059f36b4-87a3-44ab-83d2-661975830a7d")
    record = build_record(message, ARN, REGION)
    assert list(record) == EVT_2_KEY_ORDER  # EVT-2
    assert record == {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": message.receipt_handle,
        "body": "Test message.",  # EVT-3: the string, never parsed
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},  # EVT-5
        "md5OfMessageAttributes": None,  # EVT-6: present, null
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",  # EVT-7
        "eventSourceARN": ARN,
        "awsRegion": REGION,
    }
    # EVT-4: Lambda's key order of the standard attributes (real AWS events)
    assert list(record["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert json.dumps(record).count('"md5OfMessageAttributes": null') == 1


def test_json_body_stays_a_string_evt_3() -> None:
    body = '{"foo": "bar", "n": 1}'
    record = build_record(make_message(body=body), ARN, REGION)
    assert record["body"] == body
    assert isinstance(record["body"], str)


def test_fifo_record_evt_4_esm_fifo_7() -> None:
    record = build_record(make_message(attributes=fifo_attributes()), FIFO_ARN, REGION)
    # order of the FIFO example event in the Lambda developer guide
    assert list(record["attributes"].items()) == [
        ("ApproximateReceiveCount", "1"),
        ("SentTimestamp", "1545082649183"),
        ("SequenceNumber", "18849496460467696128"),
        ("MessageGroupId", "1"),
        ("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
        ("MessageDeduplicationId", "dedup-1"),
        ("ApproximateFirstReceiveTimestamp", "1545082649185"),
    ]
    assert all(isinstance(value, str) for value in record["attributes"].values())
    assert record["eventSourceARN"] == FIFO_ARN
    assert list(record) == EVT_2_KEY_ORDER


def test_dead_letter_queue_record_esm_dlq_5() -> None:
    attributes = {
        **standard_attributes(receive_count=3),
        "AWSTraceHeader": "Root=1-65250495-30b227ef4ea882e709192510;Parent=6b522ce06cfce549;Sampled=0",
        "DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-2:123456789012:my-queue",
    }
    record = build_record(make_message(attributes=attributes), ARN + "-dlq", REGION)
    # the key order of a real event delivered from a dead-letter queue (2023, ap-southeast-1)
    assert list(record["attributes"]) == [
        "DeadLetterQueueSourceArn",
        "ApproximateReceiveCount",
        "AWSTraceHeader",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert record["attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-2:123456789012:my-queue"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"


def test_unknown_system_attributes_are_kept_last_in_their_order() -> None:
    attributes = {"Zeta": "z", **standard_attributes(), "Alpha": "a"}
    record = build_record(make_message(attributes=attributes), ARN, REGION)
    assert list(record["attributes"])[-2:] == ["Zeta", "Alpha"]
    assert record["attributes"] == attributes


def test_message_attributes_of_each_type_evt_5() -> None:
    attributes = {
        "str": MessageAttributeValue("String", "hello ✓"),
        "num": MessageAttributeValue("Number", "6"),
        "bin": MessageAttributeValue("Binary", binary_value=b"\x00\x01\xffbinary"),
        "json": MessageAttributeValue("String.json", '{"a": 1}'),
        "float": MessageAttributeValue("Number.float", "4563442423554324324264524243.32543234"),
        "gz": MessageAttributeValue("Binary.gzip", binary_value=b"\x1f\x8b"),
        "empty-bin": MessageAttributeValue("Binary", binary_value=b""),
    }
    record = build_record(make_message(message_attributes=attributes), ARN, REGION)
    values = record["messageAttributes"]
    assert set(values) == set(attributes)
    for name, source in attributes.items():
        value = values[name]
        assert list(value) == [
            "stringValue",
            "binaryValue",
            "stringListValues",
            "binaryListValues",
            "dataType",
        ]
        assert value["dataType"] == source.data_type  # custom labels kept
        assert value["stringListValues"] == []
        assert value["binaryListValues"] == []
        if source.data_type.startswith("Binary"):
            assert value["stringValue"] is None
            assert isinstance(value["binaryValue"], str)
            assert base64.b64decode(value["binaryValue"], validate=True) == source.binary_value
        else:
            assert value["stringValue"] == source.string_value
            assert value["binaryValue"] is None
    assert values["bin"]["binaryValue"] == "AAH/YmluYXJ5"
    assert record["md5OfMessageAttributes"] == digest.md5_of_message_attributes(attributes)


def test_message_attribute_lists_are_fresh_per_record() -> None:
    attributes = {"a": MessageAttributeValue("String", "x"), "b": MessageAttributeValue("String", "y")}
    message = make_message(message_attributes=attributes)
    first = build_record(message, ARN, REGION)
    first["messageAttributes"]["a"]["stringListValues"].append("mutated")
    second = build_record(message, ARN, REGION)
    assert second["messageAttributes"]["a"]["stringListValues"] == []
    assert second["messageAttributes"]["b"]["stringListValues"] == []


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        # LocalStack's AWS-validated snapshot: sent Title, Author, WeeksOn
        (["Title", "Author", "WeeksOn"], ["WeeksOn", "Author", "Title"]),
        # a real 2024 event (aws-powertools/powertools-lambda-typescript#3398)
        (["type", "Content-Type", "X-Symfony-Messenger"], ["X-Symfony-Messenger", "type", "Content-Type"]),
    ],
)
def test_message_attribute_order_matches_recorded_aws_events_evt_5(
    sent: list[str], received: list[str]
) -> None:
    attributes = {name: MessageAttributeValue("String", name.lower()) for name in sent}
    record = build_record(make_message(message_attributes=attributes), ARN, REGION)
    assert list(record["messageAttributes"]) == received


def _java_string_hash(text: str) -> int:
    """An independent Java String.hashCode (signed 32-bit), over UTF-16 code units."""
    data = text.encode("utf-16-be")
    h = 0
    for unit in (int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)):
        h = (h * 31 + unit) % 2**32
    return h - 2**32 if h >= 2**31 else h


def test_java_string_hash_reference_values() -> None:
    # well-known Java values: "hello".hashCode() == 99162322, "Aa" and "BB" collide (2112)
    assert _java_string_hash("hello") == 99162322
    assert _java_string_hash("Aa") == _java_string_hash("BB") == 2112
    assert _java_string_hash("") == 0


def test_system_attribute_order_is_java_hashmap_order() -> None:
    def bucket(name: str) -> int:
        h = _java_string_hash(name) % 2**32
        return (h ^ (h >> 16)) & 15

    # SQS returns ApproximateReceiveCount before AWSTraceHeader, their bucket is shared
    sqs_order = [
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "AWSTraceHeader",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "DeadLetterQueueSourceArn",
    ]
    assert list(SYSTEM_ATTRIBUTE_ORDER) == sorted(sqs_order, key=bucket)
    assert java_hashmap_order(sqs_order) == list(SYSTEM_ATTRIBUTE_ORDER)


def test_java_hashmap_order_grows_capacity_and_handles_non_bmp_names() -> None:
    names = [f"attr{i}" for i in range(13)]  # more than 12 entries: 32 buckets

    def bucket(name: str) -> int:
        h = _java_string_hash(name) % 2**32
        return (h ^ (h >> 16)) & 31

    assert java_hashmap_order(names) == sorted(names, key=bucket)
    assert sorted(java_hashmap_order(["😀", "a", "é"])) == sorted(["😀", "a", "é"])


# -- filter view (FLT-5) and in-place completion ----------------------------------------------------


def test_filter_view_lacks_source_metadata_flt_5() -> None:
    message = make_message(message_attributes={"k": MessageAttributeValue("String", "v")})
    view = filter_view(message)
    assert list(view) == EVT_2_KEY_ORDER[:7]
    assert "eventSource" not in view
    assert "eventSourceARN" not in view
    assert "awsRegion" not in view
    record = complete_record(view, ARN, REGION)
    assert record is view  # completed in place: the hot path builds one dict per message
    assert list(record) == EVT_2_KEY_ORDER
    assert record == build_record(message, ARN, REGION)
    assert record["eventSource"] == EVENT_SOURCE


def test_record_edits_do_not_reach_the_received_message() -> None:
    message = make_message(attributes=fifo_attributes(group="g"))
    record = build_record(message, FIFO_ARN, REGION)
    record["attributes"].pop("MessageGroupId")
    record["attributes"]["ApproximateReceiveCount"] = "99"
    assert message.message_group_id == "g"
    assert message.receive_count == 1


# -- whole events against Powertools' models -----------------------------------------------------------


def test_standard_event_validates_against_powertools_sqs_model() -> None:
    messages = [
        make_message(),
        make_message(
            body='{"a": 1}',
            message_attributes={
                "s": MessageAttributeValue("String", "v"),
                "n": MessageAttributeValue("Number.int", "42"),
                "b": MessageAttributeValue("Binary", binary_value=b"\x01\x02"),
            },
        ),
        make_message(
            attributes={
                **standard_attributes(2),
                "AWSTraceHeader": "Root=1-5e1b4151-5ac6c58239c1e5b4",
                "DeadLetterQueueSourceArn": ARN,
            }
        ),
    ]
    event = build_event([build_record(m, ARN, REGION) for m in messages])
    assert list(event) == ["Records"]  # EVT-1
    parsed = SqsModel.model_validate(event)
    assert [r.messageId for r in parsed.Records] == [m.message_id for m in messages]
    assert parsed.Records[1].messageAttributes["b"].binaryValue == "AQI="
    assert parsed.Records[1].messageAttributes["n"].stringValue == "42"
    assert parsed.Records[2].attributes.DeadLetterQueueSourceArn == ARN
    # the same event through Powertools' data classes, which handlers also use
    data = SQSEvent(event)
    records = list(data.records)
    assert records[1].message_attributes["b"].binary_value == "AQI="
    assert records[1].json_body == {"a": 1}
    assert records[0].queue_url.endswith("/123456789012/my-queue")


def test_fifo_event_validates_against_powertools_sqs_model() -> None:
    messages = [
        make_message(attributes=fifo_attributes(group=g, sequence=str(n))) for n, g in enumerate("aab")
    ]
    event = build_event([build_record(m, FIFO_ARN, REGION) for m in messages])
    parsed = SqsModel.model_validate(event)
    assert [r.attributes.MessageGroupId for r in parsed.Records] == ["a", "a", "b"]
    assert [r.attributes.SequenceNumber for r in parsed.Records] == ["0", "1", "2"]
    assert all(r.attributes.MessageDeduplicationId == "dedup-1" for r in parsed.Records)
    assert parsed.Records[0].eventSourceARN == FIFO_ARN


# -- payload size (ESM-B-4) ---------------------------------------------------------------------------


def compact_json_bytes(value: object) -> int:
    """The encoding PayloadMeter documents it counts, computed independently."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=20
)
_attribute_values = st.one_of(
    st.builds(
        MessageAttributeValue,
        data_type=st.sampled_from(["String", "Number", "String.json", "Number.float"]),
        string_value=st.text(max_size=50),
    ),
    st.builds(
        MessageAttributeValue,
        data_type=st.sampled_from(["Binary", "Binary.gzip"]),
        binary_value=st.binary(max_size=50),
    ),
)
_messages = st.builds(
    make_message,
    body=st.text(max_size=300),  # any code point but surrogates: controls, quotes, emoji, U+2028
    attributes=st.one_of(
        st.just(standard_attributes()),
        st.just(fifo_attributes()),
        st.dictionaries(_names, st.text(max_size=30), max_size=8),
    ),
    message_attributes=st.dictionaries(_names, _attribute_values, max_size=10),
)


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_messages, max_size=12), arn_suffix=st.text(max_size=10))
def test_payload_meter_agrees_with_serialized_event_esm_b_4(
    messages: list[ReceivedMessage], arn_suffix: str
) -> None:
    records = [build_record(m, ARN + arn_suffix, REGION) for m in messages]
    meter = PayloadMeter()
    for record in records:
        size = record_size(record)
        assert size == compact_json_bytes(record)
        assert meter.fits(size)
        meter.add(size)
    event = build_event(records)
    assert meter.size == compact_json_bytes(event) == event_size(records)
    assert meter.count == len(records)
    # what the meter counts is never more than Python's default json.dumps of the event, which
    # adds spaces and \\u escapes: a batch is never cut earlier than Lambda could cut it
    assert meter.size <= len(json.dumps(event).encode())


def test_empty_event_size() -> None:
    assert EMPTY_EVENT_BYTES == len(b'{"Records":[]}') == event_size([]) == PayloadMeter().size


def test_meter_cuts_before_the_limit_and_keeps_the_record_esm_b_4() -> None:
    body = "x" * (256 * 1024)
    records = [build_record(make_message(body=body), ARN, REGION) for _ in range(30)]
    meter = PayloadMeter()
    batches: list[list[dict[str, object]]] = [[]]
    for record in records:
        size = record_size(record)
        if not meter.fits(size):
            batches.append([])
            meter.reset()
        meter.add(size)
        batches[-1].append(record)
    assert sum(len(batch) for batch in batches) == len(records)  # nothing dropped
    assert len(batches) == 2
    first = batches[0]
    assert compact_json_bytes(build_event(first)) <= MAX_EVENT_BYTES
    assert compact_json_bytes(build_event([*first, batches[1][0]])) > MAX_EVENT_BYTES
    assert len(first) == 23  # 24 records of 256 KiB would pass 6,291,456 bytes with metadata


def test_meter_fits_is_exact_at_the_limit() -> None:
    record = build_record(make_message(), ARN, REGION)
    size = record_size(record)
    meter = PayloadMeter(limit=EMPTY_EVENT_BYTES + size + 1 + size)  # room for exactly two
    assert meter.fits(size)
    meter.add(size)
    assert meter.fits(size)
    meter.add(size)
    assert meter.remaining == 0
    assert not meter.fits(size)
    assert not meter.fits(0)  # even an empty record needs its comma
    assert meter.size == compact_json_bytes(build_event([record, record]))


def test_lone_oversized_record_still_fits_an_empty_batch() -> None:
    record = build_record(make_message(body="y" * 500), ARN, REGION)
    meter = PayloadMeter(limit=100)
    size = record_size(record)
    assert meter.fits(size)  # alone: it cannot be delivered any other way
    meter.add(size)
    assert meter.remaining < 0
    assert not meter.fits(1)
    meter.reset()
    assert (meter.size, meter.count) == (EMPTY_EVENT_BYTES, 0)
    assert re.fullmatch(r"PayloadMeter\(size=\d+, count=0, limit=100\)", repr(meter))


def test_meter_rejects_a_limit_below_an_empty_event() -> None:
    with pytest.raises(ValueError, match="at least 14 bytes"):
        PayloadMeter(limit=10)


def test_record_size_counts_utf8_bytes_and_escapes() -> None:
    for body in ["plain", 'quote " and \\ backslash', "tab\tnewline\n", "é✓😀", "\x01\x1f", "\u2028"]:
        record = build_record(make_message(body=body), ARN, REGION)
        assert record_size(record) == compact_json_bytes(record)

"""Partial batch responses under ReportBatchItemFailures (SPEC ESM-P-1..8, ESM-FIFO-5)."""

from __future__ import annotations

import json
import math
import uuid
from collections import namedtuple
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from qworker import digest
from qworker.backend import ReceivedMessage
from qworker.events import build_event, build_record
from qworker.response_json import MAX_DEPTH, MAX_RESPONSE_BYTES
from qworker.responses import (
    BatchOutcome,
    Verdict,
    fifo_strict,
    interpret_response,
    mode_off_warning,
)

A, B, C = "059f36b4-87a3-44ab-83d2-661975830a7d", "2e1424d4-f796-459a-8184-9c92662be6da", "c-id"
BATCH = [A, B, C]


def failures(*ids: object) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


class Failure(NamedTuple):
    itemIdentifier: str


class PydanticResponse(BaseModel):
    batchItemFailures: list[dict[str, str]]


@dataclass
class DataclassResponse:
    batchItemFailures: list[dict[str, str]]


SUCCESS, PARTIAL, FAILURE = Verdict.SUCCESS, Verdict.PARTIAL, Verdict.FAILURE
ALL = frozenset(BATCH)
NONE: frozenset[str] = frozenset()

# (value, verdict, failed ids, text the reason must start with, function error)
CASES = [
    # ESM-P-3: complete success
    pytest.param(None, SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-none"),
    pytest.param({}, SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-empty-object"),
    pytest.param({"batchItemFailures": None}, SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-null-list"),
    pytest.param({"batchItemFailures": []}, SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-empty-list"),
    pytest.param(b"null", SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-null-payload-bytes"),
    pytest.param(b"{}", SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-empty-object-bytes"),
    pytest.param({"batchItemFailures": ()}, SUCCESS, NONE, "ESM-P-3", False, id="ESM-P-3-empty-tuple"),
    # ESM-P-2: partial
    pytest.param(failures(B), PARTIAL, frozenset({B}), "ESM-P-2", False, id="ESM-P-2-one"),
    pytest.param(failures(A, C), PARTIAL, frozenset({A, C}), "ESM-P-2", False, id="ESM-P-2-two"),
    pytest.param(
        b'{"batchItemFailures":[{"itemIdentifier":"c-id"}]}',
        PARTIAL,
        frozenset({C}),
        "ESM-P-2",
        False,
        id="ESM-P-2-raw-json-bytes",
    ),
    pytest.param(
        {"batchItemFailures": [Failure(B)]},
        PARTIAL,
        frozenset({B}),
        "ESM-P-2",
        False,
        id="ESM-P-2-namedtuple",
    ),
    pytest.param(
        {"batchItemFailures": ({"itemIdentifier": B},)},
        PARTIAL,
        frozenset({B}),
        "ESM-P-2",
        False,
        id="ESM-P-2-tuple-of-items",
    ),
    # ESM-P-8: every message listed
    pytest.param(failures(A, B, C), PARTIAL, ALL, "ESM-P-8", False, id="ESM-P-8-all-listed"),
    pytest.param(
        failures(C, B, A, A), PARTIAL, ALL, "ESM-P-8", False, id="ESM-P-8-all-listed-with-duplicate"
    ),
    # ESM-P-4: complete failure
    pytest.param(failures(""), FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-empty-string-id"),
    pytest.param(failures(None), FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-null-id"),
    pytest.param(
        {"batchItemFailures": [{"foo": "notvalid"}]},
        FAILURE,
        ALL,
        "ESM-P-4",
        False,
        id="ESM-P-4-wrong-key-name",
    ),
    pytest.param(
        {"batchItemFailures": [{"ItemIdentifier": A}]}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-key-case"
    ),
    pytest.param({"batchItemFailures": [{}]}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-empty-item"),
    pytest.param(failures("not-in-batch"), FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-unknown-id"),
    pytest.param(failures(A, "x"), FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-one-valid-one-unknown"),
    pytest.param(
        {"batchItemFailures": [{"itemIdentifier": A.upper()}]},
        FAILURE,
        ALL,
        "ESM-P-4",
        False,
        id="ESM-P-4-id-case",
    ),
    pytest.param(b"{not json", FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-invalid-json-bytes"),
    pytest.param(b"", FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-empty-payload"),
    pytest.param(b"\xff\xfe\x00", FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-payload-not-utf8"),
    pytest.param(b'{"batchItemFailures": NaN}', FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-NaN-bytes"),
    pytest.param(
        {"batchItemFailures": [], "score": math.nan}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-NaN-written"
    ),
    pytest.param({"x": math.inf}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-Infinity-written"),
    pytest.param({"x": Decimal("NaN")}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-Decimal-NaN"),
    pytest.param({"x": Decimal("-Infinity")}, FAILURE, ALL, "ESM-P-4", False, id="ESM-P-4-Decimal-Infinity"),
    # ESM-P-4/5: Lambda's runtime cannot serialize the value (Runtime.MarshalError, a function error)
    pytest.param(
        PydanticResponse(batchItemFailures=[{"itemIdentifier": A}]),
        FAILURE,
        ALL,
        "ESM-P-4/ESM-P-5",
        True,
        id="ESM-P-4-pydantic-model-not-serializable",
    ),
    pytest.param(
        DataclassResponse([{"itemIdentifier": A}]),
        FAILURE,
        ALL,
        "ESM-P-4/ESM-P-5",
        True,
        id="ESM-P-4-dataclass",
    ),
    pytest.param({"batchItemFailures": {A}}, FAILURE, ALL, "ESM-P-4/ESM-P-5", True, id="ESM-P-4-set"),
    pytest.param(object(), FAILURE, ALL, "ESM-P-4/ESM-P-5", True, id="ESM-P-4-object"),
    pytest.param({(1, 2): "tuple key"}, FAILURE, ALL, "ESM-P-4/ESM-P-5", True, id="ESM-P-4-tuple-key"),
    pytest.param({"x": b"\xff"}, FAILURE, ALL, "ESM-P-4/ESM-P-5", True, id="ESM-P-4-bytes-not-utf8"),
    pytest.param(bytearray(b"{}"), FAILURE, ALL, "ESM-P-4/ESM-P-5", True, id="ESM-P-4-bytearray"),
    # ESM-P-7 (decided): non-object JSON, wrong types
    pytest.param([], FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-empty-array"),
    pytest.param([{"itemIdentifier": A}], FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-array-of-items"),
    pytest.param(0, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-number"),
    pytest.param(1.5, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-float"),
    pytest.param(True, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-boolean"),
    pytest.param("", FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-empty-string"),
    pytest.param("ok", FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-string"),
    pytest.param('{"batchItemFailures": []}', FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-json-text-as-str"),
    pytest.param(b'"ok"', FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-string-payload"),
    pytest.param({"statusCode": 200}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-object-without-key"),
    pytest.param({"batchItemFailures": {}}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-list-is-object"),
    pytest.param({"batchItemFailures": A}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-list-is-string"),
    pytest.param({"batchItemFailures": 0}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-list-is-number"),
    pytest.param({"batchItemFailures": [A]}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-items-are-strings"),
    pytest.param({"batchItemFailures": [None]}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-item-null"),
    pytest.param({"batchItemFailures": [[A]]}, FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-item-array"),
    pytest.param(failures(123), FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-id-number"),
    pytest.param(failures(True), FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-id-boolean"),
    pytest.param(failures({"id": A}), FAILURE, ALL, "ESM-P-7", False, id="ESM-P-7-id-object"),
    pytest.param(
        failures(A, B, A), PARTIAL, frozenset({A, B}), "ESM-P-2", False, id="ESM-P-7-duplicate-deduped"
    ),
    pytest.param(
        {"batchItemFailures": [{"itemIdentifier": A, "reason": "x"}], "statusCode": 200, "n": Decimal("1.5")},
        PARTIAL,
        frozenset({A}),
        "ESM-P-2",
        False,
        id="ESM-P-7-extra-keys-ignored",
    ),
    pytest.param(
        {"batchItemFailures": [], "statusCode": 200},
        SUCCESS,
        NONE,
        "ESM-P-3",
        False,
        id="ESM-P-7-extra-keys-success",
    ),
    pytest.param(
        {
            1: "int key",
            None: "null key",
            2.5: "float key",
            False: "bool key",
            b"k": "bytes key",
            "batchItemFailures": [],
        },
        SUCCESS,
        NONE,
        "ESM-P-3",
        False,
        id="ESM-P-7-keys-written-as-text",
    ),
]


@pytest.mark.parametrize(("value", "verdict", "failed", "rule", "function_error"), CASES)
def test_response_table(
    value: object, verdict: Verdict, failed: frozenset[str], rule: str, function_error: bool
) -> None:
    outcome = interpret_response(value, BATCH)
    assert outcome.verdict is verdict, outcome.reason
    assert outcome.failed_ids == failed
    assert outcome.reason.startswith(rule + ":"), outcome.reason
    assert outcome.function_error is function_error
    assert outcome.all_items_failed is rule.startswith("ESM-P-8")
    assert outcome.fifo_added == ()


def test_reasons_name_the_offending_item() -> None:
    reason = interpret_response(failures(A, "not-in-batch"), BATCH).reason
    assert reason == (
        'ESM-P-4: itemIdentifier "not-in-batch" (batchItemFailures[1]) is not a message id of this batch'
    )
    assert "batchItemFailures[0] has no itemIdentifier key (its keys: foo)" in (
        interpret_response({"batchItemFailures": [{"foo": "notvalid"}]}, BATCH).reason
    )
    assert "its keys: body, statusCode" in interpret_response({"statusCode": 200, "body": "x"}, BATCH).reason
    assert "not json.dumps" in interpret_response('{"batchItemFailures": []}', BATCH).reason
    marshal = interpret_response({"batchItemFailures": [{"itemIdentifier": {A}}]}, BATCH).reason
    assert "Object of type set is not JSON serializable at $.batchItemFailures[0].itemIdentifier" in marshal
    assert "Runtime.MarshalError" in marshal
    assert "duplicate" in interpret_response(failures(A, A), BATCH).reason
    long_id = "z" * 500
    assert len(interpret_response(failures(long_id), BATCH).reason) < 200  # clipped


def test_circular_structure_is_a_marshal_error() -> None:
    items: list[Any] = []
    items.append(items)
    response: dict[str, Any] = {"batchItemFailures": items}
    outcome = interpret_response(response, BATCH)
    assert outcome.verdict is FAILURE
    assert outcome.function_error
    assert "Circular reference detected" in outcome.reason
    loop: dict[str, Any] = {}
    loop["self"] = loop
    assert "Circular reference" in interpret_response(loop, BATCH).reason


def test_shared_but_not_circular_values_are_fine() -> None:
    item = {"itemIdentifier": A}
    extra = {"k": [1, 2]}
    outcome = interpret_response({"batchItemFailures": [item, item], "a": extra, "b": extra}, BATCH)
    assert outcome.verdict is PARTIAL
    assert outcome.failed_ids == {A}


def test_too_deep_nesting_is_a_marshal_error() -> None:
    deep: Any = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    outcome = interpret_response({"batchItemFailures": [], "deep": deep}, BATCH)
    assert outcome.verdict is FAILURE
    assert outcome.function_error
    assert "nested more than" in outcome.reason
    shallow: Any = []
    for _ in range(MAX_DEPTH - 5):
        shallow = [shallow]
    assert interpret_response({"batchItemFailures": [], "x": shallow}, BATCH).verdict is SUCCESS


def test_response_over_six_mb_is_a_function_error() -> None:
    big = {"batchItemFailures": [], "padding": "x" * MAX_RESPONSE_BYTES}
    outcome = interpret_response(big, BATCH)
    assert outcome.verdict is FAILURE
    assert outcome.function_error
    assert outcome.reason.startswith("ESM-P-5: the response is 6,291,")
    assert "Function.ResponseSizeTooLarge" in outcome.reason
    assert "MarshalError" not in outcome.reason
    raw = b'{"batchItemFailures":[],"p":"' + b"x" * MAX_RESPONSE_BYTES + b'"}'
    assert "ResponseSizeTooLarge" in interpret_response(raw, BATCH).reason
    fits = {"batchItemFailures": [], "padding": "x" * (MAX_RESPONSE_BYTES - 100)}
    assert interpret_response(fits, BATCH).verdict is SUCCESS


class Hostile:
    """Every attribute access raises: the reader must still answer."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class ExplodingDict(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("boom")


class WeirdStr(str):
    __slots__ = ()

    def __str__(self) -> str:
        return "something else"

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparisons")

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "value",
    [
        Hostile(),
        {"batchItemFailures": [Hostile()]},
        ExplodingDict(a=1),
        {"batchItemFailures": ExplodingDict()},
    ],
    ids=["hostile-object", "hostile-item", "exploding-dict", "exploding-list-dict"],
)
def test_hostile_objects_fail_the_batch_without_raising(value: object) -> None:
    outcome = interpret_response(value, BATCH)
    assert outcome.verdict is FAILURE
    assert outcome.failed_ids == ALL
    assert outcome.function_error
    assert outcome.reason.startswith("ESM-P-4/ESM-P-5:")


def test_subclassed_scalars_are_read_by_their_value() -> None:
    outcome = interpret_response({"batchItemFailures": [{"itemIdentifier": WeirdStr(B)}]}, BATCH)
    assert outcome.verdict is PARTIAL
    assert outcome.failed_ids == {B}


def test_batch_ids_may_be_any_collection() -> None:
    assert interpret_response(failures(A), {A: 1, B: 2}.keys()).failed_ids == {A}
    assert interpret_response(failures(A), (A, B)).failed_ids == {A}
    assert interpret_response(failures(A), [A, A, B]).verdict is PARTIAL
    assert interpret_response(failures(A), [A]).all_items_failed
    assert interpret_response(failures(A), []).verdict is FAILURE
    assert interpret_response({"batchItemFailures": []}, []).verdict is SUCCESS


def test_outcome_to_delete_keeps_batch_order() -> None:
    outcome = interpret_response(failures(B), BATCH)
    assert outcome.to_delete(BATCH) == [A, C]
    assert interpret_response(None, BATCH).to_delete(BATCH) == BATCH
    assert interpret_response("bad", BATCH).to_delete(BATCH) == []
    failure = BatchOutcome.failure(BATCH, "ESM-P-5: handler raised ValueError", function_error=True)
    assert failure.to_delete(BATCH) == []
    assert failure.failed_ids == ALL
    assert BatchOutcome.success("ESM-P-1: mode off").to_delete(BATCH) == BATCH


# -- against Powertools' batch processor: what handlers really return -------------------------------


def received(body: str, group: str | None = None, message_id: str | None = None) -> ReceivedMessage:
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    }
    if group is not None:
        attributes |= {"MessageGroupId": group, "MessageDeduplicationId": body, "SequenceNumber": "1"}
    return ReceivedMessage(
        message_id=message_id or str(uuid.uuid4()),
        receipt_handle="rh-" + uuid.uuid4().hex,
        body=body,
        md5_of_body=digest.md5_of_body(body),
        attributes=attributes,
        message_attributes={},
        md5_of_message_attributes=None,
    )


def test_powertools_process_partial_response_is_read_esm_p_2() -> None:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    messages = [received(body) for body in ["ok", "fail", "ok", "fail"]]
    event = build_event(
        [build_record(m, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1") for m in messages]
    )

    def record_handler(record: Any) -> None:
        if record.body == "fail":
            raise ValueError("bad record")

    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=None
    )
    outcome = interpret_response(response, [m.message_id for m in messages])
    assert outcome.verdict is PARTIAL
    assert outcome.failed_ids == {messages[1].message_id, messages[3].message_id}
    assert not outcome.all_items_failed


def test_powertools_all_failed_without_raising_is_esm_p_8() -> None:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    messages = [received("fail") for _ in range(3)]
    event = build_event(
        [build_record(m, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1") for m in messages]
    )

    def record_handler(record: Any) -> None:
        raise ValueError("bad record")

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=None
    )
    outcome = interpret_response(response, [m.message_id for m in messages])
    assert outcome.verdict is PARTIAL
    assert outcome.all_items_failed
    assert not outcome.function_error
    assert outcome.reason.startswith("ESM-P-8:")


# -- ESM-P-1: the response is ignored when the mode is off ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "listed"),
    [
        pytest.param(None, None, id="ESM-P-1-none"),
        pytest.param({}, None, id="ESM-P-1-empty"),
        pytest.param({"batchItemFailures": []}, None, id="ESM-P-1-empty-list"),
        pytest.param({"batchItemFailures": None}, None, id="ESM-P-1-null-list"),
        pytest.param({"statusCode": 200}, None, id="ESM-P-1-other-response"),
        pytest.param(failures(A), 1, id="ESM-P-1-one-listed"),
        pytest.param(failures(A, B, "unknown"), 3, id="ESM-P-1-three-listed"),
        pytest.param({"batchItemFailures": (Failure(A),)}, 1, id="ESM-P-1-tuple"),
        pytest.param('{"batchItemFailures": [{"itemIdentifier": "x"}]}', 1, id="ESM-P-1-json-text"),
        pytest.param(b'{"batchItemFailures": [{}, {}]}', 2, id="ESM-P-1-json-bytes"),
        pytest.param("batchItemFailures: not json", None, id="ESM-P-1-broken-text"),
        pytest.param(Hostile(), None, id="ESM-P-1-hostile"),
        pytest.param(namedtuple("R", "batchItemFailures")([1, 2]), 2, id="ESM-P-1-namedtuple"),
        pytest.param([{"batchItemFailures": [1]}], None, id="ESM-P-1-list"),
    ],
)
def test_mode_off_warning(value: object, listed: int | None) -> None:
    warning = mode_off_warning(value)
    if listed is None:
        assert warning is None
        return
    assert warning is not None
    assert f"listing {listed} message" in warning
    assert "ESM-P-1" in warning
    assert "ReportBatchItemFailures is off" in warning
    assert "EVERY message" in warning
    assert "--report-batch-item-failures" in warning


# -- ESM-FIFO-5: fifo_strict ------------------------------------------------------------------------------


def fifo_batch(groups: str) -> list[ReceivedMessage]:
    return [received(f"m{n}", group=group, message_id=f"m{n}") for n, group in enumerate(groups)]


def test_fifo_strict_fails_the_rest_of_the_group_esm_fifo_5() -> None:
    batch = fifo_batch("aabab")  # m0 a, m1 a, m2 b, m3 a, m4 b
    ids = [m.message_id for m in batch]
    outcome = fifo_strict(interpret_response(failures("m1"), ids), batch)
    assert outcome.verdict is PARTIAL
    assert outcome.failed_ids == {"m1", "m3"}
    assert outcome.fifo_added == ("m3",)
    assert "ESM-FIFO-5" in outcome.reason
    assert '"a"' in outcome.reason
    assert not outcome.all_items_failed
    assert outcome.to_delete(ids) == ["m0", "m2", "m4"]


def test_fifo_strict_per_group_and_in_batch_order() -> None:
    batch = fifo_batch("abcabcabc")
    ids = [m.message_id for m in batch]
    outcome = fifo_strict(interpret_response(failures("m4", "m0"), ids), batch)  # a fails at m0, b at m4
    assert outcome.fifo_added == ("m3", "m6", "m7")
    assert outcome.failed_ids == {"m0", "m3", "m6", "m4", "m7"}
    assert outcome.to_delete(ids) == ["m1", "m2", "m5", "m8"]  # group c untouched


def test_fifo_strict_leaves_correct_responses_alone() -> None:
    batch = fifo_batch("aab")
    ids = [m.message_id for m in batch]
    correct = interpret_response(failures("m1"), ids)  # last of its group: nothing after it
    assert fifo_strict(correct, batch) is correct
    for outcome in (interpret_response(None, ids), interpret_response("bad", ids)):
        assert fifo_strict(outcome, batch) is outcome


def test_fifo_strict_can_make_every_message_failed_esm_p_8() -> None:
    batch = fifo_batch("aaa")
    ids = [m.message_id for m in batch]
    outcome = fifo_strict(interpret_response(failures("m0"), ids), batch)
    assert outcome.failed_ids == set(ids)
    assert outcome.all_items_failed
    assert "ESM-P-8" in outcome.reason
    assert not outcome.function_error


def test_fifo_strict_ignores_messages_without_a_group_and_reads_record_dicts() -> None:
    messages = [received("x", message_id="s0"), received("y", group="g", message_id="g0")]
    messages += [received("z", message_id="s1"), received("w", group="g", message_id="g1")]
    records = [build_record(m, "arn:aws:sqs:us-east-1:000000000000:q.fifo", "us-east-1") for m in messages]
    ids = [m.message_id for m in messages]
    outcome = fifo_strict(interpret_response(failures("g0", "s0"), ids), records)
    assert outcome.fifo_added == ("g1",)
    assert outcome.to_delete(ids) == ["s1"]


# -- properties -----------------------------------------------------------------------------------------


def _odd_objects() -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds(object),
        st.sets(st.integers(), max_size=3),
        st.frozensets(st.text(max_size=3), max_size=3),
        st.binary(max_size=20),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
        st.complex_numbers(max_magnitude=10),
        st.builds(Failure, st.text(max_size=5)),
        st.builds(Hostile),
        st.builds(DataclassResponse, st.just([])),
        st.just(Ellipsis),
        st.just(len),
        st.integers(min_value=-(10**30), max_value=10**30),
    )


_keys = st.one_of(
    st.text(max_size=8), st.integers(), st.none(), st.booleans(), st.floats(), st.tuples(st.integers())
)
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=10), st.sampled_from(BATCH), _odd_objects()),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(_keys, children, max_size=5),
        st.builds(lambda ids: {"itemIdentifier": ids}, children),
        st.builds(lambda items: {"batchItemFailures": items}, st.lists(children, max_size=5)),
    ),
    max_leaves=30,
)


def _check(outcome: BatchOutcome, batch: list[str]) -> None:
    assert isinstance(outcome, BatchOutcome)
    assert outcome.failed_ids <= set(batch)
    assert outcome.reason.startswith("ESM-P-")
    if outcome.verdict is FAILURE:
        assert outcome.failed_ids == set(batch)
    if outcome.verdict is SUCCESS:
        assert outcome.failed_ids == set()
    assert outcome.all_items_failed == (outcome.verdict is PARTIAL and outcome.failed_ids == set(batch))


@settings(max_examples=400, deadline=None)
@given(value=_values)
def test_interpret_response_never_raises_on_arbitrary_values(value: object) -> None:
    _check(interpret_response(value, BATCH), BATCH)
    mode_off_warning(value)  # never raises either


@settings(max_examples=100, deadline=None)
@given(value=_values)
def test_interpret_response_never_raises_on_recursive_structures(value: object) -> None:
    box: list[Any] = [value]
    box.append(box)
    wrapper: dict[str, Any] = {"batchItemFailures": box}
    outcome = interpret_response(wrapper, BATCH)
    _check(outcome, BATCH)
    assert outcome.verdict is FAILURE


@settings(max_examples=5, deadline=None)
@given(size=st.integers(min_value=10_000, max_value=60_000), filler=_values)
def test_interpret_response_never_raises_on_huge_lists(size: int, filler: object) -> None:
    batch = [str(n) for n in range(1_000)]
    _check(interpret_response({"batchItemFailures": [filler] * size}, batch), batch)
    listed = {"batchItemFailures": [{"itemIdentifier": str(n % 1_000)} for n in range(size)]}
    outcome = interpret_response(listed, batch)
    assert outcome.all_items_failed
    assert outcome.failed_ids == set(batch)


@settings(max_examples=200, deadline=None)
@given(
    batch=st.lists(st.uuids().map(str), min_size=1, max_size=30, unique=True),
    data=st.data(),
)
def test_valid_responses_keep_exactly_the_listed_messages_esm_p_2(
    batch: list[str], data: st.DataObject
) -> None:
    listed = data.draw(st.lists(st.sampled_from(batch), max_size=40))
    extra = data.draw(
        st.dictionaries(st.text(max_size=5).filter(lambda k: k != "batchItemFailures"), st.integers())
    )
    outcome = interpret_response(
        {**extra, "batchItemFailures": [{"itemIdentifier": i} for i in listed]}, batch
    )
    _check(outcome, batch)
    assert outcome.failed_ids == set(listed)
    assert outcome.verdict is (PARTIAL if listed else SUCCESS)
    assert outcome.to_delete(batch) == [i for i in batch if i not in set(listed)]


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.sampled_from("abc"), min_size=1, max_size=12), data=st.data())
def test_fifo_strict_property_esm_fifo_5(groups: list[str], data: st.DataObject) -> None:
    batch = fifo_batch("".join(groups))
    ids = [m.message_id for m in batch]
    listed = data.draw(st.lists(st.sampled_from(ids), max_size=5))
    outcome = fifo_strict(interpret_response(failures(*listed), ids), batch)
    _check(outcome, ids)
    # after a failed message, no later message of its group is deleted; nothing else is added
    for group in set(groups):
        members = [m.message_id for m in batch if m.message_group_id == group]
        kept = [i in outcome.failed_ids for i in members]
        if True in kept:
            first = kept.index(True)
            assert all(kept[first:])
            assert not any(kept[:first])
    assert set(outcome.fifo_added) == outcome.failed_ids - set(listed)
    assert list(outcome.fifo_added) == [i for i in ids if i in set(outcome.fifo_added)]


_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),  # non-ASCII, controls, quotes: written with \\u escapes
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values)
def test_response_size_is_what_the_runtime_writes(value: object) -> None:
    # the 6 MB response check counts the bytes of the runtime's encoding: ASCII escapes and
    # ", " / ": " separators (json.dumps defaults, which simplejson shares)
    from qworker.response_json import _json_form

    form, size = _json_form(value)
    assert form == value
    assert size == len(json.dumps(value))

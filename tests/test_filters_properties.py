"""Properties of the filter engine, checked on generated records and patterns (hypothesis).

* ``$or`` of patterns matches exactly when one of them matches, and so do several filters (FLT-1);
* a pattern built from a record's own values always matches that record (FLT-9, FLT-11, arrays);
* matching never raises on any JSON record, compiling never raises anything but
  ``InvalidFilterPattern`` on any text.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qworker.filters import FilterCriteria, InvalidFilterPattern, PlainBody, parse_body

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- records -----------------------------------------------------------------------------------------

small_text = st.text(alphabet="abcAB. -*\\é", max_size=5)
numbers = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | numbers | small_text
#: field names without dots or "$or": a pattern built from them means exactly the record's own paths
plain_keys = st.sampled_from(["a", "b", "c", "id", "x-y", "", "Key"])
#: field names that exercise the dotted-key and $or-lookalike paths too
any_keys = plain_keys | st.sampled_from(["a.b", "a.", ".", "$or", "b.c.d"]) | st.text(max_size=4)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=16,
    )


def records(keys: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    bodies = st.one_of(
        json_values(keys).map(json.dumps),  # JSON bodies of every shape
        st.text(max_size=20),  # plain-string bodies (FLT-7)
    )
    return st.fixed_dictionaries(
        {
            "messageId": st.uuids().map(str),
            "receiptHandle": st.just("rh"),
            "body": bodies,
            "attributes": st.fixed_dictionaries(
                {"ApproximateReceiveCount": st.integers(1, 9).map(str)},
                optional={"MessageGroupId": small_text},
            ),
            "messageAttributes": st.dictionaries(
                keys,
                st.fixed_dictionaries({"stringValue": small_text, "dataType": st.just("String")}),
                max_size=2,
            ),
            "md5OfBody": st.just("0" * 32),
            "md5OfMessageAttributes": st.none(),
        }
    )


# -- patterns ----------------------------------------------------------------------------------------

ints = st.integers(-1000, 1000)
conditions = st.one_of(
    scalars,
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda s: {"prefix": s}, small_text),
    st.builds(lambda s: {"suffix": s}, small_text),
    st.builds(lambda s: {"equals-ignore-case": s}, small_text),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, small_text),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, small_text),
    st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["=", "<", "<=", ">", ">="]), numbers),
    st.builds(
        lambda lo, width, ops: {"numeric": [ops[0], lo, ops[1], lo + width]},
        ints,
        st.integers(1, 500),
        st.tuples(st.sampled_from([">", ">="]), st.sampled_from(["<", "<="])),
    ),
    st.builds(lambda v: {"anything-but": v}, small_text | ints),
    st.builds(lambda v: {"anything-but": v}, st.lists(small_text, min_size=1, max_size=3)),
    st.builds(lambda v: {"anything-but": v}, st.lists(ints, min_size=1, max_size=3)),
)
leaf_lists = st.lists(conditions, min_size=1, max_size=3)
object_patterns = st.recursive(
    st.dictionaries(plain_keys | st.just("a.b"), leaf_lists, min_size=1, max_size=3),
    lambda inner: (
        st.dictionaries(plain_keys | st.just("a.b"), inner | leaf_lists, min_size=1, max_size=3)
        | st.lists(inner, min_size=2, max_size=3).map(lambda alternatives: {"$or": alternatives})
    ),
    max_leaves=6,
)
#: whole patterns: on the body (object or leaf), on record fields, or both
patterns = st.one_of(
    object_patterns.map(lambda p: {"body": p}),
    leaf_lists.map(lambda leaf: {"body": leaf}),
    st.builds(lambda p, a: {"body": p, "attributes": a}, object_patterns, object_patterns),
    object_patterns.map(lambda p: {"messageAttributes": p}),
)


def compile_(*pattern: Any) -> FilterCriteria:
    return FilterCriteria.compile([json.dumps(p) for p in pattern], extensions=True)


@SETTINGS
@given(record=records(any_keys), first=patterns, second=patterns)
def test_or_matches_exactly_when_one_alternative_matches(
    record: dict[str, Any], first: dict[str, Any], second: dict[str, Any]
) -> None:
    body = parse_body(record["body"])
    either = compile_(first).matches(record, body) or compile_(second).matches(record, body)
    assert compile_({"$or": [first, second]}).matches(record, body) is either
    assert compile_(first, second).matches(record, body) is either  # several filters are ORed (FLT-1)


@SETTINGS
@given(record=records(any_keys), first=object_patterns, second=object_patterns)
def test_or_inside_body_matches_exactly_when_one_alternative_matches(
    record: dict[str, Any], first: dict[str, Any], second: dict[str, Any]
) -> None:
    either = compile_({"body": first}).matches(record) or compile_({"body": second}).matches(record)
    assert compile_({"body": {"$or": [first, second]}}).matches(record) is either


# -- a record's own values ---------------------------------------------------------------------------


def own_pattern(data: st.DataObject, value: Any) -> Any:
    """A pattern fragment that ``value`` satisfies: one consistent pick through every array."""
    if isinstance(value, dict):
        usable = {k: v for k, v in value.items() if own_pattern_possible(v)}
        if not usable:
            return None
        chosen = data.draw(st.lists(st.sampled_from(sorted(usable)), min_size=1, unique=True))
        return {key: own_pattern(data, usable[key]) for key in chosen}
    if isinstance(value, list):
        candidates = [item for item in value if own_pattern_possible(item)]
        if not candidates:
            return None
        return own_pattern(data, data.draw(st.sampled_from(candidates)))
    return [value]


def own_pattern_possible(value: Any) -> bool:
    if isinstance(value, dict):
        return any(own_pattern_possible(v) for v in value.values())
    if isinstance(value, list):
        return any(own_pattern_possible(v) for v in value)
    return True


@SETTINGS
@given(record=records(plain_keys), data=st.data())
def test_pattern_from_own_values_always_matches(record: dict[str, Any], data: st.DataObject) -> None:
    pattern: dict[str, Any] = {}
    body = parse_body(record["body"])
    body_value = body.text if isinstance(body, PlainBody) else body
    if own_pattern_possible(body_value):
        pattern["body"] = own_pattern(data, body_value)
    for key in ("attributes", "messageAttributes", "messageId"):
        if data.draw(st.booleans()) and own_pattern_possible(record[key]):
            pattern[key] = own_pattern(data, record[key])
    if not pattern:
        pattern["messageId"] = [record["messageId"]]
    assert compile_(pattern).matches(record), pattern


# -- robustness --------------------------------------------------------------------------------------

EVERY_OPERATOR = [
    {"body": {"a": ["x", 1, True, None, ""], "b": {"c": [{"exists": True}]}, "d": [{"exists": False}]}},
    {"body": {"a": [{"prefix": "a"}, {"suffix": "b"}, {"equals-ignore-case": "AB"}]}},
    {"body": {"a": [{"prefix": {"equals-ignore-case": "a"}}, {"suffix": {"equals-ignore-case": "B"}}]}},
    {"body": {"a": [{"numeric": [">", 0, "<=", 5]}, {"numeric": ["=", 1.5]}]}},
    {"body": {"a": [{"anything-but": ["x", "y"]}], "b": [{"anything-but": [0, 1]}]}},
    {"body": {"$or": [{"a": [1]}, {"b.c": [{"exists": False}]}], "a.b": [{"anything-but": 1}]}},
    {"body": [{"prefix": "x"}, {"anything-but": "y"}, None, {"exists": True}]},
    {"body": {"a": [{"wildcard": "*a*b"}, {"cidr": "10.0.0.0/8"}, {"cidr": "::1/128"}]}},
    {"body": {"a": [{"anything-but": {"prefix": "a"}}, {"anything-but": {"wildcard": ["*", "a*"]}}]}},
    {"body": {"a": [{"anything-but": {"equals-ignore-case": ["A"]}}, {"anything-but": {"suffix": "z"}}]}},
    {"attributes": {"ApproximateReceiveCount": [{"numeric": [">", 0]}, "1"]}, "eventSource": ["aws:sqs"]},
    {
        "messageAttributes": {"a.b": {"stringValue": [{"prefix": ""}]}},
        "$or": [{"body": ["x"]}, {"md5OfBody": [None]}],
    },
]


@SETTINGS
@given(
    record=st.dictionaries(any_keys, json_values(any_keys), max_size=5),
    body=st.one_of(st.text(max_size=20), json_values(any_keys).map(json.dumps), json_values(any_keys)),
    extra=patterns,
)
def test_matching_never_raises_on_any_json_record(record: dict[str, Any], body: Any, extra: Any) -> None:
    record = {**record, "body": body}
    criteria = [FilterCriteria.compile([json.dumps(p)], extensions=True) for p in EVERY_OPERATOR]
    criteria.append(compile_(extra))
    for each in criteria:
        assert isinstance(each.matches(record), bool)
        assert isinstance(each.matches(record, parse_body(body)), bool)


operator_keys = st.sampled_from(
    ["exists", "prefix", "suffix", "numeric", "anything-but", "equals-ignore-case", "wildcard", "cidr", "$or"]
)


@SETTINGS
@given(value=json_values(any_keys | operator_keys) | st.text(max_size=30), extensions=st.booleans())
def test_compiling_fails_only_with_invalid_filter_pattern(value: Any, extensions: bool) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    failure: InvalidFilterPattern | None = None
    try:
        criteria = FilterCriteria.compile([text], extensions=extensions)
    except InvalidFilterPattern as error:
        failure = error
    if failure is not None:
        assert str(failure).startswith("Invalid filter pattern definition. ")
        return
    assert criteria.active
    assert isinstance(criteria.matches({"body": text}), bool)

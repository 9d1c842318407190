"""Table of filter cases: (pattern, record, expected), each with the source it mirrors.

Sources: SPEC statement ids (FLT-*, EVT-*); ``LS:<name>`` = LocalStack's AWS-recorded EventBridge
fixture ``tests/aws/services/events/event_pattern_templates/<name>.json5`` (recorded with
``@markers.aws.validated``; ``_NEG`` = AWS said no match), moved under ``body`` because an SQS
filter matches the parsed body the way EventBridge matches ``detail``; ``LS-SNAP:<case>`` =
LocalStack's AWS-recorded Lambda SQS test ``test_lambda_integration_sqs.py``; ``EB-DOC``/``EB-RULER``
= the EventBridge user guide / the aws/event-ruler README; ``qworker`` = a documented qworker choice
where AWS is silent (see the ``qworker.filters`` module docstring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from qworker.filters import FilterCriteria, PlainBody, parse_body

Pattern = dict[str, Any] | str


def record(body: str = "{}", **fields: Any) -> dict[str, Any]:
    """A Lambda SQS record as the runtime matches it: without eventSource/ARN/region (FLT-5)."""
    rec: dict[str, Any] = {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfMessageAttributes": None,
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
    }
    rec.update(fields)
    return rec


def jbody(value: Any, **fields: Any) -> dict[str, Any]:
    """A record whose body is ``value`` serialised as JSON."""
    return record(json.dumps(value), **fields)


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    pattern: Pattern | list[Pattern]
    record: dict[str, Any]
    expected: bool
    extensions: bool = False


def B(fields: dict[str, Any]) -> dict[str, Any]:
    """A pattern on the body's fields."""
    return {"body": fields}


EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}
MA_INVOICE = {
    "Type": {"stringValue": "invoice", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
}

CASES: list[Case] = [
    # --- exact values, case, types (FLT-9, FLT-11) ------------------------------------------------
    Case(
        "exact-string",
        "L-FILT SQS example",
        B({"RequestCode": ["BBBB"]}),
        jbody({"RequestCode": "BBBB"}),
        True,
    ),
    Case(
        "exact-string-neg",
        "L-FILT SQS example",
        B({"RequestCode": ["BBBB"]}),
        jbody({"RequestCode": "AAAA"}),
        False,
    ),
    Case(
        "exact-case-sensitive", "FLT-9", B({"RequestCode": ["BBBB"]}), jbody({"RequestCode": "bbbb"}), False
    ),
    Case(
        "key-case-sensitive",
        "LS:key_case_sensitive_NEG",
        B({"requestcode": ["BBBB"]}),
        jbody({"RequestCode": "BBBB"}),
        False,
    ),
    Case("exact-no-trim", "FLT-9", B({"a": ["x"]}), jbody({"a": " x"}), False),
    Case(
        "single-filter",
        "LS-SNAP:test_sqs_event_filter[single]",
        B({"testItem": ["test24"]}),
        jbody({"testItem": "test24"}),
        True,
    ),
    Case(
        "single-filter-neg",
        "LS-SNAP:test_sqs_event_filter[single]",
        B({"testItem": ["test24"]}),
        jbody({"testItem": "tesWER"}),
        False,
    ),
    Case(
        "or-values",
        "LS-SNAP:test_sqs_event_filter[or]",
        B({"testItem": ["test24", "test45"]}),
        jbody({"testItem": "test45"}),
        True,
    ),
    Case(
        "or-values-neg",
        "LS-SNAP:test_sqs_event_filter[or]",
        B({"testItem": ["test24", "test45"]}),
        jbody({"testItem": "WERTD"}),
        False,
    ),
    Case(
        "and-fields",
        "LS-SNAP:test_sqs_event_filter[and]",
        B({"testItem": ["test24", "test45"], "test2": ["go"]}),
        jbody({"testItem": "test45", "test2": "go"}),
        True,
    ),
    Case(
        "and-fields-neg",
        "LS-SNAP:test_sqs_event_filter[and]",
        B({"testItem": ["test24", "test45"], "test2": ["go"]}),
        jbody({"testItem": "test67", "test2": "go"}),
        False,
    ),
    Case("and-missing-field", "FLT-11", B({"a": ["x"], "b": ["y"]}), jbody({"a": "x"}), False),
    Case("number-exact", "EB-DOC eb-create-pattern", B({"n": [5]}), jbody({"n": 5}), True),
    Case(
        "number-int-vs-float",
        "LS:number_comparison_float",
        B({"number": [300]}),
        jbody({"number": 300.0}),
        True,
    ),
    Case(
        "number-float-vs-int",
        "LS:number_comparison_float (mirror)",
        B({"number": [300.0]}),
        jbody({"number": 300}),
        True,
    ),
    Case(
        "number-exponent",
        "LS:number_comparison_float (3.0e2 form)",
        B({"number": [300]}),
        record('{"number": 3.0e2}'),
        True,
    ),
    Case("number-exact-neg", "FLT-9", B({"n": [5]}), jbody({"n": 5.5}), False),
    Case("number-vs-string", "FLT-9", B({"n": [5]}), jbody({"n": "5"}), False),
    Case("string-vs-number", "FLT-9", B({"n": ["5"]}), jbody({"n": 5}), False),
    Case("number-negative", "EB-DOC eb-create-pattern", B({"n": [-1.5]}), jbody({"n": -1.5}), True),
    Case(
        "number-big-int",
        "qworker (exact int compare)",
        B({"n": [12345678901234567890]}),
        jbody({"n": 12345678901234567890}),
        True,
    ),
    Case(
        "number-big-int-neg",
        "qworker (exact int compare)",
        B({"n": [12345678901234567890]}),
        jbody({"n": 12345678901234567891}),
        False,
    ),
    Case("bool-true", "LS:boolean", B({"b": [True]}), jbody({"b": True}), True),
    Case("bool-vs-string", "LS:boolean_NEG", B({"b": [True]}), jbody({"b": "true"}), False),
    Case("bool-false", "EB-DOC eb-create-pattern", B({"b": [False]}), jbody({"b": False}), True),
    Case("number-1-vs-true", "qworker (JSON: 1 is not true)", B({"b": [1]}), jbody({"b": True}), False),
    Case("true-vs-number-1", "qworker (JSON: true is not 1)", B({"b": [True]}), jbody({"b": 1}), False),
    Case("number-0-vs-false", "qworker (JSON: 0 is not false)", B({"b": [0]}), jbody({"b": False}), False),
    Case("false-vs-number-0", "qworker (JSON: false is not 0)", B({"b": [False]}), jbody({"b": 0.0}), False),
    Case("mixed-list-bool-and-number", "FLT-11", B({"b": [1, False, "x"]}), jbody({"b": False}), True),
    Case("null-explicit", "LS:null_value", B({"v": [None]}), jbody({"v": None}), True),
    Case(
        "null-vs-missing",
        "SPEC 2.2 semantics ([null] = explicit null only)",
        B({"v": [None]}),
        jbody({}),
        False,
    ),
    Case(
        "null-vs-empty-string",
        "EB-DOC eb-event-patterns-null-values",
        B({"v": [None]}),
        jbody({"v": ""}),
        False,
    ),
    Case("empty-string", "LS:string_empty", B({"v": [""]}), jbody({"v": ""}), True),
    Case(
        "empty-string-vs-null",
        "EB-DOC eb-event-patterns-null-values",
        B({"v": [""]}),
        jbody({"v": None}),
        False,
    ),
    Case("empty-string-vs-missing", "EB-DOC eb-event-patterns-null-values", B({"v": [""]}), jbody({}), False),
    Case("unicode-exact", "FLT-9", B({"name": ["Zoë 東京"]}), jbody({"name": "Zoë 東京"}), True),
    Case(
        "escaped-star-is-literal",
        "LS test_event_pattern_with_escape_characters",
        B({"s": ["*"], "b": ["\\"]}),
        jbody({"s": "*", "b": "\\"}),
        True,
    ),
    # --- exists ----------------------------------------------------------------------------------
    Case(
        "exists-true",
        "LS-SNAP:test_sqs_event_filter[exists]",
        B({"test2": [{"exists": True}]}),
        jbody({"test2": "7411"}),
        True,
    ),
    Case(
        "exists-true-missing",
        "LS-SNAP:test_sqs_event_filter[exists]",
        B({"test2": [{"exists": True}]}),
        jbody({"test5": "74545"}),
        False,
    ),
    Case(
        "exists-true-null",
        "EB-RULER (null is a leaf value)",
        B({"k": [{"exists": True}]}),
        jbody({"k": None}),
        True,
    ),
    Case(
        "exists-false-missing",
        "LS:content_exists_false",
        B({"k": [{"exists": False}]}),
        jbody({"other": 1}),
        True,
    ),
    Case(
        "exists-false-present",
        "LS:content_exists_false_NEG",
        B({"k": [{"exists": False}]}),
        jbody({"k": "v"}),
        False,
    ),
    Case(
        "exists-false-null",
        "SPEC 2.2 (exists:false = key absent only)",
        B({"k": [{"exists": False}]}),
        jbody({"k": None}),
        False,
    ),
    Case(
        "exists-true-object",
        "LS:exists_dynamodb_NEG",
        B({"dynamodb": {"presentKey": [{"exists": True}]}}),
        jbody({"dynamodb": {"presentKey": {"S": "x"}}}),
        False,
    ),
    Case(
        "exists-false-object",
        "EB-RULER (exists works on leaf nodes only)",
        B({"detail": {"c-count": [{"exists": False}]}}),
        jbody({"detail": {"c-count": {"c1": 100}}}),
        True,
    ),
    Case(
        "exists-true-empty-array",
        "LS:exists_list_empty_NEG",
        B({"resources": [{"exists": True}]}),
        jbody({"resources": []}),
        False,
    ),
    Case(
        "exists-false-empty-array",
        "LS:exists_list_empty (empty array = absent)",
        B({"resources": [{"exists": False}]}),
        jbody({"resources": []}),
        True,
    ),
    Case(
        "exists-true-array",
        "EB-DOC arrays",
        B({"resources": [{"exists": True}]}),
        jbody({"resources": ["a"]}),
        True,
    ),
    Case(
        "exists-false-deep-missing",
        "LS:content_exists_false",
        B({"level1": {"level2": {"level3": {"level4": [{"exists": False}]}}}}),
        jbody({"level1": {"level2": "l2 value"}}),
        True,
    ),
    Case(
        "exists-in-array-element",
        "LS:list_within_dict",
        B({"automations": {"id": [{"exists": True}]}}),
        jbody({"automations": [{"key1": "v1"}, {"id": "match-does-exist"}, {"key2": "v2"}]}),
        True,
    ),
    Case(
        "exists-false-parent-missing-or",
        "LS:or-exists-parent",
        B({"dynamodb": {"NewImage": {"homemade": {"S": [{"anything-but": ["roses"]}, {"exists": False}]}}}}),
        jbody({"dynamodb": {"NewImage": {"purchased": {"N": "789"}}}}),
        True,
    ),
    Case(
        "exists-false-sibling-or",
        "LS:or-exists",
        B({"dynamodb": {"NewImage": {"homemade": {"S": [{"anything-but": ["roses"]}, {"exists": False}]}}}}),
        jbody({"dynamodb": {"NewImage": {"homemade": {"N": "789"}}}}),
        True,
    ),
    Case(
        "exists-or-other-operators",
        "LS:operator_multiple_list",
        B({"my_key": [{"exists": True}, {"prefix": "IGNORED"}, {"suffix": "IGNORED"}]}),
        jbody({"my_key": "my-value"}),
        True,
    ),
    Case(
        "exists-both-flags",
        "qworker (true OR false always holds)",
        B({"k": [{"exists": True}, {"exists": False}]}),
        jbody({}),
        True,
    ),
    # --- anything-but ----------------------------------------------------------------------------
    Case(
        "anything-but-string",
        "LS:content_anything_but_string",
        B({"state": [{"anything-but": "initializing"}]}),
        jbody({"state": "running"}),
        True,
    ),
    Case(
        "anything-but-string-neg",
        "LS:content_anything_but_string_NEG",
        B({"state": [{"anything-but": "initializing"}]}),
        jbody({"state": "initializing"}),
        False,
    ),
    Case(
        "anything-but-missing",
        "LS:content_anything_but_string_missing_NEG",
        B({"state": [{"anything-but": "initializing"}]}),
        jbody({}),
        False,
    ),
    Case(
        "anything-but-null",
        "LS:content_anything_but_string_null",
        B({"state": [{"anything-but": "initializing"}]}),
        jbody({"state": None}),
        True,
    ),
    Case(
        "anything-but-list",
        "LS:content_anything_but_string_list",
        B({"state": [{"anything-but": ["stopped", "overloaded"]}]}),
        jbody({"state": "running"}),
        True,
    ),
    Case(
        "anything-but-list-neg",
        "LS:content_anything_but_string_list_NEG",
        B({"state": [{"anything-but": ["stopped", "overloaded"]}]}),
        jbody({"state": "stopped"}),
        False,
    ),
    Case(
        "anything-but-list-missing",
        "LS:content_anything_but_string_list_missing_NEG",
        B({"state": [{"anything-but": ["stopped"]}]}),
        jbody({}),
        False,
    ),
    Case(
        "anything-but-list-null",
        "LS:content_anything_but_string_list_null",
        B({"state": [{"anything-but": ["stopped", "running"]}]}),
        jbody({"state": None}),
        True,
    ),
    Case(
        "anything-but-null-rule",
        "LS test_put_events_with_rule_pattern_anything_but",
        B({"command": [{"anything-but": ["no-message"]}]}),
        jbody({"command": None}),
        True,
    ),
    Case(
        "anything-but-number",
        "LS:content_anything_but_number",
        B({"x-limit": [{"anything-but": 123}]}),
        jbody({"x-limit": 456}),
        True,
    ),
    Case(
        "anything-but-number-neg",
        "LS:content_anything_but_number_NEG",
        B({"x-limit": [{"anything-but": 123}]}),
        jbody({"x-limit": 123}),
        False,
    ),
    Case(
        "anything-but-number-list-neg",
        "LS:complex_multi_match_NEG",
        B({"x-limit": [{"anything-but": [100, 200, 300]}]}),
        jbody({"x-limit": 300}),
        False,
    ),
    Case(
        "anything-but-number-list-float",
        "LS:number_comparison_float (by value)",
        B({"x-limit": [{"anything-but": [100, 200, 300]}]}),
        jbody({"x-limit": 300.0}),
        False,
    ),
    Case(
        "anything-but-number-list",
        "LS:content_anything_but_number_list",
        B({"x-limit": [{"anything-but": [100, 200, 300]}]}),
        jbody({"x-limit": 301.8}),
        True,
    ),
    Case(
        "anything-but-zero",
        "LS:content_anything_but_number_zero",
        B({"x-limit": [{"anything-but": 0}]}),
        jbody({"x-limit": 789}),
        True,
    ),
    Case(
        "anything-but-zero-vs-false",
        "qworker (false is not 0)",
        B({"x": [{"anything-but": 0}]}),
        jbody({"x": False}),
        True,
    ),
    Case(
        "anything-but-one-vs-true",
        "qworker (true is not 1)",
        B({"x": [{"anything-but": [1]}]}),
        jbody({"x": True}),
        True,
    ),
    Case("anything-but-string-vs-number", "FLT-9", B({"x": [{"anything-but": "5"}]}), jbody({"x": 5}), True),
    Case(
        "anything-but-array-any",
        "EB-DOC arrays (any element)",
        B({"x": [{"anything-but": ["a"]}]}),
        jbody({"x": ["a", "b"]}),
        True,
    ),
    Case(
        "anything-but-array-all-excluded",
        "EB-DOC arrays (any element)",
        B({"x": [{"anything-but": ["a"]}]}),
        jbody({"x": ["a", "a"]}),
        False,
    ),
    Case(
        "anything-but-empty-array",
        "qworker (empty array = absent)",
        B({"x": [{"anything-but": "a"}]}),
        jbody({"x": []}),
        False,
    ),
    Case(
        "anything-but-object-value",
        "EB-RULER (objects are not leaves)",
        B({"x": [{"anything-but": "a"}]}),
        jbody({"x": {"y": 1}}),
        False,
    ),
    Case(
        "anything-but-or-numeric",
        "LS:or-numeric-anything-but",
        B(
            {
                "dynamodb": {
                    "NewImage": {"numericFilter": {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}}
                }
            }
        ),
        jbody({"dynamodb": {"NewImage": {"numericFilter": {"N": "42"}}}}),
        True,
    ),
    # --- prefix / suffix / equals-ignore-case ----------------------------------------------------
    Case(
        "prefix",
        "LS-SNAP:test_sqs_event_filter[prefix]",
        B({"test2": [{"prefix": "us-1"}]}),
        jbody({"test2": "us-1-48454"}),
        True,
    ),
    Case(
        "prefix-neg",
        "LS-SNAP:test_sqs_event_filter[prefix]",
        B({"test2": [{"prefix": "us-1"}]}),
        jbody({"test2": "eu-wert"}),
        False,
    ),
    Case(
        "prefix-case-sensitive",
        "LS:content_prefix_NEG",
        B({"time": [{"prefix": "2022-07-13"}]}),
        jbody({"time": "2022-07-14T13:48:01Z"}),
        False,
    ),
    Case(
        "prefix-on-number",
        "EB-RULER (prefix works on strings only)",
        B({"n": [{"prefix": "1"}]}),
        jbody({"n": 123}),
        False,
    ),
    Case(
        "prefix-on-null",
        "EB-RULER (prefix works on strings only)",
        B({"n": [{"prefix": "n"}]}),
        jbody({"n": None}),
        False,
    ),
    Case(
        "prefix-empty-string",
        "qworker (empty prefix matches any string)",
        B({"n": [{"prefix": ""}]}),
        jbody({"n": "abc"}),
        True,
    ),
    Case(
        "prefix-ignore-case",
        "LS:content_prefix_ignorecase",
        B({"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}),
        jbody({"service": "EventBridge"}),
        True,
    ),
    Case(
        "prefix-ignore-case-neg",
        "EB-DOC begins with ignore case",
        B({"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}),
        jbody({"service": "SQS"}),
        False,
    ),
    Case(
        "suffix",
        "LS:content_suffix",
        B({"FileName": [{"suffix": ".png"}]}),
        jbody({"FileName": "image.png"}),
        True,
    ),
    Case(
        "suffix-neg",
        "LS:content_suffix_NEG",
        B({"FileName": [{"suffix": ".png"}]}),
        jbody({"FileName": "image.PNG"}),
        False,
    ),
    Case(
        "suffix-ignore-case",
        "LS:content_suffix_ignorecase",
        B({"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}),
        jbody({"service": "EventBRIDGE"}),
        True,
    ),
    Case(
        "suffix-ignore-case-neg",
        "LS:content_suffix_ignorecase_NEG",
        B({"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}),
        jbody({"service": "EventBus"}),
        False,
    ),
    Case(
        "suffix-on-number",
        "EB-RULER (suffix works on strings only)",
        B({"n": [{"suffix": "3"}]}),
        jbody({"n": 123}),
        False,
    ),
    Case(
        "equals-ignore-case",
        "LS:content_ignorecase",
        B({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
        jbody({"detail-type": "EC2 Instance State-change Notification"}),
        True,
    ),
    Case(
        "equals-ignore-case-neg",
        "LS:content_ignorecase_NEG",
        B({"name": [{"equals-ignore-case": "alice"}]}),
        jbody({"name": "Alicia"}),
        False,
    ),
    Case(
        "equals-ignore-case-empty",
        "LS:content_ignorecase_empty",
        B({"value": [{"equals-ignore-case": ""}]}),
        jbody({"value": ""}),
        True,
    ),
    Case(
        "equals-ignore-case-empty-neg",
        "LS:content_ignorecase_empty_NEG",
        B({"value": [{"equals-ignore-case": ""}]}),
        jbody({"value": "test-value"}),
        False,
    ),
    Case(
        "equals-ignore-case-number",
        "EB-RULER (strings only)",
        B({"value": [{"equals-ignore-case": "5"}]}),
        jbody({"value": 5}),
        False,
    ),
    Case(
        "prefix-in-array",
        "EB-DOC arrays",
        B({"tags": [{"prefix": "env:"}]}),
        jbody({"tags": ["team:a", "env:prod"]}),
        True,
    ),
    # --- numeric ---------------------------------------------------------------------------------
    Case(
        "numeric-gt",
        "LS-SNAP:test_sqs_event_filter[numeric-bigger]",
        B({"test2": [{"numeric": [">", 100]}]}),
        jbody({"test2": 105}),
        True,
    ),
    Case(
        "numeric-gt-plain-body",
        "LS-SNAP:test_sqs_event_filter[numeric-bigger]",
        B({"test2": [{"numeric": [">", 100]}]}),
        record("this is a test string"),
        False,
    ),
    Case(
        "numeric-lt",
        "LS-SNAP:test_sqs_event_filter[numeric-smaller]",
        B({"test2": [{"numeric": ["<", 100]}]}),
        jbody({"test2": 93}),
        True,
    ),
    Case(
        "numeric-lt-neg",
        "LS-SNAP:test_sqs_event_filter[numeric-smaller]",
        B({"test2": [{"numeric": ["<", 100]}]}),
        jbody({"test2": 105}),
        False,
    ),
    Case(
        "numeric-range",
        "LS-SNAP:test_sqs_event_filter[numeric-range]",
        B({"test2": [{"numeric": [">=", 100, "<", 200]}]}),
        jbody({"test2": 105}),
        True,
    ),
    Case(
        "numeric-range-top-open",
        "LS-SNAP:test_sqs_event_filter[numeric-range]",
        B({"test2": [{"numeric": [">=", 100, "<", 200]}]}),
        jbody({"test2": 200}),
        False,
    ),
    Case(
        "numeric-range-bottom-closed",
        "SPEC 2.3 example 2",
        B({"my-number": [{"numeric": [">=", 100, "<", 200]}]}),
        jbody({"my-number": 100}),
        True,
    ),
    Case(
        "numeric-range-le",
        "EB-DOC numeric",
        B({"n": [{"numeric": [">", 0, "<=", 5]}]}),
        jbody({"n": 5}),
        True,
    ),
    Case(
        "numeric-range-gt-zero",
        "LS:complex_or (c-count 0 is not > 0)",
        B({"c-count": [{"numeric": [">", 0, "<=", 5]}]}),
        jbody({"c-count": 0}),
        False,
    ),
    Case("numeric-ge", "EB-DOC numeric", B({"n": [{"numeric": [">=", 10]}]}), jbody({"n": 10}), True),
    Case("numeric-le", "EB-DOC numeric", B({"n": [{"numeric": ["<=", 10]}]}), jbody({"n": 10.000001}), False),
    Case(
        "numeric-eq-float",
        "EB-DOC numeric (compares numerically)",
        B({"n": [{"numeric": ["=", 100]}]}),
        jbody({"n": 100.0}),
        True,
    ),
    Case(
        "numeric-eq-exponent",
        "LS:content_numeric_and",
        B({"x-limit": [{"numeric": ["=", 3.018e2]}]}),
        record('{"x-limit": 3.018e2}'),
        True,
    ),
    Case(
        "numeric-and",
        "LS:content_numeric_and",
        B(
            {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 301.8]}],
            }
        ),
        jbody({"c-count": 3, "d-count": 9, "x-limit": 301.8}),
        True,
    ),
    Case(
        "numeric-and-neg",
        "LS:content_numeric_and_NEG",
        B({"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}]}),
        jbody({"c-count": 3, "d-count": 10}),
        False,
    ),
    Case(
        "numeric-int-float",
        "LS:numeric-int-float",
        B({"number": [{"numeric": [">", 100]}]}),
        jbody({"number": 101.0}),
        True,
    ),
    Case(
        "numeric-string",
        "LS:numeric-string_NEG",
        B({"number": [{"numeric": [">", 100]}]}),
        jbody({"number": "101"}),
        False,
    ),
    Case(
        "numeric-null",
        "LS:numeric-null_NEG",
        B({"number": [{"numeric": [">", 100]}]}),
        jbody({"number": None}),
        False,
    ),
    Case("numeric-missing", "FLT-11", B({"number": [{"numeric": [">", 100]}]}), jbody({}), False),
    Case(
        "numeric-bool",
        "qworker (true is not a number)",
        B({"n": [{"numeric": [">", 0]}]}),
        jbody({"n": True}),
        False,
    ),
    Case(
        "numeric-array-any",
        "EB-DOC arrays",
        B({"n": [{"numeric": [">", 100]}]}),
        jbody({"n": [1, 150]}),
        True,
    ),
    Case(
        "numeric-negative-range",
        "EB-DOC numeric",
        B({"t": [{"numeric": [">", -10, "<", -5]}]}),
        jbody({"t": -7.5}),
        True,
    ),
    Case("numeric-or-exact", "FLT-11", B({"n": [{"numeric": [">", 100]}, 5]}), jbody({"n": 5}), True),
    # --- $or ---------------------------------------------------------------------------------------
    Case(
        "or-complex",
        "LS:complex_or",
        B(
            {
                "$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 301.8]}]},
                ]
            }
        ),
        jbody({"c-count": 0, "d-count": 0, "x-limit": 901.8}),
        True,
    ),
    Case(
        "or-complex-neg",
        "LS:complex_or_NEG",
        B({"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}),
        jbody({"c-count": 0, "d-count": 10}),
        False,
    ),
    Case(
        "or-spec-example-type",
        "SPEC 2.3 example 3",
        B({"$or": [{"type": ["order"]}, {"priority": [{"numeric": [">", 5]}]}]}),
        jbody({"type": "order", "priority": 1}),
        True,
    ),
    Case(
        "or-spec-example-priority",
        "SPEC 2.3 example 3",
        B({"$or": [{"type": ["order"]}, {"priority": [{"numeric": [">", 5]}]}]}),
        jbody({"type": "refund", "priority": 6}),
        True,
    ),
    Case(
        "or-spec-example-neg",
        "SPEC 2.3 example 3",
        B({"$or": [{"type": ["order"]}, {"priority": [{"numeric": [">", 5]}]}]}),
        jbody({"type": "refund", "priority": 5}),
        False,
    ),
    Case(
        "or-and-sibling",
        "EB-RULER Normal Or",
        B(
            {
                "source": ["aws.cloudwatch"],
                "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            }
        ),
        jbody({"source": "aws.other", "namespace": "AWS/EC2"}),
        False,
    ),
    Case(
        "or-and-sibling-ok",
        "EB-RULER Normal Or",
        B(
            {
                "source": ["aws.cloudwatch"],
                "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            }
        ),
        jbody({"source": "aws.cloudwatch", "namespace": "AWS/EC2"}),
        True,
    ),
    Case(
        "or-parallel",
        "EB-RULER Parallel Or",
        B({"$or": [{"a": [1]}, {"b": [2]}], "detail": {"$or": [{"c": [3]}, {"d": [4]}]}}),
        jbody({"b": 2, "detail": {"d": 4}}),
        True,
    ),
    Case(
        "or-parallel-neg",
        "EB-RULER Parallel Or",
        B({"$or": [{"a": [1]}, {"b": [2]}], "detail": {"$or": [{"c": [3]}, {"d": [4]}]}}),
        jbody({"b": 2, "detail": {"d": 5}}),
        False,
    ),
    Case(
        "or-nested-or",
        "EB-RULER Nested Or and And",
        B(
            {
                "source": ["cw"],
                "$or": [
                    {"metricName": ["CPU"]},
                    {"metricType": ["MT"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
                ],
            }
        ),
        jbody({"source": "cw", "metricType": "MT", "spaceId": 1000}),
        True,
    ),
    Case(
        "or-nested-or-neg",
        "EB-RULER Nested Or and And",
        B(
            {
                "source": ["cw"],
                "$or": [
                    {"metricName": ["CPU"]},
                    {"metricType": ["MT"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
                ],
            }
        ),
        jbody({"source": "cw", "metricType": "MT", "spaceId": 1}),
        False,
    ),
    Case(
        "or-top-level-body-or-attribute",
        "FLT-6 + EB-DOC $or",
        {
            "$or": [
                {"body": {"type": ["order"]}},
                {"messageAttributes": {"Type": {"stringValue": ["invoice"]}}},
            ]
        },
        jbody({"type": "refund"}, messageAttributes=MA_INVOICE),
        True,
    ),
    Case(
        "or-plain-body-leaf-branch",
        "FLT-7 + EB-DOC $or",
        {"$or": [{"body": {"level": ["ERROR"]}}, {"body": [{"prefix": "ERROR"}]}]},
        record("ERROR: disk full"),
        True,
    ),
    Case(
        "or-json-body-object-branch",
        "FLT-7 + EB-DOC $or",
        {"$or": [{"body": {"level": ["ERROR"]}}, {"body": [{"prefix": "ERROR"}]}]},
        jbody({"level": "ERROR"}),
        True,
    ),
    # --- nesting and arrays ------------------------------------------------------------------------
    Case(
        "nested",
        "EB-DOC eb-create-pattern",
        B({"detail": {"state": ["terminated"]}}),
        jbody({"detail": {"state": "terminated"}}),
        True,
    ),
    Case(
        "nested-neg",
        "EB-DOC eb-create-pattern",
        B({"detail": {"state": ["terminated"]}}),
        jbody({"detail": {"state": "running"}}),
        False,
    ),
    Case(
        "nested-deep",
        "EB-DOC eb-create-pattern",
        B({"a": {"b": {"c": {"d": ["x"]}}}}),
        jbody({"a": {"b": {"c": {"d": "x"}}}}),
        True,
    ),
    Case(
        "nested-pattern-on-scalar",
        "EB-DOC (same nesting structure)",
        B({"detail": {"state": ["x"]}}),
        jbody({"detail": "x"}),
        False,
    ),
    Case(
        "leaf-pattern-on-object",
        "EB-RULER (objects are not leaves)",
        B({"detail": ["x"]}),
        jbody({"detail": {"state": "x"}}),
        False,
    ),
    Case(
        "nested-json-string",
        "LS:nested_json_NEG",
        B({"detail": {"my-key": ["my-value"]}}),
        jbody({"detail": '{"my-key": "my-value"}'}),
        False,
    ),
    Case(
        "array-value",
        "LS:arrays",
        B({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:other"]}),
        jbody({"resources": ["arn:asg", "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}),
        True,
    ),
    Case(
        "array-value-neg",
        "LS:arrays_NEG",
        B({"resources": ["arn:x", "arn:y"]}),
        jbody({"resources": ["arn:a", "arn:b"]}),
        False,
    ),
    Case(
        "array-empty-vs-null",
        "LS:arrays_empty_null_NEG",
        B({"resources": [None]}),
        jbody({"resources": []}),
        False,
    ),
    Case(
        "array-nested-arrays",
        "EB-RULER (multi-level arrays)",
        B({"v": [3]}),
        jbody({"v": [[1, 2], [3]]}),
        True,
    ),
    Case(
        "array-of-objects",
        "EB-RULER JSON Array Matching",
        B({"employees": {"firstName": ["Anna"]}}),
        jbody(EMPLOYEES),
        True,
    ),
    Case(
        "array-consistency-same-element",
        "EB-RULER rulesForJSONEvent",
        B({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}),
        jbody(EMPLOYEES),
        True,
    ),
    Case(
        "array-consistency-cross-element",
        "EB-RULER rulesForJSONEvent",
        B({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}),
        jbody(EMPLOYEES),
        False,
    ),
    Case(
        "array-of-arrays-of-objects",
        "EB-RULER (multi-level arrays)",
        B({"employees": {"lastName": ["Jones"]}}),
        jbody({"employees": [[{"lastName": "Doe"}], [{"lastName": "Jones"}]]}),
        True,
    ),
    Case(
        "array-of-scalars-object-pattern",
        "EB-DOC (same nesting structure)",
        B({"tags": {"k": ["v"]}}),
        jbody({"tags": ["k", "v"]}),
        False,
    ),
    Case(
        "complex-multi-match",
        "LS:complex_multi_match",
        B(
            {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
            }
        ),
        jbody({"state": "processing", "c-count": 3, "d-count": 9, "x-limit": 301.8}),
        True,
    ),
    # --- dotted keys -------------------------------------------------------------------------------
    Case(
        "dot-joining-pattern",
        "LS:dot_joining_pattern",
        B({"detail": {"state.status": ["running"]}}),
        jbody({"detail": {"state": {"status": "running"}}}),
        True,
    ),
    Case(
        "dot-joining-event",
        "EB-RULER Caveat: JSON keys with dots",
        B({"detail": {"state": {"status": ["running"]}}}),
        jbody({"detail": {"state.status": "running"}}),
        True,
    ),
    Case(
        "dot-joining-pattern-neg",
        "LS:dot_joining_pattern_NEG",
        B({"detail": {"state.status": {"status": ["running"]}}}),
        jbody({"detail": {"state": {"status": "running"}}}),
        False,
    ),
    Case(
        "dot-joining-event-neg",
        "LS:dot_joining_event_NEG",
        B({"detail": {"state": {"status": ["running"]}}}),
        jbody({"detail": {"state.status": {"status": "running"}}}),
        False,
    ),
    Case(
        "dot-top-level-body",
        "EB-RULER Caveat: JSON keys with dots",
        {"body.type": ["order"]},
        jbody({"type": "order"}),
        True,
    ),
    Case(
        "dot-attribute-name",
        "EB-RULER Caveat + SQS attribute names may contain dots",
        {"messageAttributes": {"my.attr": {"stringValue": ["x"]}}},
        jbody({}, messageAttributes={"my.attr": {"stringValue": "x", "dataType": "String"}}),
        True,
    ),
    Case(
        "dot-both-forms-merge",
        "EB-RULER Caveat (flattened paths)",
        B({"a": {"b": ["1"], "c": ["2"]}}),
        jbody({"a": {"b": "1"}, "a.c": "2"}),
        True,
    ),
    # --- body formats (FLT-7) ------------------------------------------------------------------------
    Case(
        "plain-body-object-pattern",
        "FLT-7 / LS-SNAP:test_sqs_event_filter[valid-json-filter]",
        B({"my-key": ["my-value"]}),
        record("my-key my-value"),
        False,
    ),
    Case(
        "plain-body-object-exists-false",
        "FLT-7 (plain body + JSON pattern: drop)",
        B({"my-key": [{"exists": False}]}),
        record("hello"),
        False,
    ),
    Case(
        "plain-body-leaf",
        "FLT-7 (plain string + plain string: filter normally)",
        {"body": ["hello"]},
        record("hello"),
        True,
    ),
    Case("plain-body-leaf-neg", "FLT-7", {"body": ["hello"]}, record("hello!"), False),
    Case(
        "plain-body-prefix",
        "SPEC 2.3 example 5",
        {"body": [{"prefix": "ERROR"}]},
        record("ERROR: disk full"),
        True,
    ),
    Case(
        "plain-body-equals-ignore-case",
        "FLT-7",
        {"body": [{"equals-ignore-case": "ping"}]},
        record("PING"),
        True,
    ),
    Case(
        "plain-body-no-body-key",
        "FLT-7 (no body pattern: other keys only)",
        {"attributes": {"ApproximateReceiveCount": ["1"]}},
        record("not json"),
        True,
    ),
    Case(
        "json-body-leaf-pattern",
        "FLT-7 (valid JSON + plain string: drop)",
        {"body": ['{"a": 1}']},
        record('{"a": 1}'),
        False,
    ),
    Case(
        "json-body-leaf-exists-false",
        "FLT-7 (valid JSON + plain string: drop)",
        {"body": [{"exists": False}]},
        jbody({"a": 1}),
        False,
    ),
    Case(
        "json-body-no-body-key",
        "FLT-7 (no body pattern: other keys only)",
        {"messageId": ["059f36b4-87a3-44ab-83d2-661975830a7d"]},
        jbody({"a": 1}),
        True,
    ),
    Case(
        "scalar-body-number",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": [123]},
        record("123"),
        True,
    ),
    Case(
        "scalar-body-number-as-string",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": ["123"]},
        record("123"),
        False,
    ),
    Case(
        "scalar-body-string",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": ["abc"]},
        record('"abc"'),
        True,
    ),
    Case(
        "scalar-body-string-quoted",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": ['"abc"']},
        record('"abc"'),
        False,
    ),
    Case(
        "array-body-element",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": [2]},
        record("[1, 2]"),
        True,
    ),
    Case(
        "array-body-element-neg",
        "qworker, LocalStack ESM (json.loads the body)",
        {"body": [3]},
        record("[1,2]"),
        False,
    ),
    Case(
        "array-body-objects",
        "qworker (array of objects = any element)",
        B({"a": [1]}),
        record('[{"a": 0}, {"a": 1}]'),
        True,
    ),
    Case(
        "bool-body", "qworker, LocalStack ESM (json.loads the body)", {"body": [True]}, record("true"), True
    ),
    Case(
        "null-body", "qworker, LocalStack ESM (json.loads the body)", {"body": [None]}, record("null"), True
    ),
    Case("null-body-exists", "qworker (null is a leaf)", {"body": [{"exists": True}]}, record("null"), True),
    Case(
        "nan-body-is-plain",
        "qworker (NaN is not JSON for AWS's parser)",
        {"body": ["NaN"]},
        record("NaN"),
        True,
    ),
    Case("empty-body-is-plain", "qworker (empty string is not JSON)", {"body": [""]}, record(""), True),
    Case(
        "whitespace-json-body",
        "FLT-7 (JSON with surrounding whitespace)",
        B({"a": [1]}),
        record('  {"a": 1}\n'),
        True,
    ),
    Case(
        "scalar-body-object-exists-false",
        "qworker (JSON scalar + object pattern: normal semantics)",
        B({"a": [{"exists": False}]}),
        record("123"),
        True,
    ),
    Case("broken-json-body", "FLT-7 (not JSON = plain string)", B({"a": [1]}), record('{"a": 1'), False),
    Case(
        "body-unchanged-key-order",
        "FLT-8 (body string is not rewritten)",
        B({"z": [1], "a": [2]}),
        record('{"a": 2, "z": 1}'),
        True,
    ),
    # --- record fields (FLT-5, FLT-6, EVT-*) -------------------------------------------------------------
    Case(
        "attributes-exact",
        "SPEC 2.3 example 7 / FLT-6",
        {"attributes": {"ApproximateReceiveCount": ["1"]}},
        jbody({}),
        True,
    ),
    Case(
        "attributes-prefix",
        "SPEC 2.3 example 7",
        {"attributes": {"MessageGroupId": [{"prefix": "tenant-"}]}},
        jbody({}, attributes={"MessageGroupId": "tenant-42"}),
        True,
    ),
    Case(
        "attributes-are-strings",
        "EVT-4 (attribute values are strings)",
        {"attributes": {"ApproximateReceiveCount": [{"numeric": [">", 0]}]}},
        jbody({}),
        False,
    ),
    Case(
        "message-attribute",
        "SPEC 2.3 example 6",
        {"messageAttributes": {"Type": {"stringValue": ["invoice"]}}},
        jbody({}, messageAttributes=MA_INVOICE),
        True,
    ),
    Case(
        "message-attribute-neg",
        "SPEC 2.3 example 6",
        {"messageAttributes": {"Type": {"stringValue": ["invoice"]}}},
        jbody({}),
        False,
    ),
    Case(
        "event-source-not-matchable",
        "FLT-5 (added after filtering)",
        {"eventSource": ["aws:sqs"]},
        jbody({}),
        False,
    ),
    Case(
        "event-source-arn-absent",
        "FLT-5 (added after filtering)",
        {"eventSourceARN": [{"exists": False}]},
        jbody({}),
        True,
    ),
    Case("message-id", "FLT-5", {"messageId": [{"prefix": "059f36b4"}]}, jbody({}), True),
    Case(
        "md5-of-attributes-null",
        "EVT-6 (null when no attributes)",
        {"md5OfMessageAttributes": [None]},
        jbody({}),
        True,
    ),
    Case(
        "body-and-attribute",
        "FLT-11 across record keys",
        {"body": {"a": [1]}, "attributes": {"SenderId": ["nobody"]}},
        jbody({"a": 1}),
        False,
    ),
    # --- several filters (FLT-1) -----------------------------------------------------------------------
    Case("filters-first", "FLT-1", [B({"a": ["x"]}), B({"b": ["y"]})], jbody({"a": "x"}), True),
    Case("filters-second", "FLT-1", [B({"a": ["x"]}), B({"b": ["y"]})], jbody({"b": "y"}), True),
    Case("filters-none", "FLT-1", [B({"a": ["x"]}), B({"b": ["y"]})], jbody({"a": "y", "b": "x"}), False),
    Case("filters-empty", "FLT-1 (no FilterCriteria: everything passes)", [], record("anything"), True),
    Case(
        "filters-plain-and-json",
        "FLT-1 + FLT-7",
        [B({"a": ["x"]}), {"body": [{"prefix": "x"}]}],
        record("xyz"),
        True,
    ),
    Case("filters-five", "FLT-1 (default quota)", [B({"n": [i]}) for i in range(5)], jbody({"n": 4}), True),
    # --- duplicate keys (FLT-10) ---------------------------------------------------------------------------
    Case("duplicate-key-last-wins", "FLT-10", '{"body": {"a": ["x"], "a": ["y"]}}', jbody({"a": "y"}), True),
    Case(
        "duplicate-key-first-ignored",
        "FLT-10",
        '{"body": {"a": ["x"], "a": ["y"]}}',
        jbody({"a": "x"}),
        False,
    ),
    Case(
        "duplicate-body-key",
        "FLT-10",
        '{"body": {"a": ["x"]}, "body": {"b": ["y"]}}',
        jbody({"a": "nope", "b": "y"}),
        True,
    ),
    # --- extensions (non-portable; Lambda refuses these operators for SQS) ------------------------
    Case(
        "ext-wildcard",
        "EB-DOC wildcard (extension)",
        B({"FilePath": [{"wildcard": "dir/*.png"}]}),
        jbody({"FilePath": "dir/init.png"}),
        True,
        True,
    ),
    Case(
        "ext-wildcard-neg",
        "EB-DOC wildcard (extension)",
        B({"FilePath": [{"wildcard": "dir/*.png"}]}),
        jbody({"FilePath": "dir/init.jpg"}),
        False,
        True,
    ),
    Case(
        "ext-wildcard-empty-run",
        "EB-RULER wildcard (* may match nothing)",
        B({"s": [{"wildcard": "Simple*Service"}]}),
        jbody({"s": "SimpleService"}),
        True,
        True,
    ),
    Case(
        "ext-wildcard-escaped-star",
        "EB-RULER wildcard escapes",
        B({"s": [{"wildcard": "a\\*b"}]}),
        jbody({"s": "a*b"}),
        True,
        True,
    ),
    Case(
        "ext-wildcard-escaped-star-neg",
        "EB-RULER wildcard escapes",
        B({"s": [{"wildcard": "a\\*b"}]}),
        jbody({"s": "axb"}),
        False,
        True,
    ),
    Case(
        "ext-anything-but-prefix",
        "LS:content_anything_prefix",
        B({"state": [{"anything-but": {"prefix": "init"}}]}),
        jbody({"state": "running"}),
        True,
        True,
    ),
    Case(
        "ext-anything-but-prefix-neg",
        "LS:content_anything_prefix_NEG",
        B({"state": [{"anything-but": {"prefix": "init"}}]}),
        jbody({"state": "initializing"}),
        False,
        True,
    ),
    Case(
        "ext-anything-but-prefix-number",
        "LS:content_anything_prefix_int_value",
        B({"state": [{"anything-but": {"prefix": "init"}}]}),
        jbody({"state": 12}),
        True,
        True,
    ),
    Case(
        "ext-anything-but-prefix-missing",
        "LS:content_anything_prefix_missing_NEG",
        B({"state": [{"anything-but": {"prefix": "init"}}]}),
        jbody({}),
        False,
        True,
    ),
    Case(
        "ext-anything-but-prefix-list",
        "LS:content_anything_prefix_list",
        B({"state": [{"anything-but": {"prefix": ["init", "stop"]}}]}),
        jbody({"state": "stopping"}),
        False,
        True,
    ),
    Case(
        "ext-anything-but-suffix",
        "LS:content_anything_suffix",
        B({"FileName": [{"anything-but": {"suffix": ".txt"}}]}),
        jbody({"FileName": "a.png"}),
        True,
        True,
    ),
    Case(
        "ext-anything-but-ignorecase",
        "LS:content_anything_but_ignorecase",
        B({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}),
        jbody({"state": "INITIALIZING"}),
        False,
        True,
    ),
    Case(
        "ext-anything-but-ignorecase-list",
        "LS:content_anything_but_ignorecase_list",
        B({"state": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}),
        jbody({"state": "C"}),
        True,
        True,
    ),
    Case(
        "ext-anything-but-wildcard",
        "LS:content_anything_wildcard",
        B({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
        jbody({"FilePath": "/usr/bin/x"}),
        True,
        True,
    ),
    Case(
        "ext-anything-but-wildcard-neg",
        "LS:content_anything_wildcard_NEG",
        B({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
        jbody({"FilePath": "/usr/lib/x"}),
        False,
        True,
    ),
    Case(
        "ext-cidr",
        "LS:content_ip_address",
        B({"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}),
        jbody({"sourceIPAddress": "10.0.0.255"}),
        True,
        True,
    ),
    Case(
        "ext-cidr-neg",
        "LS:content_ip_address_NEG",
        B({"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}),
        jbody({"sourceIPAddress": "10.0.1.1"}),
        False,
        True,
    ),
    Case(
        "ext-cidr-bad-value",
        "LS:content_ip_address_bad_type_NEG",
        B({"ip": [{"cidr": "10.0.0.0/24"}]}),
        jbody({"ip": 10}),
        False,
        True,
    ),
    Case(
        "ext-cidr-v6",
        "LS:content_ip_address_v6",
        B({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}),
        jbody({"ip": "2001:db8:1234:1a00::10"}),
        True,
        True,
    ),
]


def _compile(case: Case) -> FilterCriteria:
    patterns = case.pattern if isinstance(case.pattern, list) else [case.pattern]
    texts = [p if isinstance(p, str) else json.dumps(p) for p in patterns]
    return FilterCriteria.compile(texts, extensions=case.extensions)


def test_table_is_large_and_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 150
    assert all(case.source for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    criteria = _compile(case)
    assert criteria.matches(case.record) is case.expected
    # the runtime's path: parse the body once, pass it in (FLT-7)
    assert criteria.matches(case.record, parse_body(case.record["body"])) is case.expected
    # filters never rewrite the record (FLT-8)
    assert isinstance(case.record["body"], str)


def test_parse_body_shapes() -> None:
    """parse_body: JSON values as decoded, everything else wrapped as a plain body (FLT-7)."""
    assert parse_body('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert parse_body("123") == 123
    assert parse_body('"abc"') == "abc"
    assert parse_body("null") is None
    assert parse_body("hello") == PlainBody("hello")
    assert parse_body("NaN") == PlainBody("NaN")
    assert parse_body('{"a": Infinity}') == PlainBody('{"a": Infinity}')
    assert parse_body("") == PlainBody("")
    assert parse_body({"already": "parsed"}) == {"already": "parsed"}
    too_deep = "[" * 100_000 + "]" * 100_000
    assert parse_body(too_deep) == PlainBody(too_deep)  # no RecursionError escapes into the poller


def test_body_is_parsed_only_when_a_filter_needs_it() -> None:
    only_attributes = FilterCriteria.compile(['{"attributes": {"SenderId": ["me"]}}'])
    assert not only_attributes.needs_body
    assert only_attributes.non_portable_keys == ("attributes",)
    assert only_attributes.matches({"attributes": {"SenderId": "me"}, "body": "{"})
    with_body = FilterCriteria.compile(['{"$or": [{"body": {"a": [1]}}, {"messageId": ["m"]}]}'])
    assert with_body.needs_body
    assert with_body.non_portable_keys == ("messageId",)


def test_record_without_body() -> None:
    criteria = FilterCriteria.compile(['{"body": [{"exists": false}]}', '{"body": {"a": [1]}}'])
    assert criteria.matches({"messageId": "m"})
    assert not FilterCriteria.compile(['{"body": {"a": [1]}}']).matches({"messageId": "m"})


def test_compiled_criteria_are_reusable_and_comparable() -> None:
    first = FilterCriteria.compile(['{"body": {"a": [1]}}'])
    second = FilterCriteria.compile(['{"body": {"a": [1]}}'])
    assert first == second
    assert first.active
    assert not FilterCriteria.compile([]).active
    for _ in range(3):
        assert first.matches(jbody({"a": 1}))

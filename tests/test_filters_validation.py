"""Invalid filter patterns are refused at start-up with AWS's text and a hint naming the path.

``LS:<name>_EXC`` cases mirror LocalStack's AWS-recorded EventBridge fixtures that AWS refused
(their recorded reasons are quoted in our hints where they exist); ``ESM-CFG-5`` cases are the four
invalid filters recorded against Lambda itself (LocalStack ``test_sqs_invalid_event_filter``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from qworker.errors import ConfigError, ExitCode
from qworker.filters import (
    AWS_INVALID_FILTER_MESSAGE,
    MAX_PATTERN_LENGTH,
    FilterCriteria,
    InvalidFilterPattern,
)

PIPES = "Lambda does not support"


@dataclass(frozen=True)
class Bad:
    id: str
    source: str
    pattern: object  # the pattern string (or a non-string, to test that too)
    path: str  # the path the hint must name ("" = the pattern as a whole)
    reason: str  # a fragment the reason must contain
    extensions: bool = False


def _p(value: object) -> str:
    return json.dumps(value)


BAD: list[Bad] = [
    # --- ESM-CFG-5: the four invalid filters recorded against Lambda --------------------------------
    Bad("esm-cfg-5-null", "ESM-CFG-5 (Pattern null)", "null", "", "not an object"),
    Bad("esm-cfg-5-plain-string", "ESM-CFG-5 (simple string)", "simple string", "", "not valid JSON"),
    Bad(
        "esm-cfg-5-non-list-leaf",
        "ESM-CFG-5 / LS:string_nolist_EXC",
        _p({"eventSource": "aws:sqs"}),
        "eventSource",
        '"eventSource" must be an object or an array',
    ),
    Bad(
        "esm-cfg-5-empty-list",
        "ESM-CFG-5 / LS:arrays_empty_EXC",
        _p({"eventSource": []}),
        "eventSource",
        "Empty arrays are not allowed",
    ),
    # --- the pattern as a whole ---------------------------------------------------------------------
    Bad("not-a-string", "ESM-CFG-5 (Pattern must be a string)", None, "", "must be a string"),
    Bad(
        "not-json-quotes", "LS test_invalid_json_event_pattern", "{'bad': 'quotation'}", "", "not valid JSON"
    ),
    Bad(
        "not-json-unclosed",
        "LS test_invalid_json_event_pattern",
        '{"not": closed mark"',
        "",
        "not valid JSON",
    ),
    Bad("json-array", "LS test_invalid_json_event_pattern", '["not", "a", "dict"]', "", "not an object"),
    Bad("json-number", "EB Filter is not an object", "42", "", "not an object"),
    Bad("json-nan", "qworker (NaN is not JSON)", '{"a": [NaN]}', "", "not valid JSON"),
    Bad("empty-object", "qworker (an empty pattern is a mistake)", "{}", "", "empty object"),
    Bad("too-long", "ESM-CFG (Pattern max 4096)", _p({"body": {"a": ["x" * 4100]}}), "", "at most 4096"),
    Bad(
        "too-deep",
        "qworker (nesting bound)",
        '{"a":' * 70 + "[1]" + "}" * 70,
        "",  # checked separately below
        "nests deeper",
    ),
    # --- structure ------------------------------------------------------------------------------------
    Bad("int-no-list", "LS:int_nolist_EXC", _p({"int": 42}), "int", '"int" must be an object or an array'),
    Bad(
        "nested-non-list",
        "ESM-CFG-5",
        _p({"body": {"price": 5}}),
        "body.price",
        "must be an object or an array",
    ),
    Bad("nested-empty-object", "qworker", _p({"body": {}}), "body", "empty object"),
    Bad("nested-empty-list", "LS:arrays_empty_EXC", _p({"body": {"a": []}}), "body.a", "Empty arrays"),
    Bad(
        "nested-array", "EB Match value must be String...", _p({"a": [["x"]]}), "a[0]", "Match value must be"
    ),
    Bad("null-leaf", "ESM-CFG-5", _p({"a": None}), "a", "must be an object or an array"),
    Bad(
        "odd-key-path",
        "qworker (path quoting)",
        _p({"body": {"a.b c": 1}}),
        'body["a.b c"]',
        "object or an array",
    ),
    # --- operators ------------------------------------------------------------------------------------
    Bad(
        "operator-case",
        "LS:operator_case_sensitive_EXC",
        _p({"my_key": [{"EXISTS": True}]}),
        "my_key[0]",
        "Unrecognized match type EXISTS",
    ),
    Bad(
        "operator-numeric-case",
        "LS:content_numeric_operatorcasing_EXC",
        _p({"detail": {"equal": [{"NUMERIC": ["=", 5]}]}}),
        "detail.equal[0]",
        "Unrecognized match type NUMERIC",
    ),
    Bad(
        "operator-unknown",
        "EB-OPS",
        _p({"a": [{"contains": "x"}]}),
        "a[0]",
        "Unrecognized match type contains",
    ),
    Bad(
        "operator-two-keys",
        "EB Only one key allowed",
        _p({"a": [{"prefix": "a", "suffix": "b"}]}),
        "a[0]",
        "Only one key allowed",
    ),
    Bad("operator-empty", "EB Only one key allowed", _p({"a": [{}]}), "a[0]", "Only one key allowed"),
    Bad(
        "or-in-leaf-list",
        "EB-OPS ($or is not a leaf operator)",
        _p({"a": [{"$or": [1, 2]}]}),
        "a[0]",
        "Unrecognized match type $or",
    ),
    Bad(
        "exists-not-bool",
        "EB exists must be true or false",
        _p({"a": [{"exists": "yes"}]}),
        "a[0].exists",
        "either true or false",
    ),
    Bad(
        "exists-null",
        "EB exists must be true or false",
        _p({"a": [{"exists": None}]}),
        "a[0].exists",
        "either true or false",
    ),
    Bad(
        "prefix-int",
        "LS:content_prefix_int_EXC",
        _p({"time": [{"prefix": 123}]}),
        "time[0].prefix",
        "prefix match pattern must be a string",
    ),
    Bad(
        "prefix-list",
        "LS:content_prefix_list_EXC",
        _p({"time": [{"prefix": ["2022"]}]}),
        "time[0].prefix",
        "prefix match pattern must be a string",
    ),
    Bad(
        "prefix-bad-inner",
        "EB-OPS begins with ignore case",
        _p({"s": [{"prefix": {"ignore-case": "x"}}]}),
        "s[0].prefix",
        "equals-ignore-case",
    ),
    Bad(
        "prefix-inner-not-string",
        "EB-OPS begins with ignore case",
        _p({"s": [{"prefix": {"equals-ignore-case": 1}}]}),
        "s[0].prefix",
        "equals-ignore-case",
    ),
    Bad(
        "suffix-int",
        "LS:content_suffix_int_EXC",
        _p({"FileName": [{"suffix": 123}]}),
        "FileName[0].suffix",
        "suffix match pattern must be a string",
    ),
    Bad(
        "suffix-list",
        "LS:content_suffix_list_EXC",
        _p({"FileName": [{"suffix": [".png"]}]}),
        "FileName[0].suffix",
        "suffix match pattern must be a string",
    ),
    Bad(
        "ignorecase-list",
        "LS:content_ignorecase_EXC",
        _p({"detail-type": [{"equals-ignore-case": ["ec2"]}]}),
        "detail-type[0].equals-ignore-case",
        "equals-ignore-case match pattern must be a string",
    ),
    Bad(
        "ignorecase-object",
        "LS:content_ignorecase_list_EXC",
        _p({"detail-type": [{"equals-ignore-case": {"prefix": "ec2"}}]}),
        "detail-type[0].equals-ignore-case",
        "equals-ignore-case match pattern must be a string",
    ),
    # --- numeric ----------------------------------------------------------------------------------------
    Bad(
        "numeric-operand-string",
        "brief example",
        _p({"body": {"price": [{"numeric": [">", "x"]}]}}),
        "body.price[0].numeric[1]",
        "numeric operand must be a number",
    ),
    Bad(
        "numeric-operand-bool",
        "EB Value of = must be numeric",
        _p({"p": [{"numeric": ["=", True]}]}),
        "p[0].numeric[1]",
        "Value of equals must be numeric",
    ),
    Bad(
        "numeric-operand-missing",
        "LS:content_numeric_syntax_EXC",
        _p({"c": [{"numeric": [">", 0, "<"]}]}),
        "c[0].numeric[3]",
        "Value of < must be numeric",
    ),
    Bad(
        "numeric-not-list",
        "EB Value of numeric must be an array",
        _p({"p": [{"numeric": 5}]}),
        "p[0].numeric",
        "must be an array",
    ),
    Bad(
        "numeric-empty",
        "EB Invalid member in numeric match",
        _p({"p": [{"numeric": []}]}),
        "p[0].numeric",
        "needs an operator",
    ),
    Bad(
        "numeric-op-not-string",
        "EB Invalid member in numeric match",
        _p({"p": [{"numeric": [5, ">"]}]}),
        "p[0].numeric[0]",
        "Invalid member in numeric match: 5",
    ),
    Bad(
        "numeric-op-unknown",
        "EB Unrecognized numeric range operator",
        _p({"p": [{"numeric": ["!=", 5]}]}),
        "p[0].numeric[0]",
        "Unrecognized numeric range operator: !=",
    ),
    Bad(
        "numeric-two-lower-bounds",
        "LS:content_numeric_EXC",
        _p({"c": [{"numeric": [">", 0, ">", 0]}]}),
        "c[0].numeric[2]",
        "Bad numeric range operator: >",
    ),
    Bad(
        "numeric-range-from-equals",
        "EB Too many elements in numeric expression",
        _p({"p": [{"numeric": ["=", 5, "<", 10]}]}),
        "p[0].numeric[2]",
        "Too many elements",
    ),
    Bad(
        "numeric-range-from-upper",
        "EB Too many elements in numeric expression",
        _p({"p": [{"numeric": ["<", 5, "<", 10]}]}),
        "p[0].numeric[2]",
        "Too many elements",
    ),
    Bad(
        "numeric-bottom-above-top",
        "EB Bottom must be less than top",
        _p({"p": [{"numeric": [">", 10, "<", 5]}]}),
        "p[0].numeric",
        "Bottom must be less than top",
    ),
    Bad(
        "numeric-bottom-equals-top",
        "EB Bottom must be less than top",
        _p({"p": [{"numeric": [">=", 5, "<=", 5]}]}),
        "p[0].numeric",
        "Bottom must be less than top",
    ),
    Bad(
        "numeric-too-many-terms",
        "EB Too many terms in numeric range expression",
        _p({"p": [{"numeric": [">", 0, "<", 5, "<", 6]}]}),
        "p[0].numeric[4]",
        "Too many terms",
    ),
    Bad(
        "numeric-infinite",
        "qworker (finite numbers only)",
        '{"p": [{"numeric": [">", 1e400]}]}',
        "p[0].numeric[1]",
        "finite",
    ),
    Bad("exact-infinite", "qworker (finite numbers only)", '{"p": [1e400]}', "p[0]", "finite"),
    # --- anything-but -----------------------------------------------------------------------------------
    Bad(
        "anything-but-null",
        "LS:content_anything_but_string_null_type_EXC",
        _p({"state": [{"anything-but": None}]}),
        "state[0].anything-but",
        "array or single string/number",
    ),
    Bad(
        "anything-but-bool",
        "EB anything-but operand",
        _p({"state": [{"anything-but": True}]}),
        "state[0].anything-but",
        "array or single string/number",
    ),
    Bad(
        "anything-but-list-null",
        "LS:content_anything_but_string_list_null_type_EXC",
        _p({"state": [{"anything-but": ["stopped", None]}]}),
        "state[0].anything-but[1]",
        "strings or numbers, not null",
    ),
    Bad(
        "anything-but-list-object",
        "EB anything-but list",
        _p({"state": [{"anything-but": [{"prefix": "x"}]}]}),
        "state[0].anything-but[0]",
        "strings or numbers",
    ),
    Bad(
        "anything-but-list-empty",
        "EB Empty arrays are not allowed",
        _p({"state": [{"anything-but": []}]}),
        "state[0].anything-but",
        "must not be empty",
    ),
    Bad(
        "anything-but-list-mixed",
        "EB-RULER (entirely strings or entirely numerics)",
        _p({"state": [{"anything-but": ["a", 1]}]}),
        "state[0].anything-but",
        "only strings or only numbers",
    ),
    Bad(
        "anything-but-prefix-not-in-pipes",
        "EB-OPS Pipe support: No",
        _p({"r": [{"anything-but": {"prefix": "us-"}}]}),
        "r[0].anything-but",
        PIPES + " anything-but with prefix",
    ),
    Bad(
        "anything-but-suffix-not-in-pipes",
        "EB-OPS Pipe support: No",
        _p({"f": [{"anything-but": {"suffix": ".png"}}]}),
        "f[0].anything-but",
        PIPES + " anything-but with suffix",
    ),
    Bad(
        "anything-but-ignorecase-not-in-pipes",
        "EB-OPS Pipe support: No",
        _p({"s": [{"anything-but": {"equals-ignore-case": "x"}}]}),
        "s[0].anything-but",
        PIPES + " anything-but with equals-ignore-case",
    ),
    Bad(
        "anything-but-wildcard-not-in-pipes",
        "EB-OPS Pipe support: No",
        _p({"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
        "p[0].anything-but",
        PIPES + " anything-but with wildcard",
    ),
    Bad(
        "anything-but-unknown-inner",
        "EB Unsupported anything-but pattern",
        _p({"p": [{"anything-but": {"numeric": [">", 1]}}]}),
        "p[0].anything-but.numeric",
        "Unsupported anything-but pattern: numeric",
    ),
    Bad(
        "anything-but-two-inner",
        "EB Only one key allowed",
        _p({"p": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}),
        "p[0].anything-but",
        "one operator",
    ),
    Bad(
        "ext-anything-but-prefix-int",
        "LS:content_anything_prefix_int_EXC",
        _p({"state": [{"anything-but": {"prefix": 123}}]}),
        "state[0].anything-but.prefix",
        "prefix/suffix match pattern must be a string",
        True,
    ),
    Bad(
        "ext-anything-but-prefix-list-type",
        "LS:content_anything_prefix_list_type_EXC",
        _p({"state": [{"anything-but": {"prefix": [123, "test"]}}]}),
        "state[0].anything-but.prefix",
        "prefix/suffix match pattern must be a string",
        True,
    ),
    Bad(
        "ext-anything-but-prefix-empty",
        "LS:content_anything_prefix_empty_EXC",
        _p({"state": [{"anything-but": {"prefix": ""}}]}),
        "state[0].anything-but.prefix",
        "Null prefix/suffix not allowed",
        True,
    ),
    Bad(
        "ext-anything-but-suffix-int",
        "LS:content_anything_suffix_int_EXC",
        _p({"f": [{"anything-but": {"suffix": 123}}]}),
        "f[0].anything-but.suffix",
        "prefix/suffix match pattern must be a string",
        True,
    ),
    Bad(
        "ext-anything-but-suffix-list-type",
        "LS:content_anything_suffix_list_type_EXC",
        _p({"f": [{"anything-but": {"suffix": [123, ".txt"]}}]}),
        "f[0].anything-but.suffix",
        "prefix/suffix match pattern must be a string",
        True,
    ),
    Bad(
        "ext-anything-but-prefix-ignorecase",
        "LS:content_anything_prefix_ignorecase_EXC",
        _p({"f": [{"anything-but": {"prefix": {"equals-ignore-case": "file"}}}]}),
        "f[0].anything-but.prefix",
        "Value of anything-but must be an array or single string/number value",
        True,
    ),
    Bad(
        "ext-anything-but-suffix-ignorecase",
        "LS:content_anything_suffix_ignorecase_EXC",
        _p({"f": [{"anything-but": {"suffix": {"equals-ignore-case": ".png"}}}]}),
        "f[0].anything-but.suffix",
        "Value of anything-but must be an array or single string/number value",
        True,
    ),
    Bad(
        "ext-anything-but-ignorecase-number",
        "LS:content_anything_but_ignorecase_EXC",
        _p({"s": [{"anything-but": {"equals-ignore-case": 123}}]}),
        "s[0].anything-but.equals-ignore-case",
        "a string or a list of strings",
        True,
    ),
    Bad(
        "ext-anything-but-ignorecase-numbers",
        "LS:content_anything_but_ignorecase_list_EXC",
        _p({"s": [{"anything-but": {"equals-ignore-case": [123, 456]}}]}),
        "s[0].anything-but.equals-ignore-case",
        "a string or a list of strings",
        True,
    ),
    Bad(
        "ext-anything-but-wildcard-int",
        "LS:content_anything_wildcard_type_EXC",
        _p({"p": [{"anything-but": {"wildcard": 123}}]}),
        "p[0].anything-but.wildcard",
        "wildcard match pattern must be a string",
        True,
    ),
    Bad(
        "ext-anything-but-wildcard-list-type",
        "LS:content_anything_wildcard_list_type_EXC",
        _p({"s": [{"anything-but": {"wildcard": [123, "*/dir/*"]}}]}),
        "s[0].anything-but.wildcard",
        "wildcard match pattern must be a string",
        True,
    ),
    # --- wildcard and cidr: refused for SQS, validated as extensions ---------------------------------
    Bad(
        "wildcard-not-in-pipes",
        "EB-OPS Pipe support: No",
        _p({"FilePath": [{"wildcard": "dir/*.png"}]}),
        "FilePath[0]",
        PIPES + " the wildcard operator",
    ),
    Bad(
        "cidr-not-in-pipes",
        "EB-OPS (cidr not listed for Pipes)",
        _p({"ip": [{"cidr": "10.0.0.0/24"}]}),
        "ip[0]",
        PIPES + " the cidr",
    ),
    Bad(
        "ext-wildcard-int",
        "LS:content_wildcard_int_EXC",
        _p({"a": [{"wildcard": 123}]}),
        "a[0].wildcard",
        "wildcard match pattern must be a string",
        True,
    ),
    Bad(
        "ext-wildcard-list",
        "LS:content_wildcard_list_EXC",
        _p({"a": [{"wildcard": ["x*"]}]}),
        "a[0].wildcard",
        "wildcard match pattern must be a string",
        True,
    ),
    Bad(
        "ext-wildcard-double-star",
        "LS:content_wildcard_repeating_star_EXC",
        _p({"a": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}),
        "a[0].wildcard",
        "Consecutive wildcard characters at pos 26",
        True,
    ),
    Bad(
        "ext-wildcard-bad-escape",
        "EB-RULER wildcard escapes",
        _p({"a": [{"wildcard": "a\\b"}]}),
        "a[0].wildcard",
        "Invalid escape",
        True,
    ),
    Bad(
        "ext-cidr-no-slash",
        "LS:content_ip_address_EXC",
        _p({"ip": [{"cidr": "bad-value"}]}),
        "ip[0].cidr",
        "Malformed CIDR, one '/' required",
        True,
    ),
    Bad(
        "ext-cidr-bad-mask",
        "LS:content_ip_address_bad_mask_EXC",
        _p({"ip": [{"cidr": "10.0.0.0/xx"}]}),
        "ip[0].cidr",
        "mask bits must be an integer",
        True,
    ),
    Bad(
        "ext-cidr-bad-ip",
        "LS:content_ip_address_bad_ip_EXC",
        _p({"ip": [{"cidr": "xx.11.xx/24"}]}),
        "ip[0].cidr",
        "Nonstandard IP address: xx.11.xx",
        True,
    ),
    Bad(
        "ext-cidr-bad-ip-v6",
        "LS:content_ip_address_v6_bad_ip_EXC",
        _p({"ip": [{"cidr": "xxxx:db8:1234:1a00::/64"}]}),
        "ip[0].cidr",
        "Nonstandard IP address: xxxx:db8:1234:1a00::",
        True,
    ),
    Bad(
        "ext-cidr-type",
        "LS:content_ip_address_type_EXC",
        _p({"ip": [{"cidr": ["bad-type"]}]}),
        "ip[0].cidr",
        "must be a string",
        True,
    ),
    # --- $or ------------------------------------------------------------------------------------------------
    Bad(
        "or-one-alternative",
        "brief ($or needs 2 alternatives)",
        _p({"body": {"$or": [{"a": [1]}]}}),
        "body.$or",
        "at least 2 alternatives, got 1",
    ),
    Bad(
        "or-no-alternative",
        "brief ($or needs 2 alternatives)",
        _p({"$or": []}),
        "$or",
        "at least 2 alternatives, got 0",
    ),
    Bad(
        "or-object",
        "EB-RULER ($or must be an array)",
        _p({"$or": {"a": [1]}}),
        "$or",
        "must be an array of at least 2 objects",
    ),
    Bad(
        "or-scalar-alternative",
        "EB-RULER ($or of objects)",
        _p({"$or": [{"a": [1]}, "b"]}),
        "$or[1]",
        "non-empty object",
    ),
    Bad(
        "or-empty-alternative",
        "EB-RULER ($or of objects)",
        _p({"$or": [{"a": [1]}, {}]}),
        "$or[1]",
        "non-empty object",
    ),
    Bad(
        "or-bad-inside",
        "EB-RULER ($or alternatives are patterns)",
        _p({"$or": [{"a": [1]}, {"b": [{"numeric": ["<", "x"]}]}]}),
        "$or[1].b[0].numeric[1]",
        "numeric operand",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_invalid_pattern(bad: Bad) -> None:
    with pytest.raises(InvalidFilterPattern) as caught:
        FilterCriteria.compile([bad.pattern], extensions=bad.extensions)  # type: ignore[list-item]
    error = caught.value
    message = str(error)
    assert message.startswith(AWS_INVALID_FILTER_MESSAGE + " Filter 1")
    assert bad.reason in error.reason
    assert error.filter_index == 0
    if bad.id != "too-deep":
        assert error.path == bad.path
        if bad.path:
            assert f" at {bad.path}: " in message
    # a ConfigError: `qworker run` exits 2 with this message
    assert isinstance(error, ConfigError)
    assert error.exit_code == ExitCode.USAGE
    assert error.code == "InvalidParameterValueException"


def test_table_ids_unique() -> None:
    assert len({b.id for b in BAD}) == len(BAD)


@pytest.mark.parametrize(
    "pattern",
    [
        _p({"FilePath": [{"wildcard": "dir/*.png"}]}),
        _p({"ip": [{"cidr": "10.0.0.0/24"}]}),
        _p({"r": [{"anything-but": {"prefix": "us-"}}]}),
        _p({"r": [{"anything-but": {"suffix": [".png", ".jpg"]}}]}),
        _p({"r": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}),
        _p({"r": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}),
    ],
)
def test_extensions_accept_what_lambda_refuses(pattern: str) -> None:
    """The "No" operators of the Pipes column are an opt-in superset (EB-OPS)."""
    with pytest.raises(InvalidFilterPattern, match="Lambda does not support"):
        FilterCriteria.compile([pattern])
    assert FilterCriteria.compile([pattern], extensions=True).extensions


def test_length_limit_is_inclusive() -> None:
    filler = "x" * (MAX_PATTERN_LENGTH - len(_p({"body": {"a": [""]}})))
    exactly = _p({"body": {"a": [filler]}})
    assert len(exactly) == MAX_PATTERN_LENGTH
    FilterCriteria.compile([exactly])
    with pytest.raises(InvalidFilterPattern, match="4097 characters long"):
        FilterCriteria.compile([_p({"body": {"a": [filler + "y"]}})])


def test_too_deep_names_where_it_stopped() -> None:
    with pytest.raises(InvalidFilterPattern) as caught:
        FilterCriteria.compile(['{"a":' * 70 + "[1]" + "}" * 70])
    assert caught.value.path.startswith("a.a.a.")


def test_filter_count_quota() -> None:
    """FLT-1: 5 filters by default, up to 10 when the quota is raised, never more."""
    one = _p({"body": {"a": [1]}})
    FilterCriteria.compile([one] * 5)
    with pytest.raises(InvalidFilterPattern, match="6 filters given, the limit is 5") as caught:
        FilterCriteria.compile([one] * 6)
    assert str(caught.value).startswith(AWS_INVALID_FILTER_MESSAGE)
    assert caught.value.filter_index is None
    FilterCriteria.compile([one] * 10, max_filters=10)
    with pytest.raises(InvalidFilterPattern, match="11 filters given, the limit is 10"):
        FilterCriteria.compile([one] * 11, max_filters=10)
    for quota in (0, 11, True, 2.5):
        with pytest.raises(ConfigError, match="max_filters must be between 1 and 10"):
            FilterCriteria.compile([one], max_filters=quota)  # type: ignore[arg-type]


def test_error_names_the_failing_filter() -> None:
    with pytest.raises(InvalidFilterPattern) as caught:
        FilterCriteria.compile([_p({"body": {"a": [1]}}), _p({"body": {"b": [{"prefix": 1}]}})])
    assert caught.value.filter_index == 1
    assert str(caught.value) == (
        "Invalid filter pattern definition. Filter 2 at body.b[0].prefix: "
        "prefix match pattern must be a string, got a number"
    )


def test_a_single_string_is_not_a_list_of_patterns() -> None:
    with pytest.raises(TypeError, match="sequence of pattern strings"):
        FilterCriteria.compile('{"body": {"a": [1]}}')

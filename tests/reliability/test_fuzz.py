"""The fuzz campaign's CI part: every target of :mod:`tests.reliability.fuzz` for a few hundred
derandomized hypothesis examples, and every input that once crashed a target (regressions).

The long run is ``python -m tests.reliability.fuzz --seconds N``; see that module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import msgpack
import pytest
import structlog
from hypothesis import HealthCheck, given, settings

from tests.reliability.fuzz import TARGETS, SqliteCase, check

#: examples per target; the slow targets (a file written and parsed per example) get fewer
EXAMPLES = {"sam-template": 150, "config-file": 200, "sqlite-rows": 300}
_DEEP_DOTTED = '{"' + ".".join(["a"] * 500) + '": [1]}'
_QUEUE = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n"
_FUNCTION = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"

#: inputs that crashed a target before its fix (what the old code raised, then the input)
REGRESSIONS: list[tuple[str, str, object]] = [
    # Redis envelope: "²".isdigit() is true, so the decoder accepted it and peek's int() raised
    ("redis-envelope", "ValueError", msgpack.packb([1, "b", None, "m", None, None, None, None, "²", None])),
    (
        "redis-envelope",
        "ValueError",
        msgpack.packb([1, "b", None, "m", None, None, None, None, "9" * 5000, None]),
    ),
    # SQLite rows: attributes blob, column types, a missing large body, the queue's spec
    ("sqlite-rows", "FormatError", SqliteCase(False, False, (("attrs", b"\xc1"),), False, None)),
    (
        "sqlite-rows",
        "AttributeError",
        SqliteCase(False, False, (("attrs", msgpack.packb([1, 2])),), False, None),
    ),
    (
        "sqlite-rows",
        "ValueError",
        SqliteCase(False, False, (("attrs", msgpack.packb({"a": [1]})),), False, None),
    ),
    ("sqlite-rows", "KeyError", SqliteCase(False, True, (), True, None)),
    ("sqlite-rows", "TypeError", SqliteCase(False, False, (("body", b"bytes body"),), False, None)),
    ("sqlite-rows", "ValueError", SqliteCase(True, False, (("sequence_number", "abc"),), False, None)),
    ("sqlite-rows", "KeyError", SqliteCase(False, False, (), False, "{}")),
    ("sqlite-rows", "JSONDecodeError", SqliteCase(False, False, (), False, "not json")),
    (
        "sqlite-rows",
        "TypeError",
        SqliteCase(False, False, (), False, json.dumps({"visibility_timeout": "30", "redrive_policy": None})),
    ),
    # filter patterns: dotted keys did not count against the depth limit
    ("filter-pattern", "RecursionError", (_DEEP_DOTTED, False, [{"body": "{}"}])),
    # SAM templates
    (
        "sam-template",
        "ValueError",
        "Resources: {Q: {Type: AWS::SQS::Queue, Properties: {DelaySeconds: 1" + "0" * 5000 + "}}}",
    ),
    ("sam-template", "RecursionError", "Resources: {Q: " + "[" * 5000 + "]" * 5000 + "}"),
    ("sam-template", "RecursionError", _QUEUE + "      QueueName: &n [*n]\n"),
    ("sam-template", "AttributeError", "Resources: {1: {Type: AWS::SQS::Queue}}"),
    ("sam-template", "RecursionError", _QUEUE + "      QueueName: !Sub '${Q.Arn}-x'\n"),
    ("sam-template", "AttributeError", _QUEUE + "      just a string\n"),
    ("sam-template", "TypeError", "Parameters: Env\n" + _QUEUE + "      QueueName: !Ref Env\n"),
    (
        "sam-template",
        "RecursionError",
        "Conditions: {C: {Condition: C}}\n" + _QUEUE.replace("    Properties:\n", "    Condition: C\n"),
    ),
    # config files
    (
        "config-file",
        "TypeError",
        (
            "qworker.toml",
            '[functions.f]\nhandler = "app:handler"\nqueue = "q"\nfilters = [{a = 2001-01-01}]\n',
        ),
    ),
    (
        "config-file",
        "OverflowError",
        (
            "qworker.toml",
            '[functions.f]\nhandler = "app:handler"\nqueue = "q"\ntimeout = 1' + "0" * 400 + "\n",
        ),
    ),
    # backend URLs: a cluster host list in redact_url, '[' in an SQS endpoint_url
    ("backend-url", "ValueError", "rediss+cluster://user:pw@h1:7000,h2:7001"),
    ("backend-url", "ValueError", "sqs://?endpoint_url=http://[x"),
]


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    """Corrupt rows are logged every time they are received: keep the test output short."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("name", list(TARGETS))
def test_target_raises_only_its_documented_errors(name: str) -> None:
    target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES.get(name, 400),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def one(value: object) -> None:
        crash = check(target, value)
        if crash is not None:
            raise crash

    one()


@pytest.mark.parametrize(
    ("name", "old_error", "value"),
    REGRESSIONS,
    ids=[f"{name}-{i}-{error}" for i, (name, error, _) in enumerate(REGRESSIONS)],
)
def test_input_that_once_crashed_is_handled(name: str, old_error: str, value: object) -> None:
    crash = check(TARGETS[name], value)
    assert crash is None, f"{type(crash).__name__}: {crash} (before the fix: {old_error})"


def test_every_target_has_a_regression_or_is_clean() -> None:
    """The targets the campaign found nothing in (send-file) still run in the property test."""
    assert {name for name, _, _ in REGRESSIONS} <= set(TARGETS)

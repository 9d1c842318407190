"""Fuzzing campaign over every decoder and parser that takes outside input (issue #13, T16).

The contract: for any input, each target either succeeds or raises its own documented error
type, never an internal exception (TypeError, KeyError, AttributeError, RecursionError,
UnicodeDecodeError, ...). Where a target returns decoded data, that data must also be usable
by what consumes it (a Lambda record that serialises, a peek line, a matcher that answers).

Targets (``TARGETS``):

``redis-envelope``
    :func:`qworker_redis.codec.decode` on bytes (random, near-valid msgpack, mutated valid
    envelopes). Documented result: an Envelope or a corrupt-reason string; it never raises.
``sqlite-rows``
    A real SQLite store whose message row (every decoded column, the attributes blob, the large
    body row) and queue row (the spec JSON) are overwritten with values of any SQLite type, then
    ``peek`` and ``receive``. Documented error: :class:`~qworker.errors.QWorkerError` (a corrupt
    queue row is ``CorruptRecord``); a corrupt message never fails the call.
``filter-pattern``
    :func:`qworker.filters.compile_pattern` on pattern texts (generated EventBridge-like
    patterns, JSON, raw text), then the matcher on generated records. Documented error:
    ``InvalidFilterPattern`` when compiling; matching never raises.
``sam-template``
    ``load_template`` and ``resolve(--template)`` on generated SAM/CloudFormation YAML (short
    and long intrinsics, anchors, odd YAML types) and raw text. Documented error: ``ConfigError``.
``config-file``
    ``resolve(--config)`` on generated ``qworker.toml`` / ``pyproject.toml`` texts and raw text.
    Documented error: ``ConfigError``.
``send-file``
    ``qworker send --file``'s reader and planner (lines, ``--attribute`` texts, FIFO options)
    on any bytes. Documented error: the CLI's usage error (``click.ClickException``, exit 2).
``backend-url``
    ``open_backend`` on any URL text (documented error: ``QWorkerError``) and ``redact_url``
    (never raises).

Two ways to run it:

* ``tests/reliability/test_fuzz.py`` runs each target for a few hundred derandomized hypothesis
  examples, plus every input that once crashed a target (``REGRESSIONS``): fast, in CI;
* ``python -m tests.reliability.fuzz --seconds N`` runs each target for N seconds (fresh random
  seeds, no shrinking), keeps going after a crash, and records per target the inputs tried and
  the crashes found with :func:`tests.reliability.figures.record`. ``--engine atheris`` (after
  ``pip install atheris``: a wheel exists for CPython 3.11; not a dev dependency, CI does not
  need it) drives the same targets coverage-guided, one subprocess per target,
  mapping atheris' bytes to structured inputs with hypothesis' ``fuzz_one_input``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import msgpack
import yaml
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from qworker.errors import ConfigError, QWorkerError

# -- the harness ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One fuzz target: how to make inputs, how to run one, which errors are documented."""

    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], None]
    allowed: tuple[type[BaseException], ...]
    doc: str = ""


def check(target: Target, value: Any) -> BaseException | None:
    """Run one input: ``None`` when it passed or raised a documented error, else the crash."""
    try:
        target.run(value)
    except target.allowed:
        return None
    except Exception as exc:
        return exc
    return None


def crash_key(exc: BaseException) -> str:
    """Where a crash comes from: its type and the innermost frame in qworker's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/qworker" in f.filename and "/tests/" not in f.filename] or frames[-1:]
    where = f"{Path(own[-1].filename).name}:{own[-1].lineno}" if own else "?"
    return f"{type(exc).__name__} at {where}"


@dataclass
class Stats:
    inputs: int = 0
    crashes: int = 0
    #: atheris only: byte strings tried (``inputs`` counts those hypothesis turned into a case)
    executions: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # crash key -> one input (repr, cut)

    def add(self, exc: BaseException, value: Any) -> None:
        self.crashes += 1
        key = crash_key(exc)
        if key not in self.keys:
            self.keys[key] = f"{repr(value)[:300]} -> {type(exc).__name__}: {str(exc)[:200]}"


# -- shared input pieces -------------------------------------------------------------------------

_KEYS = ["body", "a", "b", "a.b", "x.y.z", "$or", "attributes", "messageAttributes", "price", "", "é"]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=6)), inner, max_size=4)
    ),
    max_leaves=16,
)


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Byte-level edits: (position, byte, kind) with kind 0 flip, 1 insert, 2 delete, 3 truncate."""
    out = bytearray(data)
    for position, byte, kind in edits:
        if not out:
            out.append(byte)
            continue
        i = position % len(out)
        if kind == 0:
            out[i] ^= byte or 1
        elif kind == 1:
            out.insert(i, byte)
        elif kind == 2:
            del out[i]
        else:
            del out[i:]
    return bytes(out)


def mutated(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 3)), max_size=4)
    return st.builds(_mutate, base, edits)


def mutated_text(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return mutated(base.map(lambda s: s.encode())).map(lambda b: b.decode("utf-8", "replace"))


# -- redis-envelope --------------------------------------------------------------------------------

_msgpack_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
)
_msgpack_values = st.recursive(
    _msgpack_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 9)), inner, max_size=3)
    ),
    max_leaves=12,
)
_sent_ms = st.one_of(
    st.from_regex(r"[0-9]{1,13}", fullmatch=True),
    st.sampled_from(["²", "١٢٣", "1²", "", "-1", " 1", "9" * 5000, "1_000", "0x10"]),
    st.text(max_size=8),
)


@st.composite
def _near_valid_envelope(draw: st.DrawFn) -> bytes:
    from qworker.backend import MessageAttributeValue
    from qworker_redis import codec

    attributes = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=6),
            st.one_of(
                st.builds(
                    MessageAttributeValue, st.sampled_from(["String", "Number", "x"]), st.text(max_size=6)
                ),
                st.builds(lambda b: MessageAttributeValue("Binary", None, b), st.binary(max_size=6)),
            ),
            max_size=3,
        )
    )
    prefix = codec.encode_prefix(
        draw(st.text(max_size=20)),
        attributes,
        draw(st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
        draw(st.none() | st.text(max_size=8)),
    )
    tail = msgpack.packb(draw(_sent_ms)) + msgpack.packb(
        draw(st.none() | st.text(max_size=8) | _msgpack_values)
    )
    return prefix + tail


@st.composite
def _field_swapped_envelope(draw: st.DrawFn) -> bytes:
    """A 10-item array where any item may be of any msgpack type."""
    items = [draw(st.one_of(st.just(1), _msgpack_values))]
    items += [draw(st.one_of(st.text(max_size=8), _msgpack_values)) for _ in range(7)]
    items += [draw(_sent_ms), draw(st.none() | _msgpack_values)]
    if draw(st.booleans()):
        items[2] = draw(st.lists(st.lists(_msgpack_scalars, max_size=4), max_size=3))
    return msgpack.packb(items, use_bin_type=True)


_crafted = st.sampled_from(
    [
        b"\x91" * 5000 + b"\xc0",  # 5000 nested arrays
        b"\xdd\xff\xff\xff\xff",  # array32 announcing 4G items
        b"\xdf\xff\xff\xff\xff",  # map32 announcing 4G pairs
        b"\xdb\xff\xff\xff\xff",  # str32 announcing 4 GiB
        b"\xc7\x01\x01x",  # ext8
        b"\x9a" + b"\xc0" * 10,
        b"",
    ]
)
redis_envelopes = st.one_of(
    st.binary(max_size=300),
    _near_valid_envelope(),
    _field_swapped_envelope(),
    mutated(_near_valid_envelope()),
    _crafted,
    st.none(),
)


def run_redis_envelope(data: bytes | None) -> None:
    from qworker import events
    from qworker.backend import MessageAttributeValue, ReceivedMessage
    from qworker_redis import codec

    result = codec.decode(data)
    if isinstance(result, str):
        return
    # what the consumers do with a decoded envelope: peek reads SentTimestamp as a number, the
    # runtime builds and serialises the Lambda record
    int(result.sent_ms)
    assert all(isinstance(v, MessageAttributeValue) for v in result.attributes.values())
    message = ReceivedMessage(
        "id",
        "handle",
        result.body,
        result.md5_of_body,
        {"ApproximateReceiveCount": "1", "SentTimestamp": result.sent_ms},
        result.attributes,
        result.md5_of_attributes,
    )
    record = events.build_record(message, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
    json.dumps(record)
    events.record_size(record)


# -- sqlite-rows -----------------------------------------------------------------------------------

_SQLITE_COLUMNS = (
    "message_id",
    "md5_body",
    "md5_attrs",
    "sent_ms",
    "receive_count",
    "first_receive_ms",
    "group_id",
    "dedup_id",
    "sequence_number",
    "dlq_source",
    "trace_header",
    "last_error",
    "attrs",
    "body",
)
_sqlite_values = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=16),
    st.binary(max_size=16),
    _msgpack_values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.dictionaries(st.text(max_size=4), st.lists(_msgpack_scalars, max_size=4), max_size=3).map(
        lambda v: msgpack.packb(v, use_bin_type=True)
    ),
)
_SPEC_FIELDS = (
    "visibility_timeout",
    "message_retention_period",
    "delay_seconds",
    "maximum_message_size",
    "receive_wait_time_seconds",
    "redrive_policy",
    "content_based_deduplication",
    "deduplication_scope",
)


@st.composite
def _spec_text(draw: st.DrawFn) -> str:
    fields: dict[str, Any] = {
        "visibility_timeout": 30,
        "message_retention_period": 345600,
        "delay_seconds": 0,
        "maximum_message_size": 262144,
        "receive_wait_time_seconds": 0,
        "redrive_policy": None,
        "content_based_deduplication": False,
        "deduplication_scope": "queue",
    }
    for name in draw(st.lists(st.sampled_from(_SPEC_FIELDS), max_size=3)):
        fields[name] = draw(json_values)
    if draw(st.booleans()):
        fields[draw(st.text(max_size=5))] = 1
    if draw(st.booleans()):
        del fields[draw(st.sampled_from(_SPEC_FIELDS))]
    return json.dumps(fields)


@dataclass(frozen=True)
class SqliteCase:
    fifo: bool
    large: bool
    columns: tuple[tuple[str, Any], ...]
    drop_body: bool
    spec: str | None


sqlite_cases = st.builds(
    SqliteCase,
    st.booleans(),
    st.booleans(),
    st.lists(st.tuples(st.sampled_from(_SQLITE_COLUMNS), _sqlite_values), max_size=4).map(tuple),
    st.booleans(),
    st.one_of(st.none(), st.none(), _spec_text(), st.text(max_size=20), mutated_text(_spec_text())),
)

_store: Any = None


def _sqlite_store() -> Any:
    global _store
    if _store is None:
        from qworker.backend import QueueSpec
        from qworker_sqlite.schema import open_connection
        from qworker_sqlite.store import Store
        from qworker_sqlite.url import SQLiteOptions

        _store = Store(open_connection(SQLiteOptions(path=None)), time.time)
        _store.create_queue(QueueSpec("fz"))
        _store.create_queue(QueueSpec("fz.fifo", content_based_deduplication=True))
    return _store


def run_sqlite_rows(case: SqliteCase) -> None:
    from qworker import events
    from qworker.backend import SendEntry
    from qworker.commands import peek_output
    from qworker_sqlite import acks, receive, send

    store = _sqlite_store()
    conn = store.conn
    name = "fz.fifo" if case.fifo else "fz"
    conn.execute("DELETE FROM messages")
    conn.execute("DELETE FROM fifo_groups")
    conn.execute("DELETE FROM fifo_dedup")
    original = conn.execute("SELECT spec FROM queues WHERE name = ?", (name,)).fetchone()[0]
    body = "x" * 2000 if case.large else "small body"
    entry = SendEntry(body, message_group_id="g" if case.fifo else None)
    result = send.send(store, name, [entry])
    assert not result.failed, result.failed
    try:
        for column, value in case.columns:
            table = "bodies" if case.large and column in ("attrs", "body") else "messages"
            try:
                conn.execute(f"UPDATE {table} SET {column} = ?", (value,))
            except sqlite3.IntegrityError:  # NULL in a NOT NULL column: a state no writer can make
                continue
        if case.drop_body:
            conn.execute("DELETE FROM bodies")
        if case.spec is not None:
            conn.execute("UPDATE queues SET spec = ? WHERE name = ?", (case.spec, name))
        for peeked in acks.peek(store, name, 10):
            json.dumps(peek_output.message_json(peeked))
        outcome = receive.receive(store, name, 10, None, may_wait=False)
        for message in outcome.messages:
            record = events.build_record(message, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
            json.dumps(record)
    finally:
        conn.execute("UPDATE queues SET spec = ? WHERE name = ?", (original, name))


# -- filter-pattern ------------------------------------------------------------------------------

_filter_keys = st.one_of(st.sampled_from(_KEYS), st.text(max_size=6))
_operand = st.one_of(json_values, st.text(max_size=8))
_operators = st.one_of(
    st.builds(lambda v: {"exists": v}, st.one_of(st.booleans(), _operand)),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["prefix", "suffix", "equals-ignore-case"]), _operand),
    st.builds(lambda v: {"prefix": {"equals-ignore-case": v}}, _operand),
    st.builds(
        lambda terms: {"numeric": terms},
        st.lists(st.one_of(st.sampled_from(["=", "<", "<=", ">", ">=", "!"]), json_scalars), max_size=5),
    ),
    st.builds(lambda v: {"anything-but": v}, _operand),
    st.builds(
        lambda op, v: {"anything-but": {op: v}},
        st.sampled_from(["prefix", "suffix", "equals-ignore-case", "wildcard"]),
        _operand,
    ),
    st.builds(lambda v: {"wildcard": v}, st.one_of(st.text("ab*\\", max_size=8), _operand)),
    st.builds(
        lambda v: {"cidr": v}, st.one_of(st.sampled_from(["10.0.0.0/24", "::1/128", "1.2.3.4/99"]), _operand)
    ),
    st.dictionaries(st.text(max_size=8), _operand, max_size=2),
)
_leaf_lists = st.lists(st.one_of(json_scalars, _operators), max_size=4)
filter_patterns = st.recursive(
    st.dictionaries(_filter_keys, _leaf_lists, min_size=1, max_size=3),
    lambda inner: (
        st.dictionaries(_filter_keys, st.one_of(inner, _leaf_lists), min_size=1, max_size=3)
        | st.builds(lambda alts: {"$or": alts}, st.lists(inner, max_size=3))
    ),
    max_leaves=8,
)
_deep_dotted = st.integers(1, 800).map(lambda n: '{"' + ".".join(["a"] * n) + '": [1]}')
filter_texts = st.one_of(
    filter_patterns.map(json.dumps),
    filter_patterns.map(lambda p: json.dumps({"body": p})),
    st.text(max_size=40),
    json_values.map(json.dumps),
    mutated_text(filter_patterns.map(json.dumps)),
    _deep_dotted,
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "[1]" + "}" * n),
)
_bodies = st.one_of(
    json_values.map(json.dumps),
    st.builds(lambda p: json.dumps(p), filter_patterns),
    st.text(max_size=20),
    st.sampled_from(["NaN", "1e999", "-0", "[]", "{}", "null", "9" * 5000]),
)
filter_records = st.fixed_dictionaries(
    {"body": _bodies},
    optional={
        "attributes": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
        "messageAttributes": st.dictionaries(st.text(max_size=6), json_values, max_size=2),
        "a": json_values,
        "a.b": json_values,
    },
)
filter_cases = st.tuples(filter_texts, st.booleans(), st.lists(filter_records, min_size=1, max_size=3))


def run_filter_pattern(case: tuple[str, bool, list[dict[str, Any]]]) -> None:
    from qworker.filters import compile_pattern, parse_body

    text, extensions, records = case
    compiled = compile_pattern(text, extensions=extensions)
    for record in records:
        answer = compiled.matcher(record, parse_body(record["body"]))
        assert answer is True or answer is False, answer


# -- sam-template --------------------------------------------------------------------------------


class Tagged:
    """A YAML short-form intrinsic (``!Ref x``) in a generated template."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value

    def __repr__(self) -> str:
        return f"{self.tag} {self.value!r}"


class _Dumper(yaml.SafeDumper):
    pass


def _represent_tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, str(data.value))


_Dumper.add_representer(Tagged, _represent_tagged)

_names = st.one_of(
    st.sampled_from(
        ["Q", "Dlq", "Fn", "Env", "IsProd", "AWS::Region", "AWS::StackName", "AWS::NoValue", "M"]
    ),
    st.text(max_size=5),
)
_intrinsic_args = st.one_of(json_scalars, st.lists(json_scalars, max_size=3), _names)


def _intrinsics(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    functions = st.sampled_from(
        [
            "Sub",
            "Join",
            "Select",
            "Split",
            "If",
            "FindInMap",
            "Base64",
            "ImportValue",
            "Equals",
            "Not",
            "And",
            "Or",
            "GetAZs",
            "Cidr",
            "Transform",
            "Whatever",
        ]
    )
    return st.one_of(
        st.builds(lambda n: {"Ref": n}, _names),
        st.builds(
            lambda n, a: {"Fn::GetAtt": [n, a]},
            _names,
            st.sampled_from(["Arn", "QueueName", "QueueUrl", "X"]),
        ),
        st.builds(lambda f, v: {f"Fn::{f}": v}, functions, st.one_of(inner, _intrinsic_args)),
        st.builds(lambda n: {"Condition": n}, _names),
        st.builds(lambda n: Tagged("!Ref", n), _names),
        st.builds(
            lambda v: Tagged("!GetAtt", v), st.sampled_from(["Q.Arn", "Dlq.QueueName", "Q", ".", "Fn.Arn"])
        ),
        st.builds(
            lambda f, v: Tagged(f"!{f}", v),
            functions,
            st.one_of(st.text(max_size=8), st.lists(json_scalars, max_size=3)),
        ),
    )


cfn_values = st.recursive(
    st.one_of(json_scalars, st.datetimes().map(lambda d: d.date()), st.binary(max_size=4)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
        _intrinsics(inner),
    ),
    max_leaves=10,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, cfn_values)


_event_properties = st.fixed_dictionaries(
    {},
    optional={
        "Queue": _maybe(
            st.one_of(
                st.builds(lambda: {"Fn::GetAtt": ["Q", "Arn"]}),
                st.just(Tagged("!GetAtt", "Q.Arn")),
                st.just("arn:aws:sqs:us-east-1:123456789012:orders"),
                st.just("https://sqs.us-east-1.amazonaws.com/123456789012/orders"),
            )
        ),
        "BatchSize": _maybe(st.integers(-5, 20000)),
        "MaximumBatchingWindowInSeconds": _maybe(st.integers(-1, 400)),
        "FunctionResponseTypes": _maybe(st.just(["ReportBatchItemFailures"])),
        "FilterCriteria": _maybe(
            st.builds(
                lambda ps: {"Filters": [{"Pattern": p} for p in ps]}, st.lists(filter_texts, max_size=2)
            )
        ),
        "ScalingConfig": _maybe(st.builds(lambda n: {"MaximumConcurrency": n}, st.integers(0, 2000))),
        "Enabled": _maybe(st.booleans()),
        "KmsKeyArn": cfn_values,
    },
)
_function = st.fixed_dictionaries(
    {"Type": st.just("AWS::Serverless::Function")},
    optional={
        "Condition": _names,
        "Properties": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "Handler": _maybe(st.sampled_from(["app.handler", "src/app.handler", "a.b.c", "x"])),
                    "Runtime": st.just("python3.12"),
                    "CodeUri": _maybe(st.sampled_from(["src/", ".", "s3://bucket/key", "../.."])),
                    "Timeout": _maybe(st.integers(-1, 1000)),
                    "MemorySize": _maybe(st.integers(0, 20000)),
                    "Environment": _maybe(
                        st.builds(
                            lambda v: {"Variables": v},
                            st.dictionaries(st.text(max_size=5), cfn_values, max_size=3),
                        )
                    ),
                    "Events": _maybe(
                        st.dictionaries(
                            st.text(min_size=1, max_size=5),
                            st.fixed_dictionaries(
                                {"Type": st.sampled_from(["SQS", "SQS", "Api", "Schedule"])},
                                optional={"Properties": _maybe(_event_properties)},
                            ),
                            max_size=2,
                        )
                    ),
                },
            )
        ),
    },
)
_queue = st.fixed_dictionaries(
    {"Type": st.just("AWS::SQS::Queue")},
    optional={
        "Condition": _names,
        "Properties": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "QueueName": _maybe(st.sampled_from(["orders", "orders.fifo", "dlq", "bad name", ""])),
                    "FifoQueue": _maybe(st.booleans()),
                    "ContentBasedDeduplication": _maybe(st.booleans()),
                    "VisibilityTimeout": _maybe(st.integers(-1, 50000)),
                    "MessageRetentionPeriod": _maybe(st.integers(0, 2000000)),
                    "DelaySeconds": _maybe(st.integers(-1, 1000)),
                    "MaximumMessageSize": _maybe(st.integers(0, 2000000)),
                    "ReceiveMessageWaitTimeSeconds": _maybe(st.integers(-1, 30)),
                    "RedrivePolicy": _maybe(
                        st.builds(
                            lambda t, n: {"deadLetterTargetArn": t, "maxReceiveCount": n},
                            st.one_of(st.just({"Fn::GetAtt": ["Dlq", "Arn"]}), cfn_values),
                            st.one_of(st.integers(-1, 2000), cfn_values),
                        )
                    ),
                },
            )
        ),
    },
)


@st.composite
def sam_templates(draw: st.DrawFn) -> dict[str, Any]:
    resources = {
        "Q": draw(_queue),
        "Dlq": draw(_queue),
        "Fn": draw(_function),
    }
    resources.update(
        draw(st.dictionaries(st.text(max_size=5), st.one_of(_function, _queue, cfn_values), max_size=2))
    )
    template: dict[str, Any] = {"Transform": "AWS::Serverless-2016-10-31", "Resources": resources}
    template.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "Parameters": _maybe(
                        st.dictionaries(
                            _names,
                            st.one_of(
                                st.builds(lambda d: {"Type": "String", "Default": d}, cfn_values), cfn_values
                            ),
                            max_size=2,
                        )
                    ),
                    "Conditions": _maybe(st.dictionaries(_names, cfn_values, max_size=2)),
                    "Mappings": _maybe(st.dictionaries(_names, cfn_values, max_size=2)),
                    "Globals": st.one_of(
                        st.builds(
                            lambda f: {"Function": f},
                            st.dictionaries(
                                st.sampled_from(["Timeout", "Handler", "Environment", "MemorySize"]),
                                cfn_values,
                                max_size=2,
                            ),
                        ),
                        cfn_values,
                    ),
                },
            )
        )
    )
    return template


def _dump_yaml(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_Dumper, allow_unicode=True, sort_keys=False)


_nasty_yaml = st.sampled_from(
    [
        "Resources: &r\n  Q: *r\n",  # a recursive mapping
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: &p {QueueName: q, X: *p}\n",
        "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref [a, [b]]}}\n",
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: &h [*h]\n",
        "Resources: {Q: " + "[" * 5000 + "]" * 5000 + "}\n",
        "Resources: {Q: {Type: AWS::SQS::Queue, Properties: {VisibilityTimeout: 1" + "0" * 5000 + "}}}\n",
        "Resources: {? [a, b] : c}\n",
        "Resources: {Q: !!binary aGVsbG8=}\n",
        "Resources: {Q: {Type: !!set {a, b}}}\n",
        "Resources: {Q: {Type: AWS::SQS::Queue, Properties: {QueueName: 2001-01-01}}}\n",
        "Resources: {1: {Type: AWS::SQS::Queue}, null: {Type: AWS::SQS::Queue}}\n",
        "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
        "Resources: {Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Join ['', *c]}}}\n",
        "\ufeffResources: {}\n",
        "Resources: {Q: {Type: AWS::SQS::Queue, Properties: "
        "{QueueName: !Sub '${AWS::Region}${Q.Arn}${!x}${'}}}\n",
    ]
)
sam_texts = st.one_of(
    sam_templates().map(_dump_yaml),
    sam_templates().map(lambda t: json.dumps(t, default=str)),
    mutated_text(sam_templates().map(_dump_yaml)),
    st.builds(lambda a, b: a + b, _nasty_yaml, sam_templates().map(_dump_yaml)),
    _nasty_yaml,
    st.text(max_size=60),
)

_workdir: Path | None = None


def _scratch() -> Path:
    """A directory for the files a case writes (one per process, reused)."""
    global _workdir
    if _workdir is None:
        _workdir = Path(tempfile.mkdtemp(prefix="qworker-fuzz-"))
        (_workdir / "src").mkdir()
    return _workdir


def run_sam_template(text: str) -> None:
    from qworker.settings.layers import Given, resolve

    directory = _scratch()
    path = directory / "template.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    resolve({"template": Given(str(path), "cli")}, cwd=directory, environ={})


# -- config-file -----------------------------------------------------------------------------------


def _toml_key(key: str) -> str:
    return json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int | str):
        return json.dumps(value) if isinstance(value, str) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return '""'
    return value.isoformat()  # dates and datetimes


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for generated configs: scalars first, then [tables]."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            header = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            lines.append(f"\n[{header}]")
            lines.append(to_toml(value, header))
    return "\n".join(lines)


toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=10),
    st.datetimes(),
    st.dates(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=6,
)


def _setting(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(plausible, plausible, toml_values)


_mapping_settings = st.fixed_dictionaries(
    {},
    optional={
        "handler": _setting(st.sampled_from(["app:handler", "app.handler", "a:b:c", ":", "1x:y"])),
        "queue": _setting(st.sampled_from(["orders", "orders.fifo", "bad name", "x" * 81])),
        "function_name": _setting(st.text(max_size=8)),
        "enabled": _setting(st.booleans()),
        "batch_size": _setting(st.integers(-1, 20000)),
        "batch_window": _setting(st.integers(-1, 400)),
        "max_concurrency": _setting(st.integers(0, 2000)),
        "report_batch_item_failures": _setting(st.booleans()),
        "filters": _setting(st.lists(filter_texts, max_size=2)),
        "timeout": _setting(st.one_of(st.floats(), st.integers(-(2**70), 2**70))),
        "memory": _setting(st.integers(-1, 20000)),
        "environment": _setting(st.dictionaries(st.text(max_size=5), toml_scalars, max_size=2)),
        "isolation": _setting(st.sampled_from(["thread", "process"])),
        "visibility_heartbeat": _setting(st.floats()),
        "retry_backoff": _setting(st.sampled_from(["1:300", "0", "5", "1:1e400", "nan:1", "x"])),
        "fifo_strict": _setting(st.booleans()),
        "scaling": _setting(st.sampled_from(["fast", "aws"])),
        "filter_action": _setting(st.sampled_from(["delete", "skip"])),
        "max_filters": _setting(st.integers(-1, 20)),
        "filter_extensions": _setting(st.booleans()),
        "unknown_key": toml_values,
    },
)
_queue_settings = st.fixed_dictionaries(
    {},
    optional={
        "fifo": _setting(st.booleans()),
        "visibility_timeout": _setting(st.one_of(st.floats(), st.integers(-(2**70), 2**70))),
        "retention": _setting(st.integers(-1, 2000000)),
        "delay": _setting(st.integers(-1, 1000)),
        "max_message_size": _setting(st.integers(0, 2000000)),
        "receive_wait": _setting(st.floats()),
        "dlq": _setting(st.sampled_from(["dlq", "dlq.fifo", "orders", ""])),
        "max_receive_count": _setting(st.integers(-1, 2000)),
        "content_based_dedup": _setting(st.booleans()),
        "dedup_scope": _setting(st.sampled_from(["queue", "messageGroup"])),
    },
)
_worker_settings = st.fixed_dictionaries(
    {},
    optional={
        "backend": _setting(st.sampled_from(["sqlite://", "redis://h:1/0", "redis://pw@h", "bogus"])),
        "app_dir": _setting(st.sampled_from([".", "src", "/nonexistent"])),
        "graceful_timeout": _setting(st.floats()),
        "pollers": _setting(st.integers(-1, 100)),
        "log_format": _setting(st.sampled_from(["auto", "json", "console"])),
        "log_level": _setting(st.sampled_from(["debug", "info"])),
        "metrics_port": _setting(st.integers(-1, 70000)),
        "metrics_host": _setting(st.sampled_from(["127.0.0.1", "0.0.0.0", "::1"])),
        "template": _setting(st.sampled_from(["template.yaml", "missing.yaml"])),
        "template_parameters": _setting(st.dictionaries(st.text(max_size=4), toml_scalars, max_size=2)),
    },
)


@st.composite
def config_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = dict(draw(_worker_settings))
    if draw(st.booleans()):
        document["defaults"] = draw(st.one_of(_mapping_settings, toml_values))
    document["functions"] = draw(
        st.one_of(
            st.dictionaries(
                st.sampled_from(["orders", "payments", "a.b", ""]), _mapping_settings, max_size=2
            ),
            toml_values,
        )
    )
    if draw(st.booleans()):
        document["queues"] = draw(
            st.one_of(
                st.dictionaries(
                    st.sampled_from(["orders", "dlq", "orders.fifo"]), _queue_settings, max_size=2
                ),
                toml_values,
            )
        )
    return document


config_cases = st.one_of(
    config_documents().map(lambda d: ("qworker.toml", to_toml(d))),
    config_documents().map(lambda d: ("pyproject.toml", to_toml({"tool": {"qworker": d}}))),
    mutated_text(config_documents().map(to_toml)).map(lambda t: ("qworker.toml", t)),
    st.tuples(st.sampled_from(["qworker.toml", "pyproject.toml"]), st.text(max_size=60)),
)


def run_config_file(case: tuple[str, str]) -> None:
    from qworker.settings.layers import Given, resolve

    name, text = case
    directory = _scratch()
    path = directory / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    (directory / "template.yaml").write_text(
        "Resources:\n  Q: {Type: AWS::SQS::Queue}\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler,\n"
        "                 Events: {E: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}}}\n"
    )
    try:
        resolve({"config": Given(str(path), "cli")}, cwd=directory, environ={})
    finally:
        path.unlink()


# -- send-file -------------------------------------------------------------------------------------

_attribute_texts = st.one_of(
    st.builds(
        lambda n, t, v: f"{n}={t}:{v}",
        st.text(max_size=6),
        st.sampled_from(["String", "Number", "Binary", "Number.int", "Binary.x", "string", ""]),
        st.one_of(st.text(max_size=8), st.sampled_from(["aGVsbG8=", "1e400", "NaN", "==", "é"])),
    ),
    st.text(max_size=12),
)
_lines = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=20)), max_size=5).map(
        lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")
    ),
    st.sampled_from(
        [b"\xff\xfe", b"a\r\nb\r\n", b"\n\n\n", b"x" * 300_000, b"ok\n\xed\xa0\x80\n", b"\x00\n"]
    ),
)
send_cases = st.tuples(
    _lines,
    st.lists(_attribute_texts, max_size=3),
    st.booleans(),  # FIFO queue
    st.booleans(),  # content-based deduplication
    st.one_of(st.none(), st.text(max_size=6)),  # --group-id
    st.one_of(st.none(), st.text(max_size=6), st.just("id-{n}")),  # --dedup-id
    st.one_of(st.none(), st.integers(0, 900)),  # --delay
    st.sampled_from([1024, 262144, 1048576]),
)


def run_send_file(case: tuple[Any, ...]) -> None:
    from qworker.backend import QueueSpec
    from qworker.commands.send import _read_bodies, plan_entries
    from qworker.commands.send_input import parse_attributes

    data, attribute_texts, fifo, content_dedup, group_id, dedup_id, delay, size = case
    path = _scratch() / "bodies.jsonl"
    path.write_bytes(data)
    messages = _read_bodies([], str(path))
    attributes = parse_attributes(attribute_texts)
    spec = QueueSpec(
        "q.fifo" if fifo else "q",
        content_based_deduplication=fifo and content_dedup,
        maximum_message_size=size,
    )
    plan_entries(spec, messages, attributes, group_id, dedup_id, delay)


# -- backend-url -----------------------------------------------------------------------------------


@st.composite
def _credential_urls(draw: st.DrawFn) -> str:
    """Every URL form of the redaction property (tests/test_redaction.py), sometimes mutated."""
    from tests.test_redaction import cases

    url = draw(cases()).url
    if draw(st.booleans()):
        url = _mutate(
            url.encode(),
            draw(
                st.lists(st.tuples(st.integers(0, 200), st.integers(32, 126), st.integers(0, 2)), max_size=3)
            ),
        ).decode("utf-8", "replace")
    return url


backend_urls = st.one_of(
    _credential_urls(),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(
            ["redis", "rediss", "redis+cluster", "rediss+cluster", "sqlite", "sqs", "REDIS", "x"]
        ),
        st.text(alphabet="abc:/@?#&=%[]!.,0123456789 é", max_size=40),
    ),
    st.text(max_size=30),
)


def run_backend_url(url: str) -> None:
    from qworker.registry import open_backend, redact_url

    redact_url(url)
    open_backend(url).display_url  # noqa: B018 - computing it is the check


# -- the targets ---------------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("redis-envelope", redis_envelopes, run_redis_envelope, ()),
        Target("sqlite-rows", sqlite_cases, run_sqlite_rows, (QWorkerError,)),
        Target("filter-pattern", filter_cases, run_filter_pattern, (ConfigError,)),
        Target("sam-template", sam_texts, run_sam_template, (ConfigError,)),
        Target("config-file", config_cases, run_config_file, (ConfigError,)),
        Target("send-file", send_cases, run_send_file, (click.ClickException,)),
        Target("backend-url", backend_urls, run_backend_url, (QWorkerError,)),
    )
}


# -- the long run --------------------------------------------------------------------------------


class _TimeUp(Exception):
    pass


def fuzz_hypothesis(target: Target, seconds: float) -> Stats:
    """Run ``target`` for ``seconds`` on fresh random seeds; crashes are counted, not raised."""
    stats = Stats()
    deadline = time.monotonic() + seconds

    def probe(value: Any) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        stats.inputs += 1
        exc = check(target, value)
        if exc is not None:
            stats.add(exc, value)

    while time.monotonic() < deadline:
        test = settings(
            max_examples=1_000_000,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
        )(seed(random.getrandbits(64))(given(target.strategy)(probe)))
        try:
            test()
        except _TimeUp:
            break
    return stats


def fuzz_atheris(target: Target, seconds: float) -> Stats:
    """Coverage-guided: atheris mutates bytes, hypothesis maps them to structured inputs.

    The time budget starts with the first input (instrumenting every loaded function takes a
    while); when it is over, the figures are recorded and the process exits.
    """
    import atheris

    stats = Stats()
    deadline: list[float] = []

    @settings(
        database=None, deadline=None, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet
    )
    @given(target.strategy)
    def probe(value: Any) -> None:
        stats.inputs += 1
        exc = check(target, value)
        if exc is not None:
            stats.add(exc, value)

    fuzz_one = probe.hypothesis.fuzz_one_input

    def one_input(data: bytes) -> None:
        stats.executions += 1
        if not deadline:
            deadline.append(time.monotonic() + seconds)
        elif time.monotonic() > deadline[0]:
            _record(target.name, stats, seconds, "atheris")
            sys.stdout.flush()
            os._exit(0)
        fuzz_one(data)

    atheris.instrument_all()
    atheris.Setup([sys.argv[0], "-rss_limit_mb=4096", "-max_len=8192"], one_input)
    atheris.Fuzz()
    return stats  # not reached: one_input exits when the time is up


def _record(name: str, stats: Stats, seconds: float, engine: str) -> None:
    from tests.reliability import figures

    figures.record(
        f"fuzz {name}",
        {
            "engine": engine,
            "seconds": seconds,
            "inputs": stats.inputs,
            **({"executions": stats.executions} if stats.executions else {}),
            "crashes": stats.crashes,
            "distinct_crashes": len(stats.keys),
            "examples": [f"{key}: {example}" for key, example in stats.keys.items()][:10],
        },
        test=f"tests/reliability/fuzz.py --seconds {seconds:g}",
    )


def quiet_logs() -> None:
    """Drop log lines (a corrupt row is logged each time it is received): the figures are the output."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60, help="time budget per target (default 60)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all)")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    args = parser.parse_args(argv)
    names = [name for name in args.targets.split(",") if name]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    quiet_logs()
    total = 0
    for name in names:
        if args.engine == "atheris":
            # one process per target: atheris' Fuzz() does not return
            code = subprocess.call(
                [
                    sys.executable,
                    "-c",
                    "from tests.reliability.fuzz import _atheris_child; "
                    f"_atheris_child({name!r}, {args.seconds})",
                ]
            )
            total += code != 0
            continue
        stats = fuzz_hypothesis(TARGETS[name], args.seconds)
        _record(name, stats, args.seconds, "hypothesis")
        total += stats.crashes
    return 1 if total else 0


def _atheris_child(name: str, seconds: float) -> None:
    quiet_logs()
    fuzz_atheris(TARGETS[name], seconds)


if __name__ == "__main__":
    sys.exit(main())

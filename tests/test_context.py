"""The Lambda context object and runtime environment variables (SPEC §3.2)."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

import pytest

from qworker import __version__
from qworker.context import (
    LATEST,
    CognitoIdentity,
    FunctionInfo,
    LambdaContext,
    execution_env,
    function_arn,
    lambda_environment,
    new_log_stream_name,
)

LOG_STREAM = re.compile(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}")

#: The public members of the real runtime's class (awslambdaric/lambda_context.py @ 142f9cb).
RIC_ATTRIBUTES = {
    "aws_request_id": str,
    "log_group_name": str,
    "log_stream_name": str,
    "function_name": str,
    "memory_limit_in_mb": str,  # a str in the real runtime too: it copies an environment variable
    "function_version": str,
    "invoked_function_arn": str,
    "tenant_id": type(None),
    "client_context": type(None),
    "identity": CognitoIdentity,
}
RIC_METHODS = {"get_remaining_time_in_millis", "w3c", "log"}


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch) -> FunctionInfo:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("QWORKER_ACCOUNT_ID", "123456789012")
    return FunctionInfo("orders", memory_mb=512, timeout=30)


def test_every_member_of_the_real_context_class(function: FunctionInfo) -> None:
    context = function.context()
    for name, kind in RIC_ATTRIBUTES.items():
        assert isinstance(getattr(context, name), kind), name
    for name in RIC_METHODS:
        assert callable(getattr(context, name)), name
    assert context.function_name == "orders"
    assert context.function_version == "$LATEST" == LATEST
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    assert context.memory_limit_in_mb == "512"
    assert context.log_group_name == "/aws/lambda/orders"
    assert LOG_STREAM.fullmatch(context.log_stream_name)
    assert context.log_stream_name == function.log_stream_name  # one stream per worker process
    assert uuid.UUID(context.aws_request_id).version == 4
    assert context.identity.cognito_identity_id is None
    assert context.identity.cognito_identity_pool_id is None
    assert context.client_context is None
    assert context.tenant_id is None


def test_context_accepts_attributes_set_by_middleware(function: FunctionInfo) -> None:
    context = function.context()
    context.custom_marker = "set by a decorator"  # type: ignore[attr-defined]
    assert context.custom_marker == "set by a decorator"  # type: ignore[attr-defined]


def test_fresh_request_id_per_invocation(function: FunctionInfo) -> None:
    ids = {function.context().aws_request_id for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(value).version == 4 for value in ids)


def test_remaining_time_counts_down_from_the_timeout(function: FunctionInfo) -> None:
    start = time.monotonic()
    context = function.context(start=start)
    first = context.get_remaining_time_in_millis()
    assert isinstance(first, int)
    assert 0 < first <= 30_000
    time.sleep(0.02)
    second = context.get_remaining_time_in_millis()
    assert second < first
    assert second <= 30_000 - 20


def test_remaining_time_is_clamped_at_zero(function: FunctionInfo) -> None:
    expired = function.context(start=time.monotonic() - 31)
    assert expired.get_remaining_time_in_millis() == 0
    long_gone = LambdaContext(
        function_name="f",
        memory_limit_in_mb="128",
        invoked_function_arn=function_arn("f", "us-east-1", "000000000000"),
        log_group_name="/aws/lambda/f",
        log_stream_name=new_log_stream_name(),
        timeout=0.001,
        start=time.monotonic() - 3600,
    )
    assert long_gone.get_remaining_time_in_millis() == 0


def test_deadline_uses_the_start_given(function: FunctionInfo) -> None:
    context = function.context(start=time.monotonic() - 10)
    assert 19_000 < context.get_remaining_time_in_millis() <= 20_000


def test_w3c_is_an_empty_new_dict(function: FunctionInfo) -> None:
    context = function.context()
    first = context.w3c()
    assert first == {}
    first["traceparent"] = "x"
    assert context.w3c() == {}


def test_log_writes_one_line_to_stdout(function: FunctionInfo, capsys: pytest.CaptureFixture[str]) -> None:
    context = function.context()
    context.log("first")
    context.log("second\n")
    context.log({"n": 1})
    assert capsys.readouterr().out == "first\nsecond\n{'n': 1}\n"


def test_log_goes_to_the_sink_when_given(function: FunctionInfo) -> None:
    lines: list[str] = []
    context = function.context(log_sink=lines.append)
    context.log("hello")
    context.log(42)
    assert lines == ["hello", "42"]


def test_repr_names_every_field(function: FunctionInfo) -> None:
    context = function.context()
    text = repr(context)
    assert text.startswith("LambdaContext([aws_request_id=" + context.aws_request_id)
    for name in RIC_ATTRIBUTES:
        assert f"{name}=" in text
    assert "identity=CognitoIdentity([cognito_identity_id=None,cognito_identity_pool_id=None])" in text
    assert "invoked_function_arn=arn:aws:lambda:eu-west-1:123456789012:function:orders" in text


def test_log_stream_name_format() -> None:
    name = new_log_stream_name(now=datetime(2024, 1, 31, 23, 59, tzinfo=UTC))
    assert re.fullmatch(r"2024/01/31/\[\$LATEST\][0-9a-f]{32}", name)
    assert new_log_stream_name("7").split("/")[3].startswith("[7]")
    assert new_log_stream_name() != new_log_stream_name()


def test_region_and_account_default_to_qworker_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("QWORKER_ACCOUNT_ID", raising=False)
    assert FunctionInfo("f").arn == "arn:aws:lambda:us-east-1:000000000000:function:f"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert function_arn("g") == "arn:aws:lambda:ap-south-1:000000000000:function:g"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "function name"),
        ({"memory_mb": 0}, "memory"),
        ({"memory_mb": 1.5}, "memory"),
        ({"memory_mb": True}, "memory"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "finite"),
        ({"timeout": "3"}, "timeout"),
    ],
)
def test_bad_function_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"name": "f", **kwargs}
    with pytest.raises(ValueError, match=message):
        FunctionInfo(**settings)  # type: ignore[arg-type]


def test_lambda_environment(function: FunctionInfo) -> None:
    env = lambda_environment("orders", 512, 30, "app:handler", "eu-west-1", log_stream_name="s")
    assert env == {
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/orders",
        "AWS_LAMBDA_LOG_STREAM_NAME": "s",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": execution_env(),
        "_HANDLER": "app:handler",
    }
    assert all(isinstance(value, str) for value in env.values())
    # not set by the real runtime / would make libraries believe they run inside Lambda
    for absent in ("AWS_LAMBDA_FUNCTION_TIMEOUT", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API", "TZ"):
        assert absent not in env
    assert execution_env().startswith(f"qworker_{__version__}_python3.")
    assert not execution_env().startswith("AWS_Lambda_")
    generated = lambda_environment("orders", 512, 30, "app:handler", "eu-west-1")
    assert LOG_STREAM.fullmatch(generated["AWS_LAMBDA_LOG_STREAM_NAME"])


def test_function_environment_matches_its_contexts(function: FunctionInfo) -> None:
    env = function.environment("app:handler")
    context = function.context()
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == context.log_stream_name
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == context.log_group_name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == context.memory_limit_in_mb
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == context.function_name
    assert env["AWS_REGION"] == "eu-west-1"
    target: dict[str, str] = {"KEEP": "1"}
    assert function.apply_environment("app:handler", target) == env
    assert target == {"KEEP": "1", **env}


@pytest.mark.parametrize(
    ("handler", "region", "message"), [("", "eu-west-1", "handler"), ("app:handler", "", "region")]
)
def test_lambda_environment_refuses_empty_values(handler: str, region: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lambda_environment("f", 128, 3, handler, region)


def test_powertools_logger_and_metrics_work_unchanged(
    function: FunctionInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    for name, value in function.environment("app:handler").items():
        monkeypatch.setenv(name, value)
    stream = io.StringIO()
    logger = Logger(service="orders-svc", logger_handler=logging.StreamHandler(stream))
    metrics = Metrics(namespace="qworker-test", service="orders-svc")

    @metrics.log_metrics(capture_cold_start_metric=True)
    @logger.inject_lambda_context
    def handler(event: dict[str, object], context: LambdaContext) -> None:
        logger.info("processing")
        metrics.add_metric(name="Processed", unit=MetricUnit.Count, value=1)

    context = function.context()
    handler({"Records": []}, context)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "processing"
    assert entry["function_name"] == "orders"
    assert entry["function_memory_size"] == "512"
    assert entry["function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    assert entry["function_request_id"] == context.aws_request_id
    assert entry["service"] == "orders-svc"
    assert isinstance(entry["cold_start"], bool)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    processed = [blob for blob in emf if "Processed" in blob]
    assert processed, emf
    assert processed[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "qworker-test"
    assert processed[0]["service"] == "orders-svc"
    assert all(blob.get("function_name", "orders") == "orders" for blob in emf)

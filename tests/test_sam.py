"""AWS SAM templates: functions, SQS events, queues, intrinsic functions, and a real run.

The realistic template is the shipped example, ``examples/sam/template.yaml``: Globals (Runtime,
Timeout, MemorySize, CodeUri, Environment), two functions (a standard queue with BatchSize 50,
a 2 s batching window, ReportBatchItemFailures, a filter and MaximumConcurrency 5; a FIFO queue
with BatchSize 5), and the queues with QueueName/FifoQueue/ContentBasedDeduplication/
VisibilityTimeout/RedrivePolicy to dead-letter queues. The end-to-end test runs ``qworker`` as a
subprocess against a temporary SQLite backend and reads what the unchanged handlers printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import SendEntry
from qworker.errors import ConfigError
from qworker.registry import open_backend
from qworker.sam import NO_VALUE, Resolver, TemplateError, load_template, read_template
from qworker.settings.layers import DEFAULT, Given, resolve

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sam" / "template.yaml"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("QWORKER_", "AWS_")):
            monkeypatch.delenv(name)
    saved_env, saved_path = dict(os.environ), list(sys.path)
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path


def template_file(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def resolve_template(path: Path, environ: dict[str, str] | None = None, **values: Any) -> Any:
    given = {"template": Given(str(path), "cli"), **{k: Given(v, "cli") for k, v in values.items()}}
    given["backend"] = Given("sqlite://", DEFAULT)
    return resolve(given, cwd=path.parent, environ=environ or {})


def resolver(data: dict[str, Any], **parameters: str) -> Resolver:
    return Resolver({"Resources": {}, **data}, "t.yaml", parameters)


# -- the example template ---------------------------------------------------------------------


def test_example_template_functions() -> None:
    """Each SQS event's properties and the function's (Globals merged) reach the mapping."""
    template = load_template(EXAMPLE)
    orders, payments = template.functions
    assert orders.name == "OrdersFunction" and orders.group == "OrdersFunction"
    assert orders.values == {
        "handler": "orders:handler",
        "function_name": "OrdersFunction",
        "timeout": 30.0,  # Globals.Function.Timeout
        "memory": 256,  # Globals.Function.MemorySize
        "queue": "orders-dev",  # !GetAtt OrdersQueue.Arn -> QueueName !Sub "orders-${Stage}"
        "batch_size": 50,
        "batch_window": 2,
        "report_batch_item_failures": True,
        "filters": ('{"body": {"type": ["order"]}}',),
        "max_concurrency": 5,
    }
    assert orders.origins["timeout"] == "template template.yaml Globals"
    assert orders.origins["batch_size"] == "template template.yaml"
    assert orders.environment == {
        "STAGE": "dev",  # Globals, !Ref Stage (its Default)
        "LOG_LEVEL": "INFO",  # Globals, !If [IsProd, ...]
        "ORDERS_TABLE": "orders-dev",  # !Ref OrdersTable -> its TableName
        "MIN_AMOUNT": "0",
    }
    assert orders.app_dir == str(EXAMPLE.parent / "src")  # Globals CodeUri: src/
    assert payments.values["queue"] == "payments-dev.fifo"  # Fn::GetAtt long form
    assert (payments.values["batch_size"], payments.values["timeout"]) == (5, 10.0)
    assert "batch_window" not in payments.values
    assert payments.environment["CURRENCY"] == "EUR" and payments.environment["STAGE"] == "dev"


def test_example_template_queues() -> None:
    """QueueName/logical id, FifoQueue, ContentBasedDeduplication, VisibilityTimeout, RedrivePolicy."""
    template = load_template(EXAMPLE)
    queues = {q.name: q for q in template.queues}
    assert set(queues) == {
        "orders-dev",
        "OrdersDeadLetterQueue",
        "payments-dev.fifo",
        "payments-dev-dlq.fifo",
    }
    orders = queues["orders-dev"]
    assert orders.visibility_timeout == 180 and not orders.fifo
    assert orders.redrive_policy is not None
    assert (orders.redrive_policy.dead_letter_queue, orders.redrive_policy.max_receive_count) == (
        "OrdersDeadLetterQueue",  # no QueueName: the logical id
        3,
    )
    assert queues["OrdersDeadLetterQueue"].message_retention_period == 1_209_600
    payments = queues["payments-dev.fifo"]
    assert payments.fifo and payments.content_based_deduplication and payments.visibility_timeout == 60
    assert payments.redrive_policy is not None
    assert payments.redrive_policy.dead_letter_queue == "payments-dev-dlq.fifo"
    assert template.queue_errors == {}


def test_template_parameters_override_defaults(tmp_path: Path) -> None:
    template = load_template(EXAMPLE, {"Stage": "prod"})
    orders = template.functions[0]
    assert orders.values["queue"] == "orders-prod"
    assert orders.environment["LOG_LEVEL"] == "WARNING"  # Fn::If with the IsProd condition
    with pytest.raises(TemplateError, match=r"Parameters.Stage: 'qa' is not one of its AllowedValues"):
        load_template(EXAMPLE, {"Stage": "qa"})
    with pytest.raises(TemplateError, match="declares no parameter of that name"):
        load_template(EXAMPLE, {"Stag": "prod"})
    stack = load_template(EXAMPLE, {"AWS::StackName": "shop"})
    assert stack.functions[0].values["queue"] == "orders-dev"


def test_example_resolves_to_valid_mappings() -> None:
    """The whole chain: both mappings pass Lambda's checks against the declared queues (ESM-CFG-4)."""
    result = resolve_template(EXAMPLE)
    assert [m.name for m in result.mappings] == ["OrdersFunction", "PaymentsFunction"]
    assert result.options.app_dir == str(EXAMPLE.parent / "src")
    # dead-letter queues first, so they exist when their source queue is created
    names = [q.name for q in result.queues]
    assert names.index("OrdersDeadLetterQueue") < names.index("orders-dev")
    assert names.index("payments-dev-dlq.fifo") < names.index("payments-dev.fifo")


# -- intrinsic functions ------------------------------------------------------------------------


def test_short_and_long_forms_are_the_same() -> None:
    short = read_template(EXAMPLE)["Resources"]["OrdersFunction"]["Properties"]["Events"]["Orders"]
    assert short["Properties"]["Queue"] == {"Fn::GetAtt": ["OrdersQueue", "Arn"]}
    long_form = read_template(EXAMPLE)["Resources"]["PaymentsFunction"]["Properties"]["Events"]["Payments"]
    assert long_form["Properties"]["Queue"] == {"Fn::GetAtt": ["PaymentsQueue", "Arn"]}


def test_intrinsics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("QWORKER_ACCOUNT_ID", "123456789012")
    data = {
        "Parameters": {
            "Env": {"Type": "String", "Default": "dev"},
            "Names": {"Type": "CommaDelimitedList", "Default": "a, b,c"},
            "Size": {"Type": "Number", "Default": 5},
        },
        "Mappings": {"Sizes": {"dev": {"batch": 7}}},
        "Conditions": {
            "IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]},
            "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}]},
        },
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}}},
    }
    r = Resolver(data, "t.yaml", {})
    assert r.value({"Ref": "Env"}, "x") == "dev"
    assert r.value({"Ref": "Size"}, "x") == "5"  # CloudFormation gives parameters as strings
    assert r.value({"Ref": "Names"}, "x") == ["a", "b", "c"]
    assert r.value({"Ref": "AWS::Region"}, "x") == "eu-west-1"
    assert r.value({"Ref": "AWS::NoValue"}, "x") is NO_VALUE
    assert r.value({"Ref": "Q"}, "x") == "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
    assert r.value({"Fn::GetAtt": ["Q", "Arn"]}, "x") == "arn:aws:sqs:eu-west-1:123456789012:jobs"
    assert r.value({"Fn::GetAtt": "Q.QueueName"}, "x") == "jobs"
    sub = "${Env}-${Q.QueueName}-${AWS::AccountId}-${!Literal}-${Extra}"
    assert (
        r.value({"Fn::Sub": [sub, {"Extra": {"Ref": "Env"}}]}, "x") == "dev-jobs-123456789012-${Literal}-dev"
    )
    assert r.value({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}, "x") == "a-dev"
    assert r.value({"Fn::Select": [1, {"Ref": "Names"}]}, "x") == "b"
    assert r.value({"Fn::Split": [",", "x,y"]}, "x") == ["x", "y"]
    assert r.value({"Fn::If": ["Both", "yes", "no"]}, "x") == "yes"
    assert r.value({"Fn::If": ["IsDev", {"Ref": "AWS::NoValue"}, 1]}, "x") is NO_VALUE
    assert r.value({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "batch"]}, "x") == 7
    assert r.value({"Fn::Base64": "hi"}, "x") == "aGk="
    assert r.value({"A": {"Fn::If": ["IsDev", {"Ref": "AWS::NoValue"}, 1]}, "B": 2}, "x") == {"B": 2}


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            {"Fn::ImportValue": "shared-queue-arn"},
            "Fn::ImportValue 'shared-queue-arn' reads another stack's output",
        ),
        ({"Fn::GetAZs": ""}, "Fn::GetAZs is not supported"),
        ({"Ref": "Missing"}, "no parameter or resource 'Missing'"),
        (
            {"Ref": "NoDefault"},
            "parameter 'NoDefault' has no Default; pass --template-parameter NoDefault=VALUE",
        ),
        ({"Ref": "Table"}, "Ref Table (AWS::DynamoDB::Table) is only known once CloudFormation has created"),
        ({"Fn::GetAtt": ["Table", "Arn"]}, "Fn::GetAtt Table.Arn (AWS::DynamoDB::Table) is only known once"),
        ({"Fn::GetAtt": ["Q", "Nope"]}, "a queue has Arn, QueueName, QueueUrl"),
        ({"Fn::If": ["Unknown", 1, 2]}, "condition 'Unknown' is not defined"),
        ({"Fn::FindInMap": ["M", "a", "b"]}, "Mappings.M.a.b is not defined"),
    ],
)
def test_unresolvable_values_are_clear_errors(node: dict[str, Any], message: str) -> None:
    data = {
        "Parameters": {"NoDefault": {"Type": "String"}},
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "Q": {"Type": "AWS::SQS::Queue"},
        },
    }
    with pytest.raises(TemplateError) as info:
        Resolver(data, "t.yaml", {}).value(node, "Resources.F.Properties.X")
    assert message in str(info.value)
    assert str(info.value).startswith("t.yaml: Resources.F.Properties.X: ")


FUNCTION = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      CodeUri: .
      {extra}
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: {queue}
            {event}
"""


def worker_template(
    tmp_path: Path,
    queue: str = "arn:aws:sqs:us-east-1:123456789012:jobs",
    event: str = "",
    extra: str = "",
    tail: str = "",
) -> Path:
    return template_file(tmp_path, FUNCTION.format(queue=queue, event=event, extra=extra) + tail)


def test_queue_given_as_arn_url_parameter_or_import(tmp_path: Path) -> None:
    assert load_template(worker_template(tmp_path)).functions[0].values["queue"] == "jobs"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs.fifo"
    assert load_template(worker_template(tmp_path, queue=url)).functions[0].values["queue"] == "jobs.fifo"
    with_parameter = worker_template(
        tmp_path,
        queue="!Ref QueueArn",
        tail="Parameters:\n  QueueArn:\n    Type: String\n    Default: arn:aws:sqs:us-east-1:1:from-param\n",
    )
    assert load_template(with_parameter).functions[0].values["queue"] == "from-param"
    imported = worker_template(tmp_path, queue="!ImportValue shared-jobs-arn")
    with pytest.raises(ConfigError) as info:
        resolve_template(imported)
    text = str(info.value)
    assert "Resources.Worker.Properties.Events.Jobs.Properties.Queue" in text
    assert "Fn::ImportValue 'shared-jobs-arn'" in text and 'queue = "NAME" in qworker.toml' in text
    # a higher layer can supply what the template cannot: the one function's --queue
    assert [m.queue for m in resolve_template(imported, queue="jobs").mappings] == ["jobs"]


def test_queue_without_name_is_named_by_logical_id(tmp_path: Path) -> None:
    tail = "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties:\n      FifoQueue: true\n"
    path = worker_template(tmp_path, queue="!GetAtt Jobs.Arn", event="BatchSize: 10", tail=tail)
    template = load_template(path)
    assert template.functions[0].values["queue"] == "Jobs.fifo"
    assert [q.name for q in template.queues] == ["Jobs.fifo"]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ("QueueName: jobs\n      FifoQueue: true", "'jobs': a FIFO queue's name ends in .fifo"),
        ("QueueName: jobs.fifo", "'jobs.fifo': a FIFO queue's name ends in .fifo, and only a FIFO queue's"),
        ("QueueName: 'bad name'", "Invalid queue name 'bad name'"),
        ("VisibilityTimeout: 99999", "VisibilityTimeout"),
        ("ContentBasedDeduplication: true", "ContentBasedDeduplication: is for FIFO queues only"),
        (
            "RedrivePolicy: {maxReceiveCount: 3}",
            "expected {deadLetterTargetArn: <queue ARN>, maxReceiveCount: N}",
        ),
    ],
)
def test_invalid_queue_resources(tmp_path: Path, props: str, message: str) -> None:
    """A queue the template defines badly is an error when it is needed, naming resource and property."""
    tail = f"  Jobs:\n    Type: AWS::SQS::Queue\n    Properties:\n      {props}\n"
    template = load_template(worker_template(tmp_path, tail=tail))  # the function uses another queue
    assert message in template.queue_errors["Jobs"]
    assert "Resources.Jobs.Properties" in template.queue_errors["Jobs"]
    with pytest.raises(ConfigError, match=r"Resources\.Jobs\.Properties") as info:
        resolve_template(worker_template(tmp_path, queue="!GetAtt Jobs.Arn", tail=tail))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("BatchSize: ten", "Properties.BatchSize: expected a whole number, got 'ten'"),
        (
            "FunctionResponseTypes: [ReportBatchItemFailure]",
            "the only value is [ReportBatchItemFailures] (ESM-CFG-6)",
        ),
        (
            "FilterCriteria: {Filters: [{Patern: x}]}",
            "FilterCriteria.Filters[0]: expected {Pattern: '<json>'}",
        ),
        ("ScalingConfig: {MaxConcurrency: 5}", "ScalingConfig: expected {MaximumConcurrency: N}"),
        ("Enabled: maybe", "Enabled: expected true or false"),
        ("BatchSise: 5", "Properties.BatchSise: not a property of an SQS event"),
    ],
)
def test_invalid_event_properties(tmp_path: Path, event: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_template(worker_template(tmp_path, event=event))
    assert message in str(info.value)
    assert "Resources.Worker.Properties.Events.Jobs.Properties" in str(info.value)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("BatchSize: 11", "Maximum batch window in seconds must be greater than 0"),  # ESM-CFG-2
        (
            "BatchSize: 20000\n            MaximumBatchingWindowInSeconds: 1",
            "less than or equal to 10000",
        ),  # ESM-CFG-1
        ("MaximumBatchingWindowInSeconds: 301", "less than or equal to 300"),  # ESM-CFG-3
        ("ScalingConfig: {MaximumConcurrency: 1}", "greater than or equal to 2"),  # ESM-CFG-7
        (
            'FilterCriteria: {Filters: [{Pattern: \'{"body": "x"}\'}]}',
            "Invalid filter pattern definition.",
        ),  # ESM-CFG-5
    ],
)
def test_lambda_rejects_what_aws_rejects(tmp_path: Path, event: str, message: str) -> None:
    """An invalid SAM template fails as it would fail on AWS, naming the template and the event."""
    with pytest.raises(ConfigError) as info:
        resolve_template(worker_template(tmp_path, event=event))
    assert message in str(info.value)
    assert "template.yaml: Resources.Worker.Properties.Events.Jobs" in str(info.value)


def test_fifo_batch_size_over_10_is_rejected(tmp_path: Path) -> None:
    """ESM-CFG-1: FIFO BatchSize at most 10, checked against the template's FIFO queue."""
    path = worker_template(tmp_path, queue="arn:aws:sqs:us-east-1:1:jobs.fifo", event="BatchSize: 11")
    with pytest.raises(ConfigError, match="Batch size must not exceed 10 for FIFO queues"):
        resolve_template(path)


def test_visibility_timeout_below_function_timeout(tmp_path: Path) -> None:
    """ESM-CFG-4 against the queue the template defines."""
    tail = "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 5\n"
    path = worker_template(tmp_path, queue="!GetAtt Jobs.Arn", extra="Timeout: 10", tail=tail)
    with pytest.raises(
        ConfigError, match="Queue visibility timeout: 5 seconds is less than Function timeout: 10"
    ):
        resolve_template(path)


def test_ignored_event_properties_warn(tmp_path: Path) -> None:
    path = worker_template(tmp_path, event="MetricsConfig: {Metrics: [EventCount]}")
    result = resolve_template(path)
    assert any("MetricsConfig is ignored by qworker" in w for w in result.warnings)


def test_disabled_event_and_false_condition(tmp_path: Path) -> None:
    disabled = worker_template(tmp_path, event="Enabled: false")
    template = load_template(disabled)
    assert template.functions[0].values["enabled"] is False
    with pytest.raises(ConfigError, match="every selected function is disabled"):
        resolve_template(disabled)
    conditional = template_file(
        tmp_path,
        FUNCTION.format(queue="arn:aws:sqs:r:1:jobs", event="", extra="").replace(
            "    Type: AWS::Serverless::Function\n",
            "    Type: AWS::Serverless::Function\n    Condition: Never\n",
        )
        + 'Conditions:\n  Never: !Equals ["a", "b"]\n',
    )
    assert load_template(conditional).functions == []


def test_environment_from_globals_and_function(tmp_path: Path) -> None:
    text = (
        FUNCTION.format(
            queue="arn:aws:sqs:r:1:jobs",
            event="",
            extra="Environment:\n        Variables:\n          A: function\n"
            "          C: !Ref AWS::NoValue\n          N: 5",
        )
        + "Globals:\n  Function:\n    Timeout: 7\n    Environment:\n      Variables: {A: global, B: global}\n"
    )
    spec = load_template(template_file(tmp_path, text)).functions[0]
    assert spec.environment == {"A": "function", "B": "global", "N": "5"}
    assert spec.env_origins["B"] == "template template.yaml Globals"
    assert spec.values["timeout"] == 7.0


def test_unresolvable_environment_variable(tmp_path: Path) -> None:
    """Ref of a resource only CloudFormation names: an error, unless the variable is set elsewhere."""
    text = (
        FUNCTION.format(
            queue="arn:aws:sqs:r:1:jobs",
            event="",
            extra="Environment:\n        Variables:\n          TABLE: !Ref Table",
        )
        + "  Table:\n    Type: AWS::DynamoDB::Table\n    Properties: {}\n"
    )
    path = template_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        resolve_template(path)
    assert "Resources.Worker.Properties.Environment.Variables.TABLE" in str(info.value)
    assert "Set TABLE in the environment or in qworker.toml [functions.Worker.environment]" in str(info.value)
    from_process = resolve_template(path, environ={"TABLE": "jobs-table"})
    assert from_process.functions[0].spec.env_origins["TABLE"] == "env"
    config = tmp_path / "qworker.toml"
    config.write_text(f'template = "{path}"\n[functions.Worker]\nenvironment = {{ TABLE = "local" }}\n')
    from_file = resolve(
        {"config": Given(str(config), "cli"), "backend": Given("sqlite://", DEFAULT)}, environ={}
    )
    assert from_file.mappings[0].environment["TABLE"] == "local"


def test_node_runs_and_unsupported_runtimes_are_skipped(tmp_path: Path) -> None:
    """Node.js and provided.* functions run through the Runtime API (issue 18); a runtime qworker
    has no way to run (Java) is skipped, and selecting it says why."""
    text = FUNCTION.format(queue="arn:aws:sqs:r:1:jobs", event="", extra="") + (
        "  Node:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: src/index.handler\n"
        "      Runtime: nodejs20.x\n      Events: {Q: {Type: SQS, Properties: {Queue: 'arn:aws:sqs:r:1:n'}}}"
        "\n"
        "  Java:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: a.B::handle\n"
        "      Runtime: java21\n      Events: {Q: {Type: SQS, Properties: {Queue: 'arn:aws:sqs:r:1:j'}}}"
        "\n"
        "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: api.handler\n"
        "      Runtime: python3.12\n      Events: {Get: {Type: Api, Properties: {Path: /, Method: get}}}\n"
    )
    path = template_file(tmp_path, text)
    result = resolve_template(path)
    assert [m.name for m in result.mappings] == ["Worker", "Node"]  # Java skipped, Api has no SQS event
    node = result.mappings[1]
    assert (node.runtime, node.handler, node.uses_runtime_api) == ("nodejs20.x", "src/index.handler", True)
    assert not result.mappings[0].uses_runtime_api
    with pytest.raises(ConfigError, match=r"Runtime java21 is not supported"):
        resolve_template(path, function=("Java",))


def test_several_sqs_events_on_one_function(tmp_path: Path) -> None:
    text = FUNCTION.format(queue="arn:aws:sqs:r:1:jobs", event="", extra="").replace(
        "      Events:\n",
        "      Events:\n        More:\n          Type: SQS\n"
        "          Properties: {Queue: 'arn:aws:sqs:r:1:more'}\n",
    )
    result = resolve_template(template_file(tmp_path, text), function=("Worker",))
    assert [(m.queue, m.name) for m in result.mappings] == [("more", "Worker"), ("jobs", "Worker")]
    assert [f.name for f in result.functions] == ["Worker.More", "Worker.Jobs"]


def test_handler_forms(tmp_path: Path) -> None:
    path = template_file(
        tmp_path,
        FUNCTION.format(queue="arn:aws:sqs:r:1:q", event="", extra="").replace("app.handler", "pkg/app.main"),
    )
    assert load_template(path).functions[0].values["handler"] == "pkg.app:main"
    bad = template_file(
        tmp_path, FUNCTION.format(queue="arn:aws:sqs:r:1:q", event="", extra="").replace("app.handler", "app")
    )
    with pytest.raises(
        TemplateError, match=r"Resources.Worker.Properties.Handler: Handler 'app' is not of the form"
    ):
        load_template(bad)


def test_code_uri_problems(tmp_path: Path) -> None:
    missing = template_file(
        tmp_path,
        FUNCTION.format(queue="arn:aws:sqs:r:1:q", event="", extra="").replace(
            "CodeUri: .", "CodeUri: nowhere/"
        ),
    )
    with pytest.raises(ConfigError, match="'nowhere/' is not a directory"):
        resolve_template(missing)
    assert resolve_template(missing, app_dir=str(tmp_path)).options.app_dir == str(tmp_path)
    s3 = template_file(
        tmp_path,
        FUNCTION.format(queue="arn:aws:sqs:r:1:q", event="", extra="").replace(
            "CodeUri: .", "CodeUri: s3://bucket/code.zip"
        ),
    )
    with pytest.raises(ConfigError, match="the code is in S3"):
        resolve_template(s3)


def test_unreadable_templates(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        load_template(tmp_path / "nope.yaml")
    with pytest.raises(TemplateError, match="invalid YAML"):
        load_template(template_file(tmp_path, "Resources: [\n"))
    with pytest.raises(TemplateError, match="not a CloudFormation template"):
        load_template(template_file(tmp_path, "a: 1\n"))
    with pytest.raises(ConfigError, match="no AWS::Serverless::Function with an SQS event"):
        resolve_template(template_file(tmp_path, "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n"))


def test_yaml_loader_stays_safe(tmp_path: Path) -> None:
    """Short-form tags become data; Python object tags are refused as by SafeLoader."""
    path = template_file(tmp_path, "Resources: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(TemplateError, match="invalid YAML"):
        read_template(path)


# -- end to end: the template's functions run on its queues -------------------------------------


def qworker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "qworker", *args],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


async def send(url: str, queue: str, bodies: list[dict[str, Any]], group: str | None = None) -> None:
    async with open_backend(url) as backend:
        entries = [SendEntry(json.dumps(body), message_group_id=group) for body in bodies]
        result = await backend.send(queue, entries)
        assert not result.failed, result.failed


async def counts(url: str, queue: str) -> tuple[int, int, int]:
    async with open_backend(url) as backend:
        c = (await backend.get_queue(queue)).counts
        return c.visible, c.in_flight, c.delayed


async def test_template_runs_end_to_end(tmp_path: Path) -> None:
    """`qworker check --create-queues` then `qworker run --template`: messages on the template's
    queues reach the right handlers with the template's settings (BatchSize, window, filter,
    ReportBatchItemFailures, FIFO groups, MemorySize, Environment, RedrivePolicy)."""
    url = f"sqlite:///{tmp_path}/queues.db"
    created = qworker("check", "--template", str(EXAMPLE), "--create-queues", "--backend", url, cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr

    orders = [{"type": "order", "order_id": i, "amount": 10 + i} for i in range(120)]
    invalid = [{"type": "order", "order_id": 1000 + i, "amount": -1} for i in range(2)]
    pings = [{"type": "ping", "order_id": 2000 + i} for i in range(10)]  # filtered out (FLT-3)
    await send(url, "orders-dev", orders + invalid + pings)
    payments = [{"payment_id": i, "amount": 5} for i in range(12)]
    await send(url, "payments-dev.fifo", payments[:6], group="acct-1")
    await send(url, "payments-dev.fifo", payments[6:], group="acct-2")

    started = time.monotonic()
    run = qworker(
        "run",
        "--template",
        str(EXAMPLE),
        "--backend",
        url,
        "--until-empty",
        "--retry-backoff",
        "0.05:0.1",  # CLI layer over the template: retry failed orders fast instead of after 180 s
        "--log-format",
        "json",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert time.monotonic() - started < 45
    lines = _json_objects(run.stdout)
    order_calls = [line for line in lines if line["function"] == "OrdersFunction"]
    payment_calls = [line for line in lines if line["function"] == "PaymentsFunction"]
    assert order_calls and payment_calls and len(order_calls) + len(payment_calls) == len(lines)

    # orders: the right handler, queue, template settings and environment
    assert {(c["queue"], c["memory_mb"], c["stage"], c["table"]) for c in order_calls} == {
        ("orders-dev", "256", "dev", "orders-dev")
    }
    sizes = [c["records"] for c in order_calls]
    assert max(sizes) == 50 and all(size <= 50 for size in sizes)  # BatchSize 50 (> 10: window 2 s)
    seen = [i for c in order_calls for i in c["order_ids"]]
    assert set(seen) == {o["order_id"] for o in orders + invalid}  # pings never reached the handler
    assert sum(c["total"] for c in order_calls) == pytest.approx(sum(o["amount"] for o in orders))
    # ReportBatchItemFailures: only the invalid orders came back, each until maxReceiveCount (3)
    assert sorted(i for i in seen if i >= 1000) == [1000, 1000, 1000, 1001, 1001, 1001]
    assert sorted(i for i in seen if i < 1000) == list(range(120))  # valid orders exactly once

    # payments: FIFO, BatchSize 5, per-group order
    assert all(c["records"] <= 5 and c["queue"] == "payments-dev.fifo" for c in payment_calls)
    assert {c["currency"] for c in payment_calls} == {"EUR"}
    for group, expected in (("acct-1", list(range(6))), ("acct-2", list(range(6, 12)))):
        got = [
            pid
            for c in payment_calls
            for pid, g in zip(c["payment_ids"], c["groups"], strict=True)
            if g == group
        ]
        assert got == expected

    # queues: drained; the invalid orders in the template's dead-letter queue (RedrivePolicy)
    assert await counts(url, "orders-dev") == (0, 0, 0)
    assert await counts(url, "payments-dev.fifo") == (0, 0, 0)
    assert await counts(url, "OrdersDeadLetterQueue") == (2, 0, 0)


async def test_run_create_queues_and_function_selection(tmp_path: Path) -> None:
    """`run --create-queues --function PaymentsFunction`: only that function runs."""
    url = f"sqlite:///{tmp_path}/queues.db"
    async with open_backend(url):
        pass
    first = qworker(
        "run",
        "--template",
        str(EXAMPLE),
        "--backend",
        url,
        "--until-empty",
        "--create-queues",
        "--function",
        "PaymentsFunction",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout == ""  # nothing was sent: no invocation
    await send(url, "payments-dev.fifo", [{"payment_id": 1, "amount": 1}], group="g")
    await send(url, "orders-dev", [{"type": "order", "order_id": 1, "amount": 1}])
    second = qworker(
        "run",
        "--template",
        str(EXAMPLE),
        "--backend",
        url,
        "--until-empty",
        "--function",
        "PaymentsFunction",
        cwd=tmp_path,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    calls = _json_objects(second.stdout)
    assert [c["function"] for c in calls] == ["PaymentsFunction"]
    assert await counts(url, "orders-dev") == (1, 0, 0)  # OrdersFunction was not selected


def test_run_reports_template_errors_as_one_line(tmp_path: Path) -> None:
    path = worker_template(tmp_path, event="BatchSize: 11")
    result = qworker("run", "--template", str(path), "--backend", f"sqlite:///{tmp_path}/q.db", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Maximum batch window in seconds must be greater than 0" in result.stderr


def test_example_handlers_do_not_import_qworker() -> None:
    """The example handlers are plain Lambda code: no qworker import."""
    for name in ("orders.py", "payments.py"):
        text = (EXAMPLE.parent / "src" / name).read_text()
        assert "import qworker" not in text and "from qworker" not in text


def _json_objects(text: str) -> list[dict]:
    """Every JSON object printed to stdout, in order. Handlers print from several threads at
    once, and ``print`` writes the text and its newline separately, so two objects can share a
    line: decode the stream object by object instead of line by line."""
    decoder = json.JSONDecoder()
    objects, index = [], 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return objects
        value, index = decoder.raw_decode(text, start)
        objects.append(value)

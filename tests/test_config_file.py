"""qworker.toml / [tool.qworker]: loading, checking, and precedence (CLI > env > file > template > default).

``resolve`` is tested directly with :class:`Given` values (as ``qworker run`` builds them from
click's parameter sources); the tests at the end drive the real command line, where the origin
of each value comes from click (command line, ``QWORKER_*`` environment, default).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qworker.cli import cli
from qworker.errors import ConfigError
from qworker.runtime.config import RetryBackoff
from qworker.settings.layers import CLI, DEFAULT, Effective, Given, resolve
from qworker.settings.sources import discover, load_config_file
from qworker.settings.values import ConfigFileError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "qworker.toml"
TEMPLATE = REPO / "examples" / "sam" / "template.yaml"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No QWORKER_* from the outside; put back os.environ, sys.path and handler modules after."""
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)
    saved_env, saved_path = dict(os.environ), list(sys.path)
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    for module in ("orders", "payments"):
        sys.modules.pop(module, None)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def given(**values: Any) -> dict[str, Given]:
    """Values as if given on the command line; ``env_X=...`` as if from the environment."""
    out = {}
    for key, value in values.items():
        if key.startswith("env_"):
            out[key.removeprefix("env_")] = Given(value, f"env QWORKER_{key.removeprefix('env_').upper()}")
        else:
            out[key] = Given(value, CLI)
    return out


RUN_DEFAULTS = {
    "backend": Given("sqlite:///qworker.db", DEFAULT),
    "batch_size": Given(10, DEFAULT),
    "batch_window": Given(0, DEFAULT),
    "timeout": Given(3.0, DEFAULT),
    "memory": Given(128, DEFAULT),
    "filters": Given((), DEFAULT),
    "report_batch_item_failures": Given(False, DEFAULT),
    "graceful_timeout": Given(25.0, DEFAULT),
    "pollers": Given(1, DEFAULT),
    "app_dir": Given(".", DEFAULT),
    "log_format": Given("auto", DEFAULT),
    "log_level": Given("info", DEFAULT),
}


def effective(tmp_path: Path, environ: dict[str, str] | None = None, **values: Any) -> Effective:
    return resolve({**RUN_DEFAULTS, **given(**values)}, cwd=tmp_path, environ=environ or {})


def by_name(result: Effective) -> dict[str, Any]:
    return {f.name: f for f in result.functions}


TWO_FUNCTIONS = """
backend = "sqlite:///from-file.db"
graceful_timeout = 20
metrics_port = 9100

[defaults]
timeout = 20
environment = { STAGE = "test" }

[functions.orders]
handler = "orders.handler"
queue = "orders"
batch_size = 50
batch_window = 2
max_concurrency = 5
report_batch_item_failures = true
filters = [{ body = { type = ["order"] } }, '{"body": {"type": ["refund"]}}']
environment = { TABLE = "orders" }
retry_backoff = "1:60"

[functions.payments]
handler = "payments:handler"
queue = "payments.fifo"
batch_size = 5
timeout = 10

[queues.orders-dlq]
[queues.orders]
visibility_timeout = 180
dlq = "orders-dlq"
max_receive_count = 3
[queues."payments.fifo"]
content_based_dedup = true
"""


def test_file_declares_several_functions_with_lambda_settings(tmp_path: Path) -> None:
    """One file, two mappings: each setting reaches its MappingConfig (ESM-CFG-* names)."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(tmp_path, config=str(config))
    orders, payments = result.mappings
    assert orders.handler == "orders.handler" and orders.queue == "orders"
    assert (orders.batch_size, orders.batch_window, orders.max_concurrency) == (50, 2, 5)
    assert orders.report_batch_item_failures is True
    assert orders.filters == ('{"body": {"type": ["order"]}}', '{"body": {"type": ["refund"]}}')
    assert orders.timeout == 20.0  # from [defaults]
    assert orders.environment == {"STAGE": "test", "TABLE": "orders"}  # [defaults] merged
    assert orders.retry_backoff == RetryBackoff(1.0, 60.0)
    assert orders.function_name == "orders"  # the section name
    assert (payments.batch_size, payments.timeout, payments.queue) == (5, 10.0, "payments.fifo")
    assert result.options.backend_url == "sqlite:///from-file.db"
    assert result.options.graceful_timeout == 20 and result.options.metrics_port == 9100
    assert result.options.app_dir == str(tmp_path)  # a file's functions import from its directory
    assert [q.name for q in result.queues] == ["orders-dlq", "orders", "payments.fifo"]
    orders_queue = result.queue_spec("orders")
    assert orders_queue is not None and orders_queue.visibility_timeout == 180
    assert orders_queue.redrive_policy is not None
    assert orders_queue.redrive_policy.dead_letter_queue == "orders-dlq"
    assert orders_queue.redrive_policy.max_receive_count == 3
    fifo_queue = result.queue_spec("payments.fifo")
    assert fifo_queue is not None and fifo_queue.content_based_deduplication


def test_precedence_cli_over_env_over_file_over_default(tmp_path: Path) -> None:
    """CLI > env > file > defaults, per setting, with the origin of each value kept."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(
        tmp_path,
        config=str(config),
        memory=512,  # command line; the file does not set it
        env_timeout=15.0,  # environment beats the file's [defaults] timeout = 20
        env_graceful_timeout=10.0,  # environment beats the file's worker setting
        backend="sqlite:///from-cli.db",  # command line beats the file
    )
    functions = by_name(result)
    orders = functions["orders"]
    assert orders.config.memory == 512 and orders.spec.origins["memory"] == CLI
    assert orders.config.timeout == 15.0 and orders.spec.origins["timeout"] == "env QWORKER_TIMEOUT"
    assert orders.config.batch_size == 50 and orders.spec.origins["batch_size"] == "file qworker.toml"
    assert orders.config.scaling == "fast" and "scaling" not in orders.spec.origins  # MappingConfig default
    assert result.options.backend_url == "sqlite:///from-cli.db" and result.worker_origins["backend"] == CLI
    assert result.options.graceful_timeout == 10.0
    assert result.worker_origins["graceful_timeout"] == "env QWORKER_GRACEFUL_TIMEOUT"
    assert result.worker_origins["metrics_port"] == "file qworker.toml"
    assert result.worker_origins["pollers"] == DEFAULT
    # a tuning option from the command line applies to every selected function
    assert functions["payments"].config.memory == 512


def test_default_value_never_overrides_the_file(tmp_path: Path) -> None:
    """A click default (batch_size=10) is the lowest layer: the file's 50 stays."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(tmp_path, config=str(config))
    orders = by_name(result)["orders"]
    assert orders.config.batch_size == 50
    payments = by_name(result)["payments"]
    assert payments.config.batch_window == 0 and payments.spec.origins["batch_window"] == DEFAULT


def test_cli_filter_replaces_the_files_filters(tmp_path: Path) -> None:
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(tmp_path, config=str(config), filters=('{"body": {"x": [1]}}',), function=("orders",))
    assert result.mappings[0].filters == ('{"body": {"x": [1]}}',)


def test_identity_options_need_exactly_one_selected_function(tmp_path: Path) -> None:
    """--queue / HANDLER name one function: an error with several, applied with --function NAME."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    with pytest.raises(ConfigError, match=r"--queue \(from the command line\) names one function, but 2"):
        effective(tmp_path, config=str(config), queue="other")
    with pytest.raises(ConfigError, match=r"--queue \(from QWORKER_QUEUE\) names one function"):
        effective(tmp_path, config=str(config), env_queue="other")
    result = effective(tmp_path, config=str(config), queue="orders-v2", function=("orders",))
    assert [m.queue for m in result.mappings] == ["orders-v2"]


def test_function_selection(tmp_path: Path) -> None:
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(tmp_path, config=str(config), function=("payments",))
    assert [m.name for m in result.mappings] == ["payments"]
    with pytest.raises(ConfigError, match=r"--function 'nope': no such function .* known: orders, payments"):
        effective(tmp_path, config=str(config), function=("nope",))
    with pytest.raises(ConfigError, match="--function selects functions of a --config file or a --template"):
        effective(tmp_path, handler="app:handler", queue="q", function=("orders",))


def test_process_environment_beats_the_files_environment(tmp_path: Path) -> None:
    """env > file also for a function's environment variables: the process's value is kept."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    result = effective(tmp_path, environ={"TABLE": "from-process"}, config=str(config))
    orders = by_name(result)["orders"]
    assert "TABLE" not in orders.config.environment
    assert orders.spec.env_origins["TABLE"] == "env"
    assert orders.config.environment["STAGE"] == "test"


def test_disabled_function_is_declared_but_not_run(tmp_path: Path) -> None:
    text = TWO_FUNCTIONS.replace(
        'handler = "payments:handler"', 'handler = "payments:handler"\nenabled = false'
    )
    config = write(tmp_path / "qworker.toml", text)
    result = effective(tmp_path, config=str(config))
    assert [f.name for f in result.functions] == ["orders", "payments"]
    assert [m.name for m in result.mappings] == ["orders"]
    only_disabled = effective(tmp_path, config=str(config), function=("orders",))
    assert len(only_disabled.mappings) == 1
    with pytest.raises(ConfigError, match="every selected function is disabled"):
        effective(tmp_path, config=str(config), function=("payments",))


def test_pyproject_tool_qworker_and_discovery(tmp_path: Path) -> None:
    """[tool.qworker] in pyproject.toml; found in the working directory when no HANDLER is given."""
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.qworker]\nbackend = "sqlite://"\n\n'
        '[tool.qworker.functions.jobs]\nhandler = "jobs:handler"\nqueue = "jobs"\n',
    )
    assert discover(tmp_path) == tmp_path / "pyproject.toml"
    result = effective(tmp_path)
    assert [m.queue for m in result.mappings] == ["jobs"]
    assert result.options.backend_url == "sqlite://"
    assert result.config_path == tmp_path / "pyproject.toml"
    # qworker.toml wins over pyproject.toml
    write(tmp_path / "qworker.toml", '[functions.other]\nhandler = "o:h"\nqueue = "other"\n')
    assert discover(tmp_path) == tmp_path / "qworker.toml"
    # a HANDLER on the command line means: no discovery, the single-mapping form
    result = effective(tmp_path, handler="app:handler", queue="q")
    assert [(m.handler, m.queue) for m in result.mappings] == [("app:handler", "q")]
    assert result.config_path is None


def test_pyproject_without_tool_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert discover(tmp_path) is None
    with pytest.raises(ConfigFileError, match=r"pyproject.toml: no \[tool.qworker\] table"):
        load_config_file(path)


def test_nothing_to_run_says_how(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no handler given: pass MODULE:HANDLER"):
        effective(tmp_path)
    with pytest.raises(ConfigError, match="no queue given: pass --queue NAME"):
        effective(tmp_path, handler="app:handler")


FUNCTION_A = "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nbatch_sise = 5\n",
            r"unknown key 'batch_sise' \(did you mean 'batch_size'\?\)",
        ),
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nbatch_size = '5'\n",
            r"\[functions.a\] batch_size: expected a whole number, got '5'",
        ),
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nreport_batch_item_failures = 1\n",
            "expected true or false",
        ),
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nisolation = 'fork'\n",
            "expected one of 'thread', 'process'",
        ),
        ("[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nretry_backoff = 'soon'\n", "takes BASE or BASE:MAX"),
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nfilters = [1]\n",
            r"filters\[0\]: a filter pattern is a JSON string or a table",
        ),
        (
            "[functions.a]\nhandler = 'a:h'\nqueue = 'q'\nenvironment = { A = [1] }\n",
            "environment.A: an environment variable is a string",
        ),
        ("[defaults]\nqueue = 'q'\n", r"\[defaults\]: 'queue' names one function"),
        ("workers = 2\n", "unknown key 'workers'"),
        (FUNCTION_A + "[queues.q]\ndlq = 'd'\n", "dlq and max_receive_count go together"),
        (FUNCTION_A + "[queues.q]\ncontent_based_dedup = true\n", "for FIFO queues only"),
        (FUNCTION_A + "[queues.q]\nvisibility_timeout = 50000\n", "VisibilityTimeout"),
        ("[functions.a]\nqueue = 'q'\n", r"\[functions.a\]: no 'handler'"),
        ("functions = 3\n", "'functions' must be a table"),
        ("[functions\n", "invalid TOML"),
    ],
)
def test_bad_file_names_file_section_and_key(tmp_path: Path, text: str, message: str) -> None:
    config = write(tmp_path / "qworker.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        effective(tmp_path, config=str(config))
    assert str(config) in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist"):
        effective(tmp_path, config=str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # ESM-CFG-2, AWS's text
        (
            "queue = 'q'\nbatch_size = 11",
            "Maximum batch window in seconds must be greater than 0 if maximum batch size",
        ),
        # ESM-CFG-1 for FIFO
        (
            "queue = 'q.fifo'\nbatch_size = 11\nbatch_window = 1",
            "Batch size must not exceed 10 for FIFO queues",
        ),
        ("queue = 'q.fifo'\nbatch_window = 1", "Batching window is not supported for FIFO queues"),
        # ESM-CFG-7
        ("queue = 'q'\nmax_concurrency = 1", "scalingConfig.maximumConcurrency"),
        # ESM-CFG-5
        ("queue = 'q'\nfilters = ['{\"body\": \"x\"}']", "Invalid filter pattern definition."),
        # ESM-CFG-4 against the declared queue's visibility timeout
        (
            "queue = 'q'\ntimeout = 60\n[queues.q]\nvisibility_timeout = 30",
            "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds",
        ),
    ],
)
def test_lambda_validation_names_the_function(tmp_path: Path, settings: str, message: str) -> None:
    """ESM-CFG-1/2/4/5/7 are checked when the file is read, with AWS's text and the file section."""
    config = write(tmp_path / "qworker.toml", f"[functions.a]\nhandler = 'a:h'\n{settings}\n")
    with pytest.raises(ConfigError) as info:
        effective(tmp_path, config=str(config))
    assert message in str(info.value)
    assert f"{config} [functions.a]" in str(info.value)


def test_file_overlays_a_template(tmp_path: Path) -> None:
    """file > template: [functions.<LogicalId>] overrides the template's settings, keeps the rest."""
    config = write(
        tmp_path / "qworker.toml",
        f'template = "{TEMPLATE}"\n\n[defaults]\nmemory = 1024\n\n'
        "[functions.OrdersFunction]\nbatch_size = 100\nqueue = 'orders-local'\n"
        "environment = { MIN_AMOUNT = '10' }\n",
    )
    result = effective(tmp_path, config=str(config))
    functions = by_name(result)
    orders = functions["OrdersFunction"]
    assert orders.config.batch_size == 100 and orders.spec.origins["batch_size"] == "file qworker.toml"
    assert orders.config.queue == "orders-local"
    assert orders.config.batch_window == 2 and orders.spec.origins["batch_window"] == "template template.yaml"
    assert orders.config.memory == 1024  # [defaults] is the file's layer: above the template
    assert orders.config.environment["MIN_AMOUNT"] == "10"
    assert orders.config.environment["ORDERS_TABLE"] == "orders-dev"  # from the template
    assert functions["PaymentsFunction"].config.batch_size == 5
    assert result.template_path == TEMPLATE


def test_file_section_matching_no_template_function(tmp_path: Path) -> None:
    config = write(
        tmp_path / "qworker.toml", f'template = "{TEMPLATE}"\n[functions.OrderFunction]\nbatch_size = 100\n'
    )
    with pytest.raises(
        ConfigError, match=r"matches no function of .*known: OrdersFunction, PaymentsFunction"
    ):
        effective(tmp_path, config=str(config))


def test_same_module_name_in_two_directories_is_an_error(tmp_path: Path) -> None:
    """One process has one module per name: a/app.py and b/app.py cannot be served together."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    template = write(
        tmp_path / "template.yaml",
        """
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      {CodeUri: a/, Handler: app.handler, Events: {Q: {Type: SQS, Properties: {Queue: arn:aws:sqs:r:1:qa}}}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      {CodeUri: b/, Handler: app.handler, Events: {Q: {Type: SQS, Properties: {Queue: arn:aws:sqs:r:1:qb}}}}
""",
    )
    with pytest.raises(ConfigError, match=r"both import a module named 'app'.*--function A / --function B"):
        effective(tmp_path, template=str(template))
    one = effective(tmp_path, template=str(template), function=("B",))
    assert one.options.app_dir == str(tmp_path / "b")


def test_example_config_file_is_valid() -> None:
    """examples/qworker.toml, as shipped."""
    result = resolve({**RUN_DEFAULTS, **given(config=str(EXAMPLE))}, environ={})
    assert [m.name for m in result.mappings] == ["orders", "payments"]
    assert result.options.app_dir == str(EXAMPLE.parent / "sam" / "src")
    assert [q.name for q in result.queues] == ["orders-dlq", "orders", "payments-dlq.fifo", "payments.fifo"]


# -- through the command line: click's parameter sources ------------------------------------------


def check_json(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["check", "--offline", "--no-import", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_env_and_file_origins_from_click(tmp_path: Path) -> None:
    """The command line's own sources: --batch-size (cli) > QWORKER_BATCH_SIZE (env) > file."""
    config = write(tmp_path / "qworker.toml", TWO_FUNCTIONS)
    from_file = check_json(["--config", str(config), "--function", "orders"])
    settings = from_file["functions"][0]["settings"]
    assert settings["batch_size"] == {"value": 50, "source": "file qworker.toml"}
    from_env = check_json(["--config", str(config), "--function", "orders"], env={"QWORKER_BATCH_SIZE": "30"})
    assert from_env["functions"][0]["settings"]["batch_size"] == {
        "value": 30,
        "source": "env QWORKER_BATCH_SIZE",
    }
    from_cli = check_json(
        ["--config", str(config), "--function", "orders", "--batch-size", "40"],
        env={"QWORKER_BATCH_SIZE": "30"},
    )
    assert from_cli["functions"][0]["settings"]["batch_size"] == {"value": 40, "source": "cli"}
    from_env_config = check_json([], env={"QWORKER_CONFIG": str(config), "QWORKER_FUNCTION": "payments"})
    assert [f["name"] for f in from_env_config["functions"]] == ["payments"]


def test_run_passes_metrics_options_and_file_settings_to_the_worker(tmp_path: Path) -> None:
    """`qworker run --config`: --metrics-port/--metrics-host reach the worker (it serves /metrics),
    the file's queues are created with --create-queues, and both functions run in one process."""
    (tmp_path / "jobs_app.py").write_text("def handler(event, context):\n    return None\n")
    config = write(
        tmp_path / "qworker.toml",
        "[functions.a]\nhandler = 'jobs_app:handler'\nqueue = 'a'\n"
        "[functions.b]\nhandler = 'jobs_app.handler'\nqueue = 'b.fifo'\n"
        "[queues.a]\n[queues.'b.fifo']\n",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    env["PYTHONPATH"] = str(REPO)
    env["QWORKER_METRICS_HOST"] = "127.0.0.1"
    backend = f"sqlite:///{tmp_path}/q.db"
    args = ["run", "--config", str(config), "--backend", backend, "--create-queues", "--until-empty"]
    result = subprocess.run(
        [sys.executable, "-m", "qworker", *args, "--metrics-port", "0", "--log-format", "json"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    serving = [e for e in events if e.get("event", "").startswith("serving /metrics")]
    assert serving and serving[0]["host"] == "127.0.0.1" and serving[0]["port"] > 0
    ready = [e for e in events if e.get("event") == "mapping ready"]
    assert sorted(e["queue"] for e in ready) == ["a", "b.fifo"]
    loaded = next(e for e in events if e.get("event") == "configuration loaded")
    assert loaded["functions"] == ["a", "b"]

"""``qworker check``: the effective settings with their sources, and the checks (settings, backend,
queues, handler imports) with DESIGN.md's exit codes. In-process through click, real SQLite files."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qworker.backend import QueueSpec
from qworker.cli import cli
from qworker.registry import open_backend

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "examples" / "sam" / "template.yaml"
CONFIG = REPO / "examples" / "qworker.toml"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)
    saved_env, saved_path = dict(os.environ), list(sys.path)
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    for module in ("orders", "payments", "jobs_app"):
        sys.modules.pop(module, None)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/check.db"


def check(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["check", *args], env=env)


def report(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)


def queue_attributes(url: str, name: str) -> dict[str, str]:
    async def go() -> dict[str, str]:
        async with open_backend(url) as backend:
            return (await backend.get_queue(name)).attributes()

    return asyncio.run(go())


def failed(data: dict[str, Any]) -> list[str]:
    return [f"{c['check']}: {c['message']}" for c in data["checks"] if not c["ok"]]


def test_offline_report_lists_every_setting_with_its_source() -> None:
    result = check("--template", str(TEMPLATE), "--offline", "--no-import", "--json", "--memory", "512")
    assert result.exit_code == 0, result.output
    data = report(result)
    assert data["ok"] is True and data["template"] == str(TEMPLATE) and data["config"] is None
    orders = data["functions"][0]
    assert orders["name"] == "OrdersFunction" and orders["enabled"] is True
    settings = orders["settings"]
    assert settings["batch_size"] == {"value": 50, "source": "template template.yaml"}
    assert settings["timeout"] == {"value": 30, "source": "template template.yaml Globals"}
    assert settings["memory"] == {"value": 512, "source": "cli"}
    assert settings["scaling"] == {"value": "fast", "source": "default"}
    assert settings["max_concurrency"] == {"value": 5, "source": "template template.yaml"}
    assert settings["filters"]["value"] == ['{"body": {"type": ["order"]}}']
    # environment: names and sources only (values may be secrets)
    assert orders["environment"]["ORDERS_TABLE"] == "template template.yaml"
    assert "orders-dev" not in json.dumps(orders["environment"])
    assert data["worker"]["app_dir"] == {
        "value": str(TEMPLATE.parent / "src"),
        "source": "template template.yaml Globals",
    }
    assert [q["name"] for q in data["queues"]][:2] == ["OrdersDeadLetterQueue", "orders-dev"]
    assert [c["check"] for c in data["checks"]] == ["OrdersFunction: settings", "PaymentsFunction: settings"]


def test_text_report() -> None:
    result = check("--config", str(CONFIG), "--offline")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(f"qworker check: config {CONFIG}")
    for fragment in (
        "\nworker\n",
        "function orders  (enabled;",
        "function payments  (enabled;",
        "batch_size                   50",
        "file qworker.toml",
        "env ORDERS_TABLE",
        "\ndeclared queues\n",
        "orders                       VisibilityTimeout=180 DLQ=orders-dlq maxReceiveCount=3",
        "ok    orders: handler: orders:handler imports",
    ):
        assert fragment in text, fragment


def test_missing_queues_fail_then_create_queues_creates_them(url: str) -> None:
    """Exit 2 with a hint while the queues are missing; --create-queues creates them (DLQs first,
    RedrivePolicy, FIFO, ContentBasedDeduplication, VisibilityTimeout) and then everything passes."""
    missing = check("--template", str(TEMPLATE), "--backend", url, "--json")
    assert missing.exit_code == 2
    data = report(missing)
    assert data["ok"] is False
    problems = failed(data)
    assert len(problems) == 2
    assert "OrdersFunction: queue orders-dev: does not exist on" in problems[0]
    assert "create it with --create-queues" in problems[0]
    assert missing.stderr.startswith("error: 2 check(s) failed; first: OrdersFunction: queue orders-dev")

    created = check("--template", str(TEMPLATE), "--backend", url, "--create-queues", "--json")
    assert created.exit_code == 0, created.output
    names = [c["check"] for c in report(created)["checks"]]
    assert names.index("create queue OrdersDeadLetterQueue") < names.index("create queue orders-dev")
    orders = queue_attributes(url, "orders-dev")
    assert orders["VisibilityTimeout"] == "180"
    assert json.loads(orders["RedrivePolicy"])["maxReceiveCount"] == 3
    assert json.loads(orders["RedrivePolicy"])["deadLetterTargetArn"].endswith(":OrdersDeadLetterQueue")
    payments = queue_attributes(url, "payments-dev.fifo")
    assert payments["FifoQueue"] == "true" and payments["ContentBasedDeduplication"] == "true"
    assert payments["VisibilityTimeout"] == "60"
    assert json.loads(payments["RedrivePolicy"])["deadLetterTargetArn"].endswith(":payments-dev-dlq.fifo")
    assert queue_attributes(url, "OrdersDeadLetterQueue")["MessageRetentionPeriod"] == "1209600"

    again = check("--template", str(TEMPLATE), "--backend", url, "--create-queues")  # idempotent
    assert again.exit_code == 0, again.output


def test_queue_checked_against_the_real_queue(url: str, tmp_path: Path) -> None:
    """ESM-CFG-4 and FIFO with the queue's own attributes, not the declared ones."""

    async def make() -> None:
        async with open_backend(url) as backend:
            await backend.create_queue(QueueSpec("jobs", visibility_timeout=5))

    asyncio.run(make())
    (tmp_path / "jobs_app.py").write_text("def handler(event, context):\n    return None\n")
    result = check(
        "jobs_app:handler",
        "--queue",
        "jobs",
        "--timeout",
        "10",
        "--backend",
        url,
        "--app-dir",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 2
    assert failed(report(result)) == [
        "jobs_app-handler: queue jobs: "
        "Queue visibility timeout: 5 seconds is less than Function timeout: 10 seconds"
    ]
    ok = check("jobs_app:handler", "--queue", "jobs", "--backend", url, "--app-dir", str(tmp_path))
    assert ok.exit_code == 0, ok.output
    assert (
        "ok    jobs_app-handler: queue jobs: exists (VisibilityTimeout 5 s) and accepts the mapping"
        in ok.stdout
    )


def test_existing_queue_with_other_attributes(url: str) -> None:
    async def make() -> None:
        async with open_backend(url) as backend:
            await backend.create_queue(QueueSpec("OrdersDeadLetterQueue", visibility_timeout=99))

    asyncio.run(make())
    result = check("--template", str(TEMPLATE), "--backend", url, "--create-queues", "--no-import", "--json")
    assert result.exit_code == 2
    assert failed(report(result))[0].startswith("create queue OrdersDeadLetterQueue: ")


def test_backend_unreachable_exits_3(tmp_path: Path) -> None:
    result = check("--template", str(TEMPLATE), "--backend", "sqlite:////nonexistent-dir/x/q.db", "--json")
    assert result.exit_code == 3
    assert failed(report(result))[0].startswith("backend: cannot reach sqlite:////nonexistent-dir/x/q.db")


def test_handler_import_failure_exits_4(tmp_path: Path) -> None:
    (tmp_path / "qworker.toml").write_text("[functions.a]\nhandler = 'missing_module:handler'\nqueue = 'q'\n")
    result = check("--config", str(tmp_path / "qworker.toml"), "--offline", "--json")
    assert result.exit_code == 4
    assert "a: handler: Could not import module 'missing_module'" in failed(report(result))[0]


def test_invalid_configuration_is_one_error_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "qworker.toml").write_text(
        "[functions.a]\nhandler = 'a:h'\nqueue = 'q.fifo'\nbatch_size = 20\n"
    )
    result = check("--config", str(tmp_path / "qworker.toml"), "--offline")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "[functions.a]: Batch size must not exceed 10 for FIFO queues" in lines[0]


def test_offline_and_create_queues_conflict() -> None:
    result = check("--template", str(TEMPLATE), "--offline", "--create-queues")
    assert result.exit_code == 2
    assert "--create-queues needs the backend" in result.stderr


def test_disabled_function_is_reported_not_checked(tmp_path: Path) -> None:
    text = CONFIG.read_text().replace("[functions.payments]\n", "[functions.payments]\nenabled = false\n")
    (tmp_path / "qworker.toml").write_text(
        text.replace('app_dir = "sam/src"', f'app_dir = "{CONFIG.parent}/sam/src"')
    )
    result = check("--config", str(tmp_path / "qworker.toml"), "--offline")
    assert result.exit_code == 0, result.output
    assert "function payments  (DISABLED (Enabled: false; not run);" in result.stdout
    assert "payments: handler" not in result.stdout


def test_discovers_qworker_toml_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "jobs_app.py").write_text("def handler(event, context):\n    return None\n")
    (tmp_path / "qworker.toml").write_text("[functions.jobs]\nhandler = 'jobs_app:handler'\nqueue = 'jobs'\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = check("--offline", "--json")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    data = report(result)
    assert data["config"] == str(tmp_path / "qworker.toml")
    assert [c["check"] for c in data["checks"]] == ["jobs: settings", "jobs: handler"]


def test_environment_conflict_is_a_warning(tmp_path: Path) -> None:
    """Two functions, one process, one environment: differing values are reported (a limitation)."""
    (tmp_path / "qworker.toml").write_text(
        "[functions.a]\nhandler = 'a:h'\nqueue = 'a'\nenvironment = { SERVICE = 'a' }\n"
        "[functions.b]\nhandler = 'b:h'\nqueue = 'b'\nenvironment = { SERVICE = 'b' }\n"
    )
    result = check("--config", str(tmp_path / "qworker.toml"), "--offline", "--no-import", "--json")
    assert result.exit_code == 0, result.output
    (warning,) = report(result)["warnings"]
    assert "environment variable SERVICE differs between a and b" in warning


def test_password_in_backend_url_is_not_printed(tmp_path: Path) -> None:
    result = check(
        "--template",
        str(TEMPLATE),
        "--offline",
        "--no-import",
        "--json",
        "--backend",
        "redis://u:s3cret@h:1/0",
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output

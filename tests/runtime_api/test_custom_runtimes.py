"""``qworker run --runtime-command``, ``--isolation runtime-api`` and ``qworker.toml`` runtimes,
through the real command line: a shell ``bootstrap`` with curl (the loop of AWS's custom-runtime
tutorial), a Python ``bootstrap``, AWS's ``awslambdaric``, and a runtime that is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy
from qworker.registry import open_backend
from tests.runtime_api.conftest import APPS, NODE_DIR, Ledger, needs_curl, send

REPO = Path(__file__).parent.parent.parent


@pytest.fixture
async def sqlite(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path}/queues.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("jobs-dlq"))
        await backend.create_queue(
            QueueSpec("jobs", visibility_timeout=1, redrive_policy=RedrivePolicy("jobs-dlq", 1))
        )
        yield url, backend


def qworker_run(args: list[str], cwd: Path, ledger: Ledger, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "QW_TEST_LEDGER": str(ledger.path), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "qworker", "run", *args, "--log-format", "json"],
        cwd=str(cwd),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def _dead_bodies(backend: Backend) -> list[str]:
    return sorted(m.body for m in await backend.peek("jobs-dlq", 10))


_PARTIAL = ["--queue", "jobs", "--report-batch-item-failures", "--timeout", "1", "--until-empty"]


@needs_curl
async def test_shell_bootstrap_with_curl(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await send(backend, "jobs", ["ok-1", "fail-2", "ok-3"])
    done = qworker_run(
        ["--runtime-command", "./bootstrap", "--backend", url, *_PARTIAL], APPS / "custom", ledger
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert await _dead_bodies(backend) == ["fail-2"]
    assert [line["kind"] for line in ledger.lines()] == ["shell"]
    logged = events(done.stderr)
    ready = [e for e in logged if e["event"] == "bootstrap ready, handler none"]
    assert ready and ready[0]["stream"] == "stdout" and ready[0]["function"] == "bootstrap"
    batch = next(e for e in logged if e["event"] == "batch")
    assert batch["outcome"] == "partial_failure"
    assert batch["request_id"] == ledger.lines()[0]["request_id"]


async def test_python_bootstrap(sqlite: Any, ledger: Ledger) -> None:
    url, backend = sqlite
    await send(backend, "jobs", ["ok-1", "fail-2"])
    command = f"{sys.executable} bootstrap.py"
    done = qworker_run(["--runtime-command", command, "--backend", url, *_PARTIAL], APPS / "custom", ledger)
    assert done.returncode == 0, done.stderr[-3000:]
    assert await _dead_bodies(backend) == ["fail-2"]
    (line,) = ledger.lines()
    assert line["kind"] == "python-bootstrap" and line["deadline"] > 0


async def test_python_handler_through_awslambdaric(sqlite: Any, ledger: Ledger) -> None:
    """--isolation runtime-api: AWS's own Python runtime interface client runs the handler."""
    url, backend = sqlite
    await send(backend, "jobs", [{"n": 1}, {"n": 2, "fail": True}])
    args = ["ric_app:handler", "--isolation", "runtime-api", "--backend", url, *_PARTIAL, "--batch-size", "2"]
    done = qworker_run(args, APPS / "python", ledger)
    assert done.returncode == 0, done.stderr[-3000:]
    assert await _dead_bodies(backend) == ['{"n": 2, "fail": true}']
    (line,) = ledger.lines()
    assert line["kind"] == "awslambdaric" and 0 < line["remaining_ms"] <= 1000

    await send(backend, "jobs", [{"raise": True}])
    done = qworker_run(
        ["ric_app:handler", "--isolation", "runtime-api", "--backend", url, *_PARTIAL],
        APPS / "python",
        ledger,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (dead,) = [m for m in await backend.peek("jobs-dlq", 10) if "raise" in m.body]
    assert dead.last_error is not None and dead.last_error.startswith("ValueError: asked to raise")
    assert "ric_app.py" in dead.last_error  # awslambdaric's stackTrace is in the failure note


async def test_node_function_from_qworker_toml_and_a_missing_runtime(
    sqlite: Any, ledger: Ledger, tmp_path: Path
) -> None:
    url, backend = sqlite
    (tmp_path / "qworker.toml").write_text(
        f'backend = "{url}"\n\n[functions.orders]\nruntime = "nodejs20.x"\nhandler = "app.asyncHandler"\n'
        f'code_dir = "{NODE_DIR}"\nqueue = "jobs"\ntimeout = 1\nreport_batch_item_failures = true\n'
    )
    await send(backend, "jobs", [{"n": 1, "fail": False}, {"n": 2, "fail": True}])
    if shutil.which("node"):
        done = qworker_run(["--until-empty"], tmp_path, ledger)
        assert done.returncode == 0, done.stderr[-3000:]
        assert await _dead_bodies(backend) == ['{"n": 2, "fail": true}']
        assert ledger.lines()[0]["function_name"] == "orders"
    # without Node.js on PATH the worker stops at once, naming what to install
    missing = qworker_run(["--until-empty"], tmp_path, ledger, PATH=str(Path(sys.executable).parent))
    assert missing.returncode == 4, missing.stderr[-3000:]
    assert "Runtime nodejs20.x needs Node.js 20 on PATH: install it" in missing.stderr

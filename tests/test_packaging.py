"""One distribution (issue 14 §1): ``pip install 'qworker[redis,sqs]'`` from a built wheel, in a
fresh virtual environment, runs ``qworker run`` against Redis and SQS.

The wheel is built once per session (``python -m build``); the fresh venv installs it with the
extras from the package index, exactly as a user would, and knows nothing of this checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

HANDLER = """
import json, os

def handler(event, context):
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event["Records"]:
            ledger.write(record["body"] + "\\n")
"""


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("qworker-*.whl")
    return built


def test_the_wheel_holds_the_backends_their_lua_and_the_entry_points(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    lua = {Path(n).name for n in names if n.startswith("qworker_redis/lua/") and n.endswith(".lua")}
    shipped = {p.name for p in (REPO / "backends/redis/src/qworker_redis/lua").rglob("*.lua")}
    assert lua == shipped and "receive-21.lua" in lua and "base.lua" in lua
    for package in ("qworker", "qworker_sqlite", "qworker_redis", "qworker_sqs"):
        assert f"{package}/__init__.py" in names, package
    assert "qworker/runtime/runtime_api/node_client.cjs" in names
    assert any(n.startswith("qworker/console/static/") for n in names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for scheme in ("sqlite", "memory", "redis", "rediss", "redis+cluster", "rediss+cluster", "sqs"):
        assert f"{scheme} = " in text, scheme
    metadata = zipfile.ZipFile(wheel).read(entry_points.replace("entry_points.txt", "METADATA")).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Provides-Extra: redis" in metadata and not any("qworker-" in line for line in requires)


@pytest.fixture(scope="session")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=True).create(home)
    subprocess.run(
        [
            str(home / "bin/python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"{wheel}[redis,sqs]",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return home


def _qworker(home: Path, cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(home / "bin/qworker"), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def moto_url() -> Iterator[str]:
    from qworker_sqs.testing import MotoSQSServer

    server = MotoSQSServer().start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["redis", "sqs", "sqlite"])
def test_a_fresh_venv_runs_the_worker_from_the_wheel(
    fresh_venv: Path, tmp_path: Path, redis_server: Any, kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "redis":
        url = f"{redis_server.url}?prefix=pkg{uuid.uuid4().hex[:8]}"
    elif kind == "sqs":
        url = request.getfixturevalue("moto_url")
    else:
        url = f"sqlite:///{tmp_path}/q.db"
    (tmp_path / "app.py").write_text(HANDLER)
    ledger = tmp_path / "ledger.txt"
    env = {
        "QWORKER_BACKEND": url,
        "LEDGER": str(ledger),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    queue = f"orders-{uuid.uuid4().hex[:8]}"
    for args in (["queue", "create", queue], ["send", "--queue", queue, "one", "two"]):
        done = _qworker(fresh_venv, tmp_path, *args, env=env)
        assert done.returncode == 0, done.stderr
    done = _qworker(fresh_venv, tmp_path, "run", "app:handler", "--queue", queue, "--until-empty", env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(ledger.read_text().split()) == ["one", "two"]
    located = subprocess.run(
        [str(fresh_venv / "bin/python"), "-c", "import qworker, qworker_redis; print(qworker.__file__)"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(fresh_venv) in located.stdout, "the fresh venv imported qworker from the checkout"

"""AWS's own Node.js runtime interface client (npm ``aws-lambda-ric``) against qworker's API.

The strongest evidence that qworker speaks the Runtime API as Lambda does: the client AWS ships
in its Node.js base images runs a function here unchanged, through ``--runtime-command``.

The package builds native code (curl and aws-lambda-cpp, with autoconf, automake, libtool,
cmake and a C++ compiler: about two minutes on two cores), so the fixture installs it once into
a cache directory outside the repository (``$QWORKER_TEST_CACHE``, default
``~/.cache/qworker-tests``) and the test is skipped, saying what is missing, where it cannot be
built. ``.ci/run`` installs the build tools.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from qworker.backend import QueueSpec, RedrivePolicy
from qworker.registry import open_backend
from qworker.runtime.config import MappingConfig
from tests.runtime_api.conftest import NODE_DIR, Ledger, needs_node, run_until_empty, send

pytestmark = [needs_node, pytest.mark.slow]

#: the last release that runs on Node.js 20 (4.x needs Node.js 22)
RIC_VERSION = "3.3.0"
_BUILD_TOOLS = ("npm", "make", "cmake", "g++", "autoreconf", "libtoolize")


def _cache() -> Path:
    root = os.environ.get("QWORKER_TEST_CACHE") or Path.home() / ".cache" / "qworker-tests"
    return Path(root) / "npm" / f"aws-lambda-ric-{RIC_VERSION}"


@pytest.fixture(scope="session")
def aws_ric() -> Path:
    """The installed client's entry point (``bin/index.mjs``), installed once per machine."""
    directory = _cache()
    entry = directory / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"
    native = entry.parent.parent / "dist" / "rapid-client.node"
    if native.exists():
        return entry
    missing = [tool for tool in _BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"aws-lambda-ric cannot be built here: missing {', '.join(missing)}")
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one pytest-xdist worker builds, the others wait
        if not native.exists():
            package = f"aws-lambda-ric@{RIC_VERSION}"
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(directory), package],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if done.returncode != 0 or not native.exists():
                pytest.fail(
                    f"npm install aws-lambda-ric failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
                )
    return entry


def _config(entry: Path, handler: str) -> MappingConfig:
    return MappingConfig(
        handler=handler,
        queue="jobs",
        runtime_command=f"node {entry} {handler}",  # AWS's client takes the handler as argv[2]
        code_dir=str(NODE_DIR),
        timeout=2,
        batch_size=4,
        report_batch_item_failures=True,
    )


@pytest.mark.timeout(900)
async def test_aws_node_runtime_interface_client_runs_against_qworker(
    aws_ric: Path, tmp_path: Path, ledger: Ledger
) -> None:
    url = f"sqlite:///{tmp_path}/queues.db"
    async with open_backend(url) as backend:
        await backend.create_queue(QueueSpec("jobs-dlq"))
        await backend.create_queue(
            QueueSpec("jobs", visibility_timeout=2, redrive_policy=RedrivePolicy("jobs-dlq", 1))
        )
        await send(backend, "jobs", [{"n": i, "fail": i == 2} for i in range(4)])
        assert await run_until_empty(url, _config(aws_ric, "app.asyncHandler")) == 0
        (dead,) = await backend.peek("jobs-dlq", 10)
        assert dead.body == '{"n": 2, "fail": true}'  # the partial batch response, read as ours
        (line,) = ledger.lines()
        assert line["kind"] == "async" and 0 < line["remaining_ms"] <= 2000
        assert line["function_name"] == "app-asyncHandler"

        await send(backend, "jobs", [{"throw": "bad order"}])
        assert await run_until_empty(url, _config(aws_ric, "app.behaviour")) == 0
        errors = [m.last_error for m in await backend.peek("jobs-dlq", 10) if "throw" in m.body]
        assert errors and errors[0] is not None and errors[0].startswith("TypeError: bad order")
        assert "app.js" in errors[0]  # AWS's client sends the stack as "trace": it is kept

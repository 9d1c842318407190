"""A SAM template with Node.js (async and callback handlers), a shell custom runtime and a Python
function, served unchanged by one ``qworker run --template`` process, on SQLite and on Redis.

Every function reports bodies with ``fail`` in ``batchItemFailures`` (ESM-P-2): those messages
come back after the visibility timeout, fail again, and reach the dead-letter queue after two
receives (ESM-DLQ-2); the others are deleted after one invocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy
from tests.runtime_api.conftest import APPS, NODE_DIR, Ledger, needs_curl, needs_node, send

pytestmark = [needs_node, needs_curl, pytest.mark.slow]

REPO = Path(__file__).parent.parent.parent
TEMPLATE = APPS / "sam" / "template.yaml"
_QWORKER_RUN = [sys.executable, "-m", "qworker", "run"]
_UNTIL_EMPTY = ["--until-empty", "--log-format", "json"]
QUEUES = {"node-async": "async", "node-callback": "callback", "shell": "shell", "python": "python"}


async def _queues(backend: Backend) -> None:
    for name in QUEUES:
        await backend.create_queue(QueueSpec(f"{name}-dlq"))
        await backend.create_queue(
            QueueSpec(name, visibility_timeout=2, redrive_policy=RedrivePolicy(f"{name}-dlq", 2))
        )


def _run_template(backend_url: str, ledger: Ledger) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QW_TEST_LEDGER": str(ledger.path), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*_QWORKER_RUN, "--template", str(TEMPLATE), "--backend", backend_url, *_UNTIL_EMPTY],
        cwd=str(APPS),
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_node_shell_and_python_functions_from_one_template(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    await _queues(backend)
    bodies = [{"n": i, "fail": i % 4 == 0} for i in range(8)]
    for queue in ("node-async", "node-callback", "python"):
        await send(backend, queue, bodies)
    await send(backend, "shell", [f"ok-{i}" if i % 4 else f"fail-{i}" for i in range(8)])

    done = _run_template(backend_url, ledger)
    assert done.returncode == 0, done.stderr[-4000:]

    lines = ledger.lines()
    kinds = {line["kind"] for line in lines}
    assert kinds == {"async", "callback", "shell", "python"}
    for queue in QUEUES:
        counts = (await backend.get_queue(queue)).counts
        assert (counts.visible, counts.in_flight) == (0, 0), queue
        dead = (await backend.get_queue(f"{queue}-dlq")).counts.visible
        assert dead == 2, f"{queue}: the two failing messages reach the DLQ, got {dead}"
    for kind in ("async", "callback"):
        seen = [json.loads(b) for line in lines if line["kind"] == kind for b in line["bodies"]]
        ok = sorted(b["n"] for b in seen if not b["fail"])
        assert ok == [1, 2, 3, 5, 6, 7], f"{kind}: each message that succeeded ran once"
        assert sorted(b["n"] for b in seen if b["fail"]) == [0, 0, 4, 4]


@pytest.mark.cross_process("the test runs qworker run as a child process")
async def test_lambda_environment_and_context_of_a_node_function(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    await _queues(backend)
    await send(backend, "node-async", [{"n": 1, "fail": False}])
    done = _run_template(backend_url, ledger)
    assert done.returncode == 0, done.stderr[-4000:]
    (line,) = [x for x in ledger.lines() if x["kind"] == "async"]
    env = line["env"]
    assert env["handler"] == "app.asyncHandler"
    assert env["task_root"] == str(NODE_DIR)
    assert env["tz"] == ":UTC"
    assert env["execution_env"] == "AWS_Lambda_nodejs20.x"
    assert env["init_type"] == "on-demand"
    assert env["stage"] == "test"  # the template's Environment.Variables
    assert env["log_stream"].count("/") == 3 and "[$LATEST]" in env["log_stream"]
    assert env["trace"].startswith("Root=1-")
    assert line["function_name"] == "NodeAsyncFunction"
    assert line["memory"] == "256"
    assert line["arn"].endswith(":function:NodeAsyncFunction")
    assert 0 < line["remaining_ms"] <= 2000  # the template's Timeout: 2

"""``examples/sam-polyglot``: Python, Node.js and a custom runtime, served unchanged by
``qworker check --create-queues`` then ``qworker run --template``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qworker.backend import SendEntry
from qworker.registry import open_backend
from tests.runtime_api.conftest import needs_curl, needs_node

pytestmark = [needs_node, needs_curl]

REPO = Path(__file__).parent.parent.parent
TEMPLATE = REPO / "examples" / "sam-polyglot" / "template.yaml"


def _qworker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "qworker", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


async def test_polyglot_example_runs_unchanged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/queues.db"
    created = _qworker(
        "check", "--template", str(TEMPLATE), "--backend", url, "--create-queues", cwd=tmp_path
    )
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    assert "AuditFunction: runtime: provided.al2023" in created.stdout
    async with open_backend(url) as backend:
        await backend.send("polyglot-orders", [SendEntry(json.dumps({"id": 1, "amount": 5}))])
        await backend.send(
            "polyglot-notifications", [SendEntry(json.dumps({"to": "a@example.com", "text": "hi"}))]
        )
        await backend.send(
            "polyglot-audit", [SendEntry('{"event": "login"}'), SendEntry('{"event": "logout"}')]
        )
    run = _qworker(
        "run",
        "--template",
        str(TEMPLATE),
        "--backend",
        url,
        "--until-empty",
        "--log-format",
        "json",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    logged = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    output = [e for e in logged if "stream" in e]  # lines the runtime processes wrote
    (notify,) = [e for e in output if e["event"].startswith("notify a@example.com: hi")]
    assert notify["function"] == "NotificationsFunction"
    assert notify["event"].endswith(f"({notify['request_id']})")  # the line carries its request id
    assert any(e["event"] == "audit: 2 records" and e["function"] == "AuditFunction" for e in output)
    batches = [e for e in logged if e["event"] == "batch"]
    assert sorted(e["function"] for e in batches) == [
        "AuditFunction",
        "NotificationsFunction",
        "OrdersFunction",
    ]
    assert all(e["outcome"] == "success" for e in batches)

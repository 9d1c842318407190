"""A message sent with qworker.Client is consumed by a real ``qworker run`` process."""

from __future__ import annotations

import json

import qworker
from tests.runtime import conftest as runtime_fixtures
from tests.runtime.conftest import Ledger, WorkerProcess

ledger = runtime_fixtures.ledger
worker_processes = runtime_fixtures.worker_processes
PRODUCER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_client_to_qworker_run(
    backend_url: str, ledger: Ledger, worker_processes: list[WorkerProcess]
) -> None:
    with qworker.Client.from_url(backend_url) as client:
        client.create_queue("e2e")
        sent = client.send("e2e", {"order": 1}, attributes={"tenant": "acme"}, trace_header=PRODUCER)
        result = client.send_batch("e2e", [{"body": {"order": n}} for n in range(2, 13)])
        assert not result.failed
    worker = WorkerProcess(
        ["apps.tracing_app:sync_trace", "--queue", "e2e", "--backend", backend_url, "--until-empty"],
        env={"QW_TEST_SLEEP": "0"},
    )
    worker_processes.append(worker)
    code, stderr = worker.wait(60)
    assert code == 0, stderr[-3000:]
    lines = ledger.lines()
    bodies = sorted(json.loads(body)["order"] for line in lines for body in line["bodies"])
    assert bodies == list(range(1, 13))
    first = next(line for line in lines if '{"order":1}' in line["bodies"])
    assert first["record_traces"][first["bodies"].index('{"order":1}')] == PRODUCER
    assert all(line["env"] and line["env"] == line["var"] for line in lines)
    with qworker.Client.from_url(backend_url) as client:
        assert client.stats("e2e")["ApproximateNumberOfMessages"] == "0"
    assert sent

"""T16 on SQLite, end to end: one undecodable row must not crash the worker (issue #13, defect 4).

Before the quarantine, a row whose msgpack'd attributes were garbage made ``qworker run`` exit 1
with "internal error: FormatError" after its receive had committed: the whole batch of that
receive stayed in flight, and every restart repeated it. Now the row is set aside in the
quarantine with its reason and the others are processed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from qworker.backend import Backend, MessageAttributeValue, QueueSpec, SendEntry
from qworker.cli import cli
from qworker.runtime.worker import Worker, WorkerOptions
from qworker_sqlite import SQLiteBackend
from tests.corruption import corrupt_message
from tests.runtime.conftest import APP_DIR, Ledger, WorkerProcess, log_events, make_queue, mapping, send_json

#: how each case damages the victim's row (SQL run on the file while no worker is running)
CORRUPTIONS = {
    # the reproduction: garbage bytes in the msgpack'd attributes column
    "attributes": (
        "UPDATE messages SET attrs = x'c1c1c1ff' WHERE message_id = ?",
        "bad-attributes:FormatError",
    ),
    # bytes that are not UTF-8 in a TEXT column: sqlite3 cannot even fetch the row as text
    "body": ("UPDATE messages SET body = CAST(x'fffe61' AS TEXT) WHERE message_id = ?", "not-utf8:body"),
    "group": (
        "UPDATE messages SET group_id = CAST(x'c328' AS TEXT) WHERE message_id = ?",
        "not-utf8:group_id",
    ),
}


async def _fill(path: Path, fifo: bool) -> tuple[str, list[str], str]:
    """A queue of 20 messages with attributes; returns the queue, the good ids and the victim's id."""
    queue = "jobs.fifo" if fifo else "jobs"
    async with SQLiteBackend.from_url(f"sqlite:///{path}") as backend:
        await backend.create_queue(QueueSpec(queue, visibility_timeout=30, content_based_deduplication=fifo))
        entries = [
            SendEntry(
                f'{{"n": {i}}}',
                message_attributes={"k": MessageAttributeValue("String", f"v{i}")},
                message_group_id=f"g{i % 3}" if fifo else None,
            )
            for i in range(20)
        ]
        result = await backend.send(queue, entries)
        assert not result.failed
    ids = [r.message_id for r in result.successful]
    victim = ids[7]
    return queue, [i for i in ids if i != victim], victim


@pytest.mark.parametrize(
    ("fifo", "column"),
    [(False, "attributes"), (False, "body"), (False, "group"), (True, "attributes"), (True, "body")],
)
async def test_one_undecodable_row_is_quarantined_and_the_worker_processes_the_rest(
    tmp_path: Path, ledger: Ledger, worker_processes: list[WorkerProcess], fifo: bool, column: str
) -> None:
    """T16 (issue #13 defect 4): ``qworker run --until-empty`` on a SQLite file with one corrupted
    row among 20 exits 0 having processed the 19 others; the corrupt one is in the quarantine
    with its reason and raw data, not in flight and not lost."""
    path = tmp_path / "queues.db"
    queue, good, victim = await _fill(path, fifo)
    sql, reason = CORRUPTIONS[column]
    with sqlite3.connect(path) as conn:
        assert conn.execute(sql, (victim,)).rowcount == 1

    process = WorkerProcess(
        ["apps.ledger:sync_handler", "--queue", queue, "--backend", f"sqlite:///{path}", "--until-empty"]
    )
    worker_processes.append(process)
    code, stderr = process.wait(timeout=40)  # before the fix: exit 1 at once, or a hang

    assert code == 0, stderr[-3000:]
    assert "internal error" not in stderr
    assert sorted(ledger.ids()) == sorted(good)  # each good message once, the victim never
    events = [e for e in log_events(stderr) if e.get("event") == "sqlite.message_quarantined"]
    assert [(e["queue"], e["message_id"], e["reason"]) for e in events] == [(queue, victim, reason)]
    async with SQLiteBackend.from_url(f"sqlite:///{path}") as backend:
        (entry,) = await backend.quarantined(queue)
        assert (entry.message_id, entry.reason) == (victim, reason)
        info = await backend.get_queue(queue)
        assert (info.counts.visible, info.counts.in_flight, info.counts.delayed) == (0, 0, 0)
        assert info.counts.quarantined == 1
    with sqlite3.connect(path) as conn:  # the raw row is kept as it was, byte for byte
        conn.text_factory = bytes
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        raw = conn.execute("SELECT message_id, attrs, body, group_id FROM quarantine").fetchone()
    assert raw[0] == victim.encode()
    expected = {"attributes": (1, b"\xc1\xc1\xc1\xff"), "body": (2, b"\xff\xfea"), "group": (3, b"\xc3(")}
    index, value = expected[column]
    assert raw[index] == value


# -- the worker's metrics and the stats command count the quarantine (T16), on SQLite and Redis --


async def test_metrics_and_stats_count_the_quarantine(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """T16: a worker that sets messages aside counts them (qworker_messages_quarantined_total)
    and its monitor shows the quarantine's size (qworker_queue_messages_quarantined); 'qworker
    queue stats' shows ApproximateNumberOfMessagesQuarantined. SQLite and Redis."""
    await make_queue(backend, "q")
    ids = await send_json(backend, "q", [{"n": i} for i in range(8)])
    for victim in ids[2:4]:
        await corrupt_message(backend, "q", victim, "attributes")
    config = mapping("async_handler", "q")
    options = WorkerOptions(
        backend_url=backend_url, app_dir=str(APP_DIR), metrics_port=0, monitor_interval=0.1
    )
    worker = Worker([config], options)
    task = asyncio.create_task(worker.serve())
    while worker.metrics_port is None:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    await ledger.until(lambda lines: sum(len(x["ids"]) for x in lines) >= 6)
    await asyncio.sleep(0.5)  # a monitor round after the receive
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.metrics_port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    text = (await reader.read()).decode().partition("\r\n\r\n")[2]
    writer.close()
    worker.request_stop()
    assert await task == 0
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("qworker_messages_quarantined_total", (("queue", "q"),))] == 2
    assert samples[("qworker_queue_messages_quarantined", (("queue", "q"),))] == 2
    assert sorted(ledger.ids()) == sorted(ids[:2] + ids[4:])

    # the command runs its own event loop: in a thread
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["queue", "stats", "q", "--backend", backend_url]
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["ApproximateNumberOfMessagesQuarantined"] == "2"
    assert stats["ApproximateNumberOfMessages"] == stats["ApproximateNumberOfMessagesNotVisible"] == "0"

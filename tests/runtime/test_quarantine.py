"""T16 on SQLite, end to end: one undecodable row must not crash the worker (issue #13, defect 4).

Before the quarantine, a row whose msgpack'd attributes were garbage made ``qworker run`` exit 1
with "internal error: FormatError" after its receive had committed: the whole batch of that
receive stayed in flight, and every restart repeated it. Now the row is set aside in the
quarantine with its reason and the others are processed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qworker.backend import MessageAttributeValue, QueueSpec, SendEntry
from qworker.backends.sqlite import SQLiteBackend
from tests.runtime.conftest import Ledger, WorkerProcess, log_events

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

"""What only the SQLite backend has to get right: URLs, files, WAL, several processes, crashes.

The SQS semantics themselves are checked by the shared conformance suite
(test_sqlite_conformance.py). Processes here are real OS processes (``subprocess`` running
``python -c``) sharing one database file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import (
    FailureNote,
    MessageAttributeValue,
    QueueSpec,
    RedrivePolicy,
    SendEntry,
    VisibilityChange,
)
from qworker.errors import BackendError, BackendUnavailable, ConfigError
from qworker.registry import open_backend
from qworker.testing.conformance import OffsetClock
from qworker_sqlite import SQLiteBackend
from qworker_sqlite.codec import decode_handle, encode_handle, new_message_id
from qworker_sqlite.schema import APPLICATION_ID, SCHEMA_VERSION
from qworker_sqlite.url import parse_url


def file_url(tmp_path: Path, name: str = "q.db", query: str = "") -> str:
    return f"sqlite:///{tmp_path / name}" + (f"?{query}" if query else "")


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    async with SQLiteBackend.from_url(file_url(tmp_path)) as backend:
        yield backend


async def pragma(backend: SQLiteBackend, name: str) -> Any:
    """Read a pragma on the backend's own connection (on its worker thread)."""
    return await backend._call(lambda store: store.conn.execute(f"PRAGMA {name}").fetchone()[0])


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` (a separate OS process) with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


# == URLs =======================================================================================


def test_relative_url_is_resolved_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    options = parse_url("sqlite:///data/queues.db")
    assert options.path == str(tmp_path / "data" / "queues.db")
    assert (options.synchronous, options.busy_timeout_ms) == ("normal", 5000)


def test_absolute_url() -> None:
    assert parse_url("sqlite:////var/lib/qworker/q.db").path == "/var/lib/qworker/q.db"
    assert parse_url("sqlite:////tmp/with%20space.db").path == "/tmp/with space.db"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "SQLITE://"])
def test_in_memory_urls(url: str) -> None:
    assert parse_url(url).in_memory


def test_query_options() -> None:
    options = parse_url("sqlite:///q.db?synchronous=FULL&busy_timeout_ms=250")
    assert (options.synchronous, options.busy_timeout_ms) == ("full", 250)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite://localhost/q.db", "no host"),
        ("sqlite:///", "no database file"),
        ("sqlite:///q.db?synchronous=off", "synchronous='off'"),
        ("sqlite:///q.db?busy_timeout_ms=soon", "busy_timeout_ms='soon'"),
        ("sqlite:///q.db?busy_timeout_ms=-1", "busy_timeout_ms='-1'"),
        ("sqlite:///q.db?journal=wal", "unknown option 'journal'"),
        ("sqlite:///q.db?synchronous=full&synchronous=normal", "given twice"),
        ("postgres:///q.db", "must start with sqlite://"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        SQLiteBackend.from_url(url)


async def test_registry_opens_sqlite_urls(tmp_path: Path) -> None:
    url = file_url(tmp_path, query="synchronous=full")
    backend = open_backend(url)
    assert isinstance(backend, SQLiteBackend)
    assert backend.display_url == url
    async with backend:
        assert await pragma(backend, "synchronous") == 2  # FULL


async def test_file_database_uses_wal_and_normal_sync(backend: SQLiteBackend) -> None:
    assert await pragma(backend, "journal_mode") == "wal"
    assert await pragma(backend, "synchronous") == 1  # NORMAL
    assert await pragma(backend, "busy_timeout") == 5000
    assert await pragma(backend, "application_id") == APPLICATION_ID


async def test_in_memory_backend_works_and_is_private() -> None:
    async with SQLiteBackend.from_url("sqlite://") as one, SQLiteBackend.from_url("sqlite://") as two:
        await one.create_queue(QueueSpec("mem"))
        await one.send("mem", [SendEntry("hello")])
        (message,) = await one.receive("mem")
        assert message.body == "hello"
        assert await two.list_queues() == []


# == opening and closing ========================================================================


async def test_missing_directory_is_backend_unavailable(tmp_path: Path) -> None:
    backend = SQLiteBackend.from_url(file_url(tmp_path / "no" / "such" / "dir"))
    with pytest.raises(BackendUnavailable, match="Cannot open SQLite database"):
        await backend.connect()


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "q.db").write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(BackendError):
        await SQLiteBackend.from_url(file_url(tmp_path)).connect()


async def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "q.db") as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    with pytest.raises(BackendError, match="not a qworker database"):
        await SQLiteBackend.from_url(file_url(tmp_path)).connect()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    async with SQLiteBackend.from_url(file_url(tmp_path)):
        pass
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(BackendError, match="newer qworker"):
        await SQLiteBackend.from_url(file_url(tmp_path)).connect()


async def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    """A file written by a qworker of schema version 1 (before SetQueueAttributes, tags and the
    record store) is migrated when opened: its queues and messages are kept and work; the new
    columns start empty. (Each migration step is its own function in schema.MIGRATIONS.)"""
    from qworker_sqlite import schema

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    for statement in schema._DDL:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO queues (name, spec, created_ms, modified_ms) VALUES ('old', ?, 1700000000000, "
        "1700000000000)",
        (
            '{"content_based_deduplication":false,"deduplication_scope":"queue","delay_seconds":0,'
            '"maximum_message_size":1048576,"message_retention_period":345600,'
            '"receive_wait_time_seconds":0,"redrive_policy":null,"visibility_timeout":30}',
        ),
    )
    conn.close()
    async with SQLiteBackend.from_url(file_url(tmp_path)) as backend:
        assert await pragma(backend, "user_version") == SCHEMA_VERSION
        assert (await backend.get_queue("old")).spec == QueueSpec("old")
        assert await backend.queue_tags("old") == {}
        await backend.send("old", [SendEntry("kept")])
        await backend.set_queue_attributes("old", QueueSpec("old", message_retention_period=600))
        await backend.tag_queue("old", {"migrated": "yes"})
        await backend.put_record("tasks", "t1", {"state": "RUNNING"}, None)
        (message,) = await backend.receive("old")
        assert message.body == "kept"
    async with SQLiteBackend.from_url(file_url(tmp_path)) as again:  # opened at the new version
        assert await again.queue_tags("old") == {"migrated": "yes"}
        assert await again.get_record("tasks", "t1") == {"state": "RUNNING"}


async def test_a_retention_change_moves_the_expiry_of_queued_messages_without_rewriting_them(
    tmp_path: Path,
) -> None:
    """SetQueueAttributes(MessageRetentionPeriod) adds the difference to the queue's
    expiry_shift_ms (one row), not to every message: a queue of any size changes at once. A
    standard DLQ still counts from the original enqueue time after the move (ESM-DLQ-4)."""
    clock = OffsetClock()
    async with SQLiteBackend.from_url(file_url(tmp_path), clock=clock) as backend:
        await backend.create_queue(QueueSpec("dlq", message_retention_period=300))
        await backend.create_queue(QueueSpec("q", redrive_policy=RedrivePolicy("dlq", 1)))
        await backend.send("q", [SendEntry(str(i)) for i in range(100)])
        stored = "SELECT count(DISTINCT expires_at) FROM messages"
        before = await backend._call(lambda store: store.conn.execute(stored).fetchone()[0])
        await backend.set_queue_attributes(
            "q", QueueSpec("q", message_retention_period=60, redrive_policy=RedrivePolicy("dlq", 1))
        )
        await backend.set_queue_attributes("dlq", QueueSpec("dlq", message_retention_period=200))
        assert await backend._call(lambda store: store.conn.execute(stored).fetchone()[0]) == before
        clock.advance(50)
        got = await backend.receive("q", 100, visibility_timeout=0)
        assert len(got) == 100
        assert await backend.receive("q", 100) == []  # all 100 dead-lettered, 50 s after enqueue
        assert (await backend.get_queue("dlq")).counts.visible == 100
        clock.advance(140)  # 190 s after enqueue: the DLQ keeps them 200 s
        assert (await backend.get_queue("dlq")).counts.visible == 100
        clock.advance(20)
        assert (await backend.get_queue("dlq")).counts.visible == 0


async def test_calls_need_a_connection(tmp_path: Path) -> None:
    backend = SQLiteBackend.from_url(file_url(tmp_path))
    with pytest.raises(BackendUnavailable, match="not connected"):
        await backend.list_queues()
    async with backend:
        await backend.close()  # closing twice is fine
    with pytest.raises(BackendUnavailable, match="not connected"):
        await backend.list_queues()


async def test_close_ends_a_pending_long_poll(backend: SQLiteBackend) -> None:
    await backend.create_queue(QueueSpec("q"))
    waiting = asyncio.create_task(backend.receive("q", wait_seconds=30))
    await asyncio.sleep(0.05)
    await backend.close()
    with pytest.raises(BackendUnavailable):
        await asyncio.wait_for(waiting, 5)


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec("dlq"))
        await backend.create_queue(
            QueueSpec("q", visibility_timeout=600, redrive_policy=RedrivePolicy("dlq", 3))
        )
        await backend.create_queue(QueueSpec("f.fifo"))
        await backend.send("q", [SendEntry("kept"), SendEntry("held")])
        (held,) = await backend.receive("q")
        first = await backend.send(
            "f.fifo", [SendEntry("a", message_group_id="g", message_deduplication_id="d")]
        )
    async with SQLiteBackend.from_url(url) as backend:
        assert await backend.list_queues() == ["dlq", "f.fifo", "q"]
        assert (await backend.get_queue("q")).spec.redrive_policy == RedrivePolicy("dlq", 3)
        counts = (await backend.get_queue("q")).counts
        assert (counts.visible, counts.in_flight) == (1, 1)
        assert await backend.delete("q", [held.receipt_handle]) == []  # the handle is still current
        # SQS-F-3: the deduplication window and the sequence counter carry on
        dup = await backend.send(
            "f.fifo", [SendEntry("b", message_group_id="g", message_deduplication_id="d")]
        )
        assert dup.successful[0].message_id == first.successful[0].message_id
        more = await backend.send(
            "f.fifo", [SendEntry("c", message_group_id="g", message_deduplication_id="e")]
        )
        assert int(more.successful[0].sequence_number or 0) > int(first.successful[0].sequence_number or 0)


# == receipt handles ============================================================================


def test_receipt_handles_round_trip_and_reject_garbage() -> None:
    handle = encode_handle(7, 123_456, 2**62 - 1)
    assert decode_handle(handle) == (7, 123_456, 2**62 - 1)
    for bad in ("", handle[:-1], handle + "A", "*" * len(handle), 42, None):
        assert decode_handle(bad) is None


async def test_handle_of_a_recreated_queue_is_invalid(backend: SQLiteBackend) -> None:
    """SQS-RH-1: a handle from a queue that was deleted and created again is not a handle of it."""
    await backend.create_queue(QueueSpec("q"))
    await backend.send("q", [SendEntry("a")])
    (old,) = await backend.receive("q")
    await backend.delete_queue("q")
    await backend.create_queue(QueueSpec("q"))
    failed = await backend.delete("q", [old.receipt_handle])
    assert [f.code for f in failed] == ["ReceiptHandleIsInvalid"]


async def test_failure_note_with_a_stale_handle_is_ignored(backend: SQLiteBackend) -> None:
    await backend.create_queue(QueueSpec("q"))
    await backend.send("q", [SendEntry("a")])
    (first,) = await backend.receive("q")
    assert await backend.change_visibility("q", [VisibilityChange(first.receipt_handle, 0)]) == []
    (second,) = await backend.receive("q")
    await backend.record_failures("q", [FailureNote(first.receipt_handle, "old"), FailureNote("junk", "x")])
    assert (await backend.peek("q"))[0].last_error is None
    await backend.record_failures("q", [FailureNote(second.receipt_handle, "new")])
    assert (await backend.peek("q"))[0].last_error == "new"


async def test_handle_of_a_deleted_newest_message_never_matches_a_later_one(backend: SQLiteBackend) -> None:
    """SQS-RH-1: message keys are never reused, so deleting twice stays a success after new sends."""
    await backend.create_queue(QueueSpec("q"))
    await backend.send("q", [SendEntry("first")])
    (first,) = await backend.receive("q")
    assert await backend.delete("q", [first.receipt_handle]) == []
    await backend.send("q", [SendEntry("second")])
    (second,) = await backend.receive("q")
    assert await backend.delete("q", [first.receipt_handle]) == []  # gone: success, not stale
    assert (await backend.get_queue("q")).counts.in_flight == 1
    assert await backend.delete("q", [second.receipt_handle]) == []


async def test_large_messages_round_trip_everywhere(backend: SQLiteBackend) -> None:
    """Bodies too big to sit in the message row live apart; every path keeps them whole, and
    nothing is left behind once they are deleted."""
    big = "ü" * 150_000
    attrs = {"blob": MessageAttributeValue("Binary", binary_value=os.urandom(5000))}
    await backend.create_queue(QueueSpec("dlq"))
    await backend.create_queue(QueueSpec("q", redrive_policy=RedrivePolicy("dlq", 1)))
    await backend.create_queue(QueueSpec("f.fifo", content_based_deduplication=True))
    await backend.send("q", [SendEntry(big, message_attributes=attrs), SendEntry("small")])
    await backend.send("f.fifo", [SendEntry(big, message_group_id="g", message_attributes=attrs)])
    assert {p.body for p in await backend.peek("q")} == {big, "small"}
    got = await backend.receive("q", 10)
    assert {m.body for m in got} == {big, "small"}
    assert next(m for m in got if m.body == big).message_attributes == attrs
    await backend.change_visibility("q", [VisibilityChange(m.receipt_handle, 0) for m in got])
    assert await backend.receive("q", 10) == []  # both moved to the DLQ (ESM-DLQ-2)
    dead = await backend.peek("dlq")
    assert {p.body for p in dead} == {big, "small"}
    assert (await backend.redrive("dlq")).moved == 2
    back = await backend.receive("q", 10)
    assert {m.body for m in back} == {big, "small"}
    assert next(m for m in back if m.body == big).message_attributes == attrs
    assert await backend.delete("q", [m.receipt_handle for m in back]) == []
    (fifo,) = await backend.receive("f.fifo")
    assert (fifo.body, fifo.message_attributes) == (big, attrs)
    await backend.purge_queue("f.fifo")
    assert (
        await backend._call(lambda store: store.conn.execute("SELECT count(*) FROM bodies").fetchone()[0])
        == 0
    )


# == decisions documented on the backend ========================================================


async def test_deleting_a_dead_letter_queue_keeps_messages_deliverable(backend: SQLiteBackend) -> None:
    """ESM-DLQ-2 with the DLQ gone: the message is not lost, it keeps being delivered."""
    await backend.create_queue(QueueSpec("dlq"))
    await backend.create_queue(QueueSpec("q", redrive_policy=RedrivePolicy("dlq", 1)))
    await backend.send("q", [SendEntry("poison")])
    await backend.delete_queue("dlq")
    for expected in (1, 2, 3):
        (message,) = await backend.receive("q")
        assert message.receive_count == expected
        await backend.change_visibility("q", [VisibilityChange(message.receipt_handle, 0)])
    await backend.create_queue(QueueSpec("dlq"))  # back again: the next receive moves it
    assert await backend.receive("q") == []
    assert (await backend.get_queue("dlq")).counts.visible == 1


async def test_redrive_leaves_messages_it_cannot_move(backend: SQLiteBackend) -> None:
    """ESM-DLQ-6: no source queue any more, or in flight in the DLQ: stays, counted as failed."""
    await backend.create_queue(QueueSpec("dlq", visibility_timeout=600))
    for source in ("a", "b"):
        await backend.create_queue(QueueSpec(source, redrive_policy=RedrivePolicy("dlq", 1)))
        await backend.send(source, [SendEntry(f"from-{source}")])
        (message,) = await backend.receive(source)
        await backend.change_visibility(source, [VisibilityChange(message.receipt_handle, 0)])
        assert await backend.receive(source) == []  # moved to the DLQ
    await backend.send("dlq", [SendEntry("sent-directly")])  # no DeadLetterQueueSourceArn
    await backend.delete_queue("b")
    result = await backend.redrive("dlq")
    assert (result.moved, result.failed) == (1, 2)
    assert [m.body for m in await backend.receive("a")] == ["from-a"]
    assert sorted(p.body for p in await backend.peek("dlq")) == ["from-b", "sent-directly"]


async def test_one_receive_can_take_thousands(backend: SQLiteBackend) -> None:
    """SQS-R-1 (qworker: no cap of 10): one call returns every visible message it is asked for."""
    await backend.create_queue(QueueSpec("q"))
    for start in range(0, 3000, 1000):
        await backend.send("q", [SendEntry(f"m{start + i}") for i in range(1000)])
    got = await backend.receive("q", max_messages=5000)
    assert len(got) == 3000 and len({m.message_id for m in got}) == 3000
    assert await backend.delete("q", [m.receipt_handle for m in got]) == []
    assert (await backend.get_queue("q")).counts.in_flight == 0


async def test_fifo_dead_letter_restarts_retention_and_takes_the_message_id(tmp_path: Path) -> None:
    """ESM-DLQ-4: in a FIFO DLQ retention counts from the move, and the message id becomes the
    deduplication id (SQS developer guide on FIFO dead-letter queues)."""
    clock = OffsetClock()
    async with SQLiteBackend.from_url(file_url(tmp_path), clock=clock) as backend:
        await backend.create_queue(QueueSpec("dlq.fifo", message_retention_period=120))
        await backend.create_queue(QueueSpec("q.fifo", redrive_policy=RedrivePolicy("dlq.fifo", 1)))
        sent = await backend.send(
            "q.fifo", [SendEntry("x", message_group_id="g", message_deduplication_id="d")]
        )
        clock.advance(100)
        (message,) = await backend.receive("q.fifo")
        await backend.change_visibility("q.fifo", [VisibilityChange(message.receipt_handle, 0)])
        assert await backend.receive("q.fifo") == []
        clock.advance(30)  # 130 s after the send, 30 s after the move: still kept
        (dead,) = await backend.receive("dlq.fifo")
        assert dead.message_id == sent.successful[0].message_id
        assert dead.attributes["MessageDeduplicationId"] == dead.message_id
        assert dead.attributes["SentTimestamp"] == message.attributes["SentTimestamp"]
        assert int(dead.attributes["SequenceNumber"]) >= 1


# == several connections, several processes ====================================================


async def test_long_poll_wakes_on_a_send_through_another_connection(tmp_path: Path) -> None:
    """SQS-R-1: a send by another backend object (its own connection) wakes a waiting receive."""
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as receiver, SQLiteBackend.from_url(url) as sender:
        await receiver.create_queue(QueueSpec("q"))
        waiting = asyncio.create_task(receiver.receive("q", wait_seconds=20))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await sender.send("q", [SendEntry("hello")])
        got = await asyncio.wait_for(waiting, 10)
        assert [m.body for m in got] == ["hello"]


async def test_fifo_group_lock_holds_across_connections(tmp_path: Path) -> None:
    """SQS-F-2, ESM-FIFO-3: the group lock lives in the database, so it holds across processes."""
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as one, SQLiteBackend.from_url(url) as two:
        await one.create_queue(QueueSpec("q.fifo", content_based_deduplication=True))
        entries = [SendEntry(f"{group}{i}", message_group_id=group) for i in range(3) for group in "AB"]
        await one.send("q.fifo", entries)
        first = await one.receive("q.fifo", max_messages=2)
        assert [m.body for m in first] == ["A0", "A1"]
        second = await two.receive("q.fifo", max_messages=10)
        assert [m.body for m in second] == ["B0", "B1", "B2"]
        assert await two.receive("q.fifo", max_messages=10) == []
        assert await one.delete("q.fifo", [m.receipt_handle for m in first]) == []
        assert [m.body for m in await two.receive("q.fifo", max_messages=10)] == ["A2"]


async def test_long_poll_wakes_on_a_send_from_another_process(tmp_path: Path) -> None:
    """SQS-R-1 across processes: the receive returns the message within its wait."""
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec("q"))
        waiting = asyncio.create_task(backend.receive("q", wait_seconds=20))
        await asyncio.sleep(0.05)
        sender = run_python(
            """
            import asyncio, sys
            from qworker.backend import SendEntry
            from qworker_sqlite import SQLiteBackend

            async def main():
                async with SQLiteBackend.from_url(sys.argv[1]) as backend:
                    await backend.send("q", [SendEntry("from another process")])

            asyncio.run(main())
            """,
            url,
        )
        got = await asyncio.wait_for(waiting, 25)
        _, errors = sender.communicate(timeout=10)
        assert sender.returncode == 0, errors
        assert [m.body for m in got] == ["from another process"]


_PEER = """
import asyncio, json, sys
from qworker.backend import SendEntry
from qworker_sqlite import SQLiteBackend

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

async def main():
    async with SQLiteBackend.from_url(url) as backend:
        received = []

        async def produce():
            for start in range(0, count, 7):
                entries = [SendEntry(f"{name}-{i}") for i in range(start, min(start + 7, count))]
                result = await backend.send("shared", entries)
                assert not result.failed, result.failed

        async def consume():
            idle_since = None
            while True:
                got = await backend.receive("shared", max_messages=5, wait_seconds=0.2)
                if got:
                    idle_since = None
                    received.extend(m.body for m in got)
                    failed = await backend.delete("shared", [m.receipt_handle for m in got])
                    assert not failed, failed
                    continue
                counts = (await backend.get_queue("shared")).counts
                if counts.visible + counts.in_flight + counts.delayed == 0 and producer.done():
                    idle_since = idle_since or asyncio.get_running_loop().time()
                    if asyncio.get_running_loop().time() - idle_since > 0.5:
                        return

        producer = asyncio.create_task(produce())
        await asyncio.gather(producer, consume())
        print(json.dumps(received))

asyncio.run(main())
"""


async def test_two_processes_share_a_queue_without_loss_or_duplicates(tmp_path: Path) -> None:
    """SQS-V-1 across processes: every message delivered once within its visibility timeout."""
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec("shared", visibility_timeout=600))
    count = 1000
    peers = [run_python(_PEER, url, name, str(count)) for name in ("p1", "p2")]
    received: list[str] = []
    for peer in peers:
        out, errors = await asyncio.to_thread(peer.communicate, timeout=50)
        assert peer.returncode == 0, errors
        received.extend(json.loads(out))
    expected = {f"{name}-{i}" for name in ("p1", "p2") for i in range(count)}
    assert len(received) == len(expected), "a message was lost or delivered twice"
    assert set(received) == expected


_KILLED_SENDER = """
import asyncio, sys
from qworker.backend import SendEntry
from qworker_sqlite import SQLiteBackend

async def main():
    async with SQLiteBackend.from_url(sys.argv[1]) as backend:
        i = 0
        while True:
            result = await backend.send("q", [SendEntry(f"m{i}-{j}") for j in range(3)])
            for sent in result.successful:
                print(sent.message_id, flush=True)
            i += 1

asyncio.run(main())
"""


async def test_sigkill_during_sends_keeps_every_acknowledged_send(tmp_path: Path) -> None:
    """A process killed with SIGKILL mid-send leaves a consistent database with every send it was
    told had succeeded (synchronous=normal survives a killed process)."""
    url = file_url(tmp_path)
    async with SQLiteBackend.from_url(url) as backend:
        await backend.create_queue(QueueSpec("q"))
    sender = run_python(_KILLED_SENDER, url)
    assert sender.stdout is not None
    acknowledged: list[str] = []
    while len(acknowledged) < 600:
        line = await asyncio.to_thread(sender.stdout.readline)
        assert line, sender.stderr.read() if sender.stderr else "the sender died"
        acknowledged.append(line.strip())
    sender.send_signal(signal.SIGKILL)
    await asyncio.to_thread(sender.communicate, timeout=10)  # reap it, close the pipes
    assert sender.returncode == -signal.SIGKILL
    conn = sqlite3.connect(tmp_path / "q.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    async with SQLiteBackend.from_url(url) as backend:
        stored = {m.message_id for m in await backend.peek("q", 1_000_000)}
        assert set(acknowledged) <= stored
        assert (await backend.get_queue("q")).counts.visible == len(stored)


# == the event loop never waits on SQLite =======================================================


async def test_busy_database_does_not_block_the_event_loop(tmp_path: Path) -> None:
    """A writer waiting for another process's lock waits on its thread; past the busy timeout
    the call fails with BackendUnavailable and the next one works."""
    async with SQLiteBackend.from_url(file_url(tmp_path, query="busy_timeout_ms=300")) as backend:
        await backend.create_queue(QueueSpec("q"))
        other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            with pytest.raises(BackendUnavailable, match="locked"):
                await backend.send("q", [SendEntry("blocked")])
        finally:
            task.cancel()
            other.execute("ROLLBACK")
            other.close()
        assert ticks >= 5, "the event loop stood still while SQLite waited for the lock"
        assert not (await backend.send("q", [SendEntry("fine")])).failed


async def test_clock_drives_retention_and_delays(tmp_path: Path) -> None:
    """SQS-L-3, SQS-L-2: the injected clock is the only time the backend reads for them."""
    clock = OffsetClock()
    async with SQLiteBackend.from_url(file_url(tmp_path), clock=clock) as backend:
        await backend.create_queue(QueueSpec("q", message_retention_period=60))
        await backend.send("q", [SendEntry("late", delay_seconds=900), SendEntry("old")])
        clock.advance(59)
        assert [m.body for m in await backend.receive("q", 10)] == ["old"]
        clock.advance(2)  # past the 60 s retention: both are gone, the still-delayed one too
        counts = (await backend.get_queue("q")).counts
        assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)


@pytest.mark.parametrize("queue", ["q", "q.fifo"])
async def test_mass_expiry_is_swept_in_bounded_transactions(tmp_path: Path, queue: str) -> None:
    """Issue 13 defect 6, SQS-L-3: when many messages pass their retention at once, a receive
    deletes them in transactions of at most ``expire_batch`` rows (each commit lets other
    processes' writers in), never delivers an expired message, and leaves none behind. The sweep
    used to be one unbounded DELETE inside the receive's write transaction."""
    clock = OffsetClock()
    fifo = queue.endswith(".fifo")
    async with SQLiteBackend.from_url(file_url(tmp_path), clock=clock) as backend:
        await backend.create_queue(QueueSpec(queue, message_retention_period=60))
        for start in range(0, 350, 10):
            entries = [
                SendEntry(
                    f"old-{n}",
                    message_group_id=f"g{n % 7}" if fifo else None,
                    message_deduplication_id=f"d{n}" if fifo else None,
                )
                for n in range(start, start + 10)
            ]
            assert not (await backend.send(queue, entries)).failed
        clock.advance(61)
        fresh = SendEntry(
            "fresh",
            message_group_id="g1" if fifo else None,
            message_deduplication_id="fresh" if fifo else None,
        )
        assert not (await backend.send(queue, [fresh])).failed
        statements: list[str] = []

        def trace(store: Any) -> None:
            store.expire_batch = 100
            store.conn.set_trace_callback(statements.append)

        await backend._call(trace)
        assert [m.body for m in await backend.receive(queue, 10, wait_seconds=0)] == ["fresh"]
        await backend._call(lambda store: store.conn.set_trace_callback(None))
        sweeps = [s for s in statements if s.startswith("DELETE FROM messages WHERE seq IN")]
        commits = [s for s in statements if s == "COMMIT"]
        assert len(sweeps) >= 4 and len(commits) >= 4, (len(sweeps), len(commits))
        counts = (await backend.get_queue(queue)).counts
        assert (counts.visible, counts.in_flight, counts.delayed) == (0, 1, 0)


async def test_message_ids_are_random_version_4_uuids(backend: SQLiteBackend) -> None:
    ids = {new_message_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
    await backend.create_queue(QueueSpec("ids"))
    sent = await backend.send("ids", [SendEntry("a"), SendEntry("b")])
    received = await backend.receive("ids", max_messages=10, wait_seconds=0)
    assert {r.message_id for r in sent.successful} == {m.message_id for m in received}
    assert all(uuid.UUID(m.message_id).version == 4 for m in received)

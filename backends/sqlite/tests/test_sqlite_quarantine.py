"""What only the SQLite quarantine has to get right (RELIABILITY T16): every column, the schema
migration, large bodies, FIFO rows no group leads to, and the rolled-back first attempt.

The rules every backend shares are in the conformance suite; the worker-level reproduction of
issue #13 defect 4 is tests/runtime/test_quarantine.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy, SendEntry
from qworker.testing.conformance import OffsetClock
from qworker_sqlite import SQLiteBackend
from qworker_sqlite import schema as sqlite_schema
from qworker_sqlite.store import Store


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    async with SQLiteBackend.from_url(f"sqlite:///{tmp_path}/q.db") as backend:
        yield backend


async def sql(backend: SQLiteBackend, statement: str, *params: Any) -> list[tuple]:
    """Run one statement on the backend's own connection (its worker thread), in a transaction."""

    def run(store: Store) -> list[tuple]:
        with store.write() as conn:
            conn.text_factory = bytes
            try:
                return conn.execute(statement, params).fetchall()
            finally:
                conn.text_factory = str

    return await backend._call(run)


ATTRS = {"k": MessageAttributeValue("String", "v")}


async def send(backend: SQLiteBackend, queue: str, *bodies: str, group: str | None = None) -> list[str]:
    fifo = queue.endswith(".fifo")
    result = await backend.send(
        queue,
        [
            SendEntry(body, message_attributes=ATTRS, message_group_id=(group or "g") if fifo else None)
            for body in bodies
        ],
    )
    assert not result.failed
    return [r.message_id for r in result.successful]


# every column a receive decodes, damaged in the ways SQLite lets it be: (SET clause, reason)
DAMAGE = [
    ("message_id = CAST(x'ff' AS TEXT)", "not-utf8:message_id"),
    ("md5_body = x'42'", "bad-type:md5_body"),  # (an integer would be stored as text: TEXT affinity)
    ("md5_attrs = x'00'", "bad-type:md5_attrs"),
    ("sent_ms = 'yesterday'", "bad-type:sent_ms"),
    ("first_receive_ms = x'01'", "bad-type:first_receive_ms"),
    ("group_id = x'07'", "bad-type:group_id"),
    ("dedup_id = CAST(x'c0' AS TEXT)", "not-utf8:dedup_id"),
    ("sequence_number = 'one'", "bad-type:sequence_number"),
    ("dlq_source = x'aa'", "bad-type:dlq_source"),
    ("trace_header = CAST(x'80' AS TEXT)", "not-utf8:trace_header"),
    ("attrs = 'text, not msgpack'", "bad-type:attrs"),
    ("attrs = x'93a1610102'", "bad-attributes:shape"),
    ("attrs = x'81a16b92a6537472696e67a176'", "bad-attributes:shape"),
    ("attrs = x'81a16b93a6537472696e67c0c0'", "bad-attributes:shape"),
    ("attrs = x'81a16b93a6537472696e67a176'", "bad-attributes:ValueError"),  # cut short
    ("attrs = x'c0c0'", "bad-attributes:ExtraData"),
    ("body = x'626f6479'", "bad-type:body"),
]


@pytest.mark.parametrize(("damage", "reason"), DAMAGE, ids=[reason for _, reason in DAMAGE])
async def test_each_column_is_checked(backend: SQLiteBackend, damage: str, reason: str) -> None:
    """T16: whatever column of a row is damaged (bad type, not UTF-8, attributes that are not
    our msgpack), the receive sets that row aside with a reason naming it and delivers the rest."""
    await backend.create_queue(QueueSpec("q", visibility_timeout=600))
    ids = await send(backend, "q", "a", "victim", "c")
    assert await sql(backend, f"UPDATE messages SET {damage} WHERE message_id = ?", ids[1]) == []
    got = await backend.receive("q", max_messages=10, wait_seconds=0)
    assert [m.body for m in got] == ["a", "c"]
    assert all(m.receive_count == 1 and m.message_attributes == ATTRS for m in got)
    (entry,) = await backend.quarantined("q")
    assert entry.reason == reason
    assert entry.message_id == (ids[1] if "message_id" not in damage else entry.message_id)
    counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight, counts.quarantined) == (0, 2, 1)


async def test_a_row_without_readable_id_is_named_by_its_seq(backend: SQLiteBackend) -> None:
    """T16: a message whose stored id is not text is listed as #SEQ, and restored by that name
    (body only: with a new message id, since its own cannot be read)."""
    await backend.create_queue(QueueSpec("q"))
    (victim,) = await send(backend, "q", "nameless")
    ((seq,),) = await sql(
        backend, "UPDATE messages SET message_id = x'ff00' WHERE message_id = ? RETURNING seq", victim
    )
    assert await backend.receive("q", wait_seconds=0) == []
    (entry,) = await backend.quarantined("q")
    assert (entry.message_id, entry.reason) == (f"#{seq}", "bad-type:message_id")
    (refused,) = await backend.restore_quarantined("q", [f"#{seq}"])
    assert refused.code == "MessageUndecodable"
    assert await backend.restore_quarantined("q", [f"#{seq}"], body_only=True) == []
    (back,) = await backend.receive("q", wait_seconds=0)
    assert back.body == "nameless" and back.message_id not in (victim, f"#{seq}")


async def test_the_rolled_back_first_attempt_counts_no_receive(backend: SQLiteBackend) -> None:
    """T16: text that is not UTF-8 fails sqlite3's fetch inside the receive's transaction; it is
    rolled back and run again leniently, so the good messages are received once, not twice."""
    await backend.create_queue(QueueSpec("q", visibility_timeout=600))
    ids = await send(backend, "q", *(f"m{i}" for i in range(5)))
    await sql(backend, "UPDATE messages SET body = CAST(x'ff' AS TEXT) WHERE message_id = ?", ids[0])
    got = await backend.receive("q", max_messages=10, wait_seconds=0)
    assert [(m.body, m.receive_count) for m in got] == [(f"m{i}", 1) for i in range(1, 5)]
    assert [(e.message_id, e.reason) for e in await backend.quarantined("q")] == [(ids[0], "not-utf8:body")]


async def test_large_bodies_are_checked_and_kept_whole(backend: SQLiteBackend) -> None:
    """T16: a large message (body and attributes in the bodies table) is checked too; its
    quarantine row holds the body and attributes joined in, and a restore writes a large body
    back to the bodies table. A large message whose bodies row is gone is 'missing-body'."""
    await backend.create_queue(QueueSpec("q", visibility_timeout=600))
    big = "x" * 5000
    ids = await send(backend, "q", big, big + "y", "small")
    await sql(
        backend,
        "UPDATE bodies SET attrs = x'c1' WHERE seq = (SELECT seq FROM messages WHERE message_id = ?)",
        ids[0],
    )
    await sql(
        backend, "DELETE FROM bodies WHERE seq = (SELECT seq FROM messages WHERE message_id = ?)", ids[1]
    )
    got = await backend.receive("q", max_messages=10, wait_seconds=0)
    assert [m.body for m in got] == ["small"]
    reasons = {e.message_id: (e.reason, e.raw_size) for e in await backend.quarantined("q")}
    assert reasons == {ids[0]: ("bad-attributes:FormatError", 5000), ids[1]: ("missing-body", 0)}
    assert await sql(backend, "SELECT count(*) FROM bodies") == [(0,)]  # moved along with the row
    assert await backend.restore_quarantined("q", [ids[0]], body_only=True) == []
    assert await sql(backend, "SELECT count(*) FROM bodies") == [(1,)]
    (back,) = await backend.receive("q", wait_seconds=0)
    assert (back.message_id, back.body, back.message_attributes) == (ids[0], big, {})
    (refused,) = await backend.restore_quarantined("q", [ids[1]], body_only=True)
    assert refused.code == "MessageUndecodable" and "missing-body" in refused.message


async def test_restore_of_a_repaired_row_keeps_everything(backend: SQLiteBackend) -> None:
    """T16: once the quarantined data decodes (an operator repaired the row, or a newer qworker
    reads it), a plain restore puts the whole message back: attributes, trace header, group."""
    await backend.create_queue(QueueSpec("q"))
    result = await backend.send(
        "q", [SendEntry("whole", message_attributes=ATTRS, trace_header="Root=1-abc")]
    )
    victim = result.successful[0].message_id
    ((good,),) = await sql(backend, "SELECT attrs FROM messages WHERE message_id = ?", victim)
    await sql(backend, "UPDATE messages SET attrs = x'c1' WHERE message_id = ?", victim)
    assert await backend.receive("q", wait_seconds=0) == []
    await sql(backend, "UPDATE quarantine SET attrs = ? WHERE message_id = ?", good, victim)
    assert await backend.restore_quarantined("q", [victim]) == []
    (back,) = await backend.receive("q", wait_seconds=0)
    assert (back.message_id, back.body, back.message_attributes) == (victim, "whole", ATTRS)
    assert back.attributes["AWSTraceHeader"] == "Root=1-abc"
    assert back.md5_of_message_attributes == result.successful[0].md5_of_message_attributes


async def test_restore_needs_only_what_it_puts_back(backend: SQLiteBackend) -> None:
    """T16: a row set aside for a value a restore makes anew (here SentTimestamp) is restored
    whole by a plain restore: body, attributes and id decode."""
    await backend.create_queue(QueueSpec("q"))
    (victim,) = await send(backend, "q", "timeless")
    await sql(backend, "UPDATE messages SET sent_ms = 'long ago' WHERE message_id = ?", victim)
    assert await backend.receive("q", wait_seconds=0) == []
    assert [e.reason for e in await backend.quarantined("q")] == ["bad-type:sent_ms"]
    assert await backend.restore_quarantined("q", [victim]) == []
    (back,) = await backend.receive("q", wait_seconds=0)
    assert (back.message_id, back.body, back.message_attributes) == (victim, "timeless", ATTRS)
    assert back.attributes["SentTimestamp"].isdigit()


async def test_fifo_rows_no_group_leads_to_are_swept(backend: SQLiteBackend) -> None:
    """T16 + SQS-F-2: a FIFO row whose group_id was changed belongs to no group a receive reads;
    once the queue has no group left it is set aside ('orphan:group_id'), so the queue empties
    (a worker with --until-empty would otherwise wait for ever)."""
    await backend.create_queue(QueueSpec("q.fifo", content_based_deduplication=True))
    ids = await send(backend, "q.fifo", "a1", "a2", group="A")
    await send(backend, "q.fifo", "b1", group="B")
    await sql(backend, "UPDATE messages SET group_id = 'Z' WHERE message_id = ?", ids[1])
    got = await backend.receive("q.fifo", max_messages=10, wait_seconds=0)
    assert sorted(m.body for m in got) == ["a1", "b1"]
    assert await backend.delete("q.fifo", [m.receipt_handle for m in got]) == []
    assert (await backend.get_queue("q.fifo")).counts.visible == 1  # the orphan, unreachable
    assert await backend.receive("q.fifo", max_messages=10, wait_seconds=0) == []
    assert [(e.message_id, e.reason) for e in await backend.quarantined("q.fifo")] == [
        (ids[1], "orphan:group_id")
    ]
    assert (await backend.get_queue("q.fifo")).counts.visible == 0
    assert await backend.restore_quarantined("q.fifo", [ids[1]]) == []  # 'Z' decodes: back in group Z
    (back,) = await backend.receive("q.fifo", wait_seconds=0)
    assert (back.body, back.message_group_id) == ("a2", "Z")


async def test_a_damaged_receive_count_does_not_break_the_dead_letter_check(backend: SQLiteBackend) -> None:
    """T16 + ESM-DLQ-2: the poison check compares counts in SQL, so a count that is not a
    number neither raises nor moves the message; the receive sets it right (count + 1)."""
    await backend.create_queue(QueueSpec("dlq"))
    await backend.create_queue(QueueSpec("q", redrive_policy=RedrivePolicy("dlq", 2)))
    ids = await send(backend, "q", "counted")
    await sql(backend, "UPDATE messages SET receive_count = 'many' WHERE message_id = ?", ids[0])
    (got,) = await backend.receive("q", wait_seconds=0)
    assert got.body == "counted"


async def test_peek_reads_damaged_rows_without_failing(backend: SQLiteBackend) -> None:
    """T16: peek reads text that is not UTF-8 and damaged types, shows those rows as corrupt
    (with the reason) and changes nothing."""
    await backend.create_queue(QueueSpec("q"))
    ids = await send(backend, "q", "p1", "p2", "p3")
    await sql(backend, "UPDATE messages SET body = CAST(x'ff' AS TEXT) WHERE message_id = ?", ids[0])
    await sql(
        backend, "UPDATE messages SET visible_at = 'soon', sent_ms = 'then' WHERE message_id = ?", ids[1]
    )
    peeked = await backend.peek("q", 10)
    assert [p.message_id for p in peeked] == ids
    assert "not-utf8:body" in (peeked[0].last_error or "") and peeked[0].attributes["SentTimestamp"]
    assert "bad-type:sent_ms" in (peeked[1].last_error or "") and peeked[1].attributes == {}
    assert peeked[2].body == "p3" and peeked[2].last_error is None
    assert await backend.quarantined("q") == []


async def test_a_file_from_before_the_quarantine_is_migrated_when_opened(tmp_path: Path) -> None:
    """T16: a database written before the quarantine (schema version 2: migration step 3 adds
    it) gets the quarantine table when a newer qworker opens it; its queues and messages stay as
    they were."""
    path = tmp_path / "old.db"
    async with SQLiteBackend.from_url(f"sqlite:///{path}") as backend:
        await backend.create_queue(QueueSpec("q"))
        await send(backend, "q", "before")
    conn = sqlite3.connect(path)  # back to version 2: no quarantine table (nor what came after)
    conn.execute("DROP TABLE quarantine")
    conn.execute("DROP TABLE clock_anchor")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    async with SQLiteBackend.from_url(f"sqlite:///{path}") as backend:
        assert await sql(backend, "PRAGMA user_version") == [(sqlite_schema.SCHEMA_VERSION,)]
        ids = await send(backend, "q", "after")
        await sql(backend, "UPDATE messages SET attrs = x'c1' WHERE message_id = ?", ids[0])
        assert [m.body for m in await backend.receive("q", max_messages=10, wait_seconds=0)] == ["before"]
        assert (await backend.get_queue("q")).counts.quarantined == 1


async def test_the_move_is_fenced_on_the_token(tmp_path: Path) -> None:
    """T16: setting a row aside after the receive's commit only moves it while it still holds
    that receive's token: a row received again meanwhile (its lease ended) is left alone."""
    from qworker_sqlite import quarantine
    from qworker_sqlite.rows import Refused

    clock = OffsetClock()
    async with SQLiteBackend.from_url(f"sqlite:///{tmp_path}/q.db", clock=clock) as backend:
        await backend.create_queue(QueueSpec("q", visibility_timeout=1))
        (victim,) = await send(backend, "q", "raced")
        ((seq, token),) = await sql(
            backend,
            "UPDATE messages SET token = 5, visible_at = 0 WHERE message_id = ? RETURNING seq, token",
            victim,
        )
        stale = Refused(seq, token - 1, victim, "test")

        def move(store: Store) -> list[tuple[str, str]]:
            return quarantine.set_aside(store, store.queue("q"), [stale]).moved

        assert await backend._call(move) == []
        assert await backend.quarantined("q") == []
        current = Refused(seq, token, victim, "test")
        assert await backend._call(
            lambda store: quarantine.set_aside(store, store.queue("q"), [current]).moved
        ) == [(victim, "test")]

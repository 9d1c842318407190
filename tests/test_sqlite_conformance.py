"""The SQLite backend against the shared conformance suite (every SPEC statement it names).

Runs on a database file (WAL, the default set-up) and on an in-memory database (``sqlite://``,
no WAL: a different journal, same semantics), both with the test's movable clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qworker.backend import Backend
from qworker.backends.sqlite import SQLiteBackend
from qworker.backends.sqlite.store import Store
from qworker.testing.conformance import BackendConformance, OffsetClock

#: how the quarantine tests damage a row (T16): garbage where the msgpack'd attributes are, or
#: bytes that are not UTF-8 in the body (inline, or in ``bodies`` for a large message)
_CORRUPT = {
    "attributes": (
        "UPDATE messages SET attrs = x'c1c1' WHERE seq = ?1 AND body IS NOT NULL",
        "UPDATE bodies SET attrs = x'c1c1' WHERE seq = ?1",
    ),
    "body": (
        "UPDATE messages SET body = CAST(x'ff61' AS TEXT) WHERE seq = ?1 AND body IS NOT NULL",
        "UPDATE bodies SET body = CAST(x'ff61' AS TEXT) WHERE seq = ?1",
    ),
}


async def corrupt_row(backend: Backend, queue: str, message_id: str, part: str) -> None:
    """Damage message ``message_id`` of ``queue`` in the database, as a bad disk or a foreign
    program could (the conformance suite's ``corrupt_message`` hook)."""
    assert isinstance(backend, SQLiteBackend)

    def damage(store: Store) -> None:
        with store.write() as conn:
            (seq,) = conn.execute(
                "SELECT seq FROM messages WHERE message_id = ? "
                "AND queue_id = (SELECT id FROM queues WHERE name = ?)",
                (message_id, queue),
            ).fetchone()
            changed = sum(conn.execute(sql, (seq,)).rowcount for sql in _CORRUPT[part])
            assert changed == 1

    await backend._call(damage)


class TestSQLiteConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_row)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
        async with SQLiteBackend.from_url(f"sqlite:///{tmp_path}/conformance.db", clock=clock) as backend:
            yield backend


class TestSQLiteInMemoryConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_row)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[SQLiteBackend]:
        async with SQLiteBackend.from_url("sqlite://", clock=clock) as backend:
            yield backend

"""The SQLite backend against the shared conformance suite (every SPEC statement it names).

Runs on a database file (WAL, the default set-up) and on an in-memory database (``sqlite://``,
no WAL: a different journal, same semantics), both with the test's movable clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qworker.testing.conformance import BackendConformance, OffsetClock
from qworker_sqlite import SQLiteBackend
from tests.corruption import corrupt_row


class TestSQLiteConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_row)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock, tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
        async with SQLiteBackend.from_url(f"sqlite:///{tmp_path}/conformance.db", clock=clock) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, clock: OffsetClock, tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
        """A second connection to the same file (another process would open it the same way)."""
        async with SQLiteBackend.from_url(f"sqlite:///{tmp_path}/conformance.db", clock=clock) as other:
            yield other


class TestSQLiteInMemoryConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(corrupt_row)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[SQLiteBackend]:
        async with SQLiteBackend.from_url("sqlite://", clock=clock) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, backend: SQLiteBackend) -> SQLiteBackend:
        """An in-memory database has one client: the same object (nothing else can share it)."""
        return backend

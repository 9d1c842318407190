"""jsondir:// passes qworker's backend conformance suite: SQS semantics, checked the same way as
qworker's own backends. ``other_backend`` is a second client of the same directory, as another
process would open it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qworker.testing.conformance import BackendConformance, OffsetClock

from qworker_jsondir import JsonDirBackend


class TestJsonDirConformance(BackendConformance):
    timing_unit = 0.3  # a visibility timeout short enough for quick tests, long enough to be reliable
    controls_clock = True  # the backend takes the suite's clock: 5-minute windows pass in no time

    @pytest.fixture
    async def backend(self, clock: OffsetClock, tmp_path: Path) -> AsyncIterator[JsonDirBackend]:
        async with JsonDirBackend(tmp_path / "queues", clock=clock) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, clock: OffsetClock, tmp_path: Path) -> AsyncIterator[JsonDirBackend]:
        async with JsonDirBackend(tmp_path / "queues", clock=clock) as other:
            yield other

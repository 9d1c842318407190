"""The reference model passes the conformance suite (it is the suite's own sanity check)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qworker.backend import Backend
from qworker.memory import MemoryBackend
from qworker.testing.conformance import BackendConformance, OffsetClock


class TestModelConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[Backend]:
        async with MemoryBackend(clock=clock) as backend:
            yield backend

    async def corrupt_message(self, backend: Backend, queue: str, message_id: str, part: str) -> None:
        assert isinstance(backend, MemoryBackend)
        backend.corrupt(queue, message_id, part)

    @pytest.fixture
    async def other_backend(self, backend: Backend, clock: OffsetClock) -> AsyncIterator[Backend]:
        assert isinstance(backend, MemoryBackend)
        async with MemoryBackend(clock=clock, share_with=backend) as other:
            yield other

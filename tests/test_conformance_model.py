"""The reference model passes the conformance suite (it is the suite's own sanity check)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qworker.backend import Backend
from qworker.testing.conformance import BackendConformance, OffsetClock
from qworker.testing.model import ModelBackend


class TestModelConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[Backend]:
        async with ModelBackend(clock=clock) as backend:
            yield backend

    async def corrupt_message(self, backend: Backend, queue: str, message_id: str, part: str) -> None:
        assert isinstance(backend, ModelBackend)
        backend.corrupt(queue, message_id, part)

    @pytest.fixture
    async def other_backend(self, backend: Backend, clock: OffsetClock) -> AsyncIterator[Backend]:
        assert isinstance(backend, ModelBackend)
        async with ModelBackend(clock=clock, share_with=backend) as other:
            yield other

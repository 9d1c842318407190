"""``memory://``, the reference model, passes the conformance suite (the suite's own sanity check):
as a private store on a clock the tests move, and opened by URL like any backend, where the
second client is a second ``open_backend`` of the same ``memory://NAME``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from qworker.backend import Backend
from qworker.memory import MemoryBackend, drop_store
from qworker.registry import open_backend
from qworker.testing.conformance import BackendConformance, OffsetClock


async def _corrupt(backend: Backend, queue: str, message_id: str, part: str) -> None:
    assert isinstance(backend, MemoryBackend)
    backend.corrupt(queue, message_id, part)


class TestModelConformance(BackendConformance):
    timing_unit = 0.3
    controls_clock = True
    corrupt_message = staticmethod(_corrupt)  # type: ignore[assignment]

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[Backend]:
        async with MemoryBackend(clock=clock) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, backend: Backend, clock: OffsetClock) -> AsyncIterator[Backend]:
        assert isinstance(backend, MemoryBackend)
        async with MemoryBackend(clock=clock, share_with=backend) as other:
            yield other


class TestMemoryURLConformance(BackendConformance):
    timing_unit = 0.3
    corrupt_message = staticmethod(_corrupt)  # type: ignore[assignment]

    @pytest.fixture
    def url(self) -> Iterator[str]:
        name = f"conformance-{uuid.uuid4().hex[:12]}"
        yield f"memory://{name}"
        drop_store(name)

    @pytest.fixture
    async def backend(self, url: str) -> AsyncIterator[Backend]:
        async with open_backend(url) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, url: str) -> AsyncIterator[Backend]:
        async with open_backend(url) as other:
            yield other

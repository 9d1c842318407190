"""The suite's base: its clock, fixtures and helpers (``SuiteBase``), shared by every part."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from qworker.backend import (
    Backend,
    MessageAttributeValue,
    QueueSpec,
    ReceivedMessage,
    RedrivePolicy,
    SendEntry,
    VisibilityChange,
)


class OffsetClock:
    """Wall-clock time plus an offset that tests move forward (``clock.advance(301)``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def unique_name(prefix: str = "cf", fifo: bool = False) -> str:
    """A queue name no other test uses."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return f"{name}.fifo" if fifo else name


def bodies(messages: list[ReceivedMessage]) -> list[str]:
    return [m.body for m in messages]


def comparable(spec: QueueSpec) -> QueueSpec:
    """``spec`` with its JSON-valued extra attributes (``Policy``, ``RedriveAllowPolicy``) in one
    canonical form: SQS may return a policy re-serialized (other spacing, same JSON)."""
    extra = tuple(
        (name, json.dumps(json.loads(value), sort_keys=True) if name in _JSON_ATTRIBUTES and value else value)
        for name, value in spec.extra_attributes
    )
    return dataclasses.replace(spec, extra_attributes=extra)


_JSON_ATTRIBUTES = ("Policy", "RedriveAllowPolicy")


class SuiteBase:
    """The fixtures and helpers every part of :class:`BackendConformance` uses."""

    #: a short visibility timeout, in seconds, used by timing tests; long enough to stay reliable
    #: on a loaded machine. SQS-like backends with whole-second timeouts use 1.
    timing_unit: ClassVar[float] = 0.5
    #: True when the ``backend`` fixture builds the backend on the ``clock`` fixture.
    controls_clock: ClassVar[bool] = False

    @pytest.fixture
    def clock(self) -> OffsetClock:
        return OffsetClock()

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[Backend]:
        raise NotImplementedError("subclasses of BackendConformance override the `backend` fixture")
        yield  # pragma: no cover  # noqa: PT022

    @pytest.fixture
    async def other_backend(self, backend: Backend, clock: OffsetClock) -> AsyncIterator[Backend]:
        """A second client of ``backend``'s store, made as another process would make it (for a
        URL: a second ``open_backend(url)``), on the same ``clock``. The tests of changes that
        every client must see at once (SetQueueAttributes, tags, purges, records) act through one
        and check through the other. Subclasses override it; by default those tests are skipped.
        """
        pytest.skip("the subclass does not provide `other_backend`, a second client of the same store")
        yield backend  # pragma: no cover  # noqa: PT022

    # -- helpers --------------------------------------------------------------------------------

    async def make_queue(self, backend: Backend, *, fifo: bool = False, **attributes: object) -> str:
        name = unique_name(fifo=fifo)
        await backend.create_queue(QueueSpec(name, **attributes))  # type: ignore[arg-type]
        return name

    async def make_queue_with_dlq(
        self, backend: Backend, max_receive_count: int, *, fifo: bool = False, **attributes: object
    ) -> tuple[str, str]:
        dlq = await self.make_queue(backend, fifo=fifo)
        source = await self.make_queue(
            backend, fifo=fifo, redrive_policy=RedrivePolicy(dlq, max_receive_count), **attributes
        )
        return source, dlq

    async def send_bodies(
        self, backend: Backend, queue: str, *texts: str, group: str | None = None
    ) -> list[str]:
        fifo = queue.endswith(".fifo")
        entries = [
            SendEntry(
                text,
                message_group_id=group if group is not None else ("g" if fifo else None),
                message_deduplication_id=uuid.uuid4().hex if fifo else None,
            )
            for text in texts
        ]
        result = await backend.send(queue, entries)
        assert not result.failed, result.failed
        return [r.message_id for r in result.successful]

    async def receive_all(
        self, backend: Backend, queue: str, expected: int, *, wait: float | None = None, **kwargs: object
    ) -> list[ReceivedMessage]:
        """Receive until ``expected`` messages arrived or a receive comes back empty."""
        got: list[ReceivedMessage] = []
        while len(got) < expected:
            batch = await backend.receive(
                queue,
                max_messages=expected - len(got),
                wait_seconds=wait if wait is not None else 2.0,
                **kwargs,  # type: ignore[arg-type]
            )
            if not batch:
                break
            got.extend(batch)
        return got

    async def release(self, backend: Backend, queue: str, messages: list[ReceivedMessage]) -> None:
        """Make received messages visible again now (SQS-V-3)."""
        failed = await backend.change_visibility(
            queue, [VisibilityChange(m.receipt_handle, 0) for m in messages]
        )
        assert not failed, failed

    async def receive_counts(self, backend: Backend, queue: str, times: int) -> list[int]:
        """Receive the queue's one message ``times`` times, releasing it after each receive; the
        receive counts it came with."""
        counts = []
        for _ in range(times):
            (message,) = await backend.receive(queue, wait_seconds=2)
            counts.append(message.receive_count)
            await self.release(backend, queue, [message])
        return counts

    def need_clock(self) -> None:
        if not self.controls_clock:
            pytest.skip("needs a backend whose clock the test can move (controls_clock = False)")

    async def corrupt_message(self, backend: Backend, queue: str, message_id: str, part: str) -> None:
        """Damage a stored message so the backend cannot decode it (the quarantine tests' hook).

        ``part`` is ``"attributes"`` (its message attributes become undecodable; the body stays
        readable) or ``"body"`` (its body becomes unreadable). The message must be visible (sent,
        not received) when this is called. Subclasses for backends with
        ``capabilities.quarantine`` override it; by default the quarantine tests are skipped.
        """
        pytest.skip("the test class has no corrupt_message hook for this backend")

    def need_quarantine(self, backend: Backend) -> None:
        if not backend.capabilities.quarantine:
            pytest.skip("this backend has no quarantine (capabilities.quarantine is False)")

    async def send_with_attributes(
        self, backend: Backend, queue: str, *texts: str, group: str = "g"
    ) -> list[str]:
        fifo = queue.endswith(".fifo")
        entries = [
            SendEntry(
                text,
                message_attributes={"tag": MessageAttributeValue("String", f"t-{text}")},
                message_group_id=group if fifo else None,
                message_deduplication_id=uuid.uuid4().hex if fifo else None,
            )
            for text in texts
        ]
        result = await backend.send(queue, entries)
        assert not result.failed, result.failed
        return [r.message_id for r in result.successful]

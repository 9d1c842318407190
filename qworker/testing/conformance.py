"""The backend conformance suite: one pytest class every backend subclasses.

A backend proves it gives SQS's semantics by passing this suite::

    from qworker.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        timing_unit = 0.5          # a visibility timeout short enough for quick tests
        controls_clock = True      # the backend fixture builds the backend on `clock`

        @pytest.fixture
        async def backend(self, clock):
            async with MyBackend(..., clock=clock) as backend:
                yield backend

        @pytest.fixture
        async def other_backend(self, clock):   # a second client of the same store
            async with MyBackend(..., clock=clock) as other:
                yield other

Every test names the SPEC statements it checks. Changes every client must see at once
(SetQueueAttributes, tags, PurgeQueue's 60 s, the record store) are made through ``backend``
and checked through ``other_backend``; without that fixture those tests are skipped.
Tests use real timing with short visibility timeouts (``timing_unit`` seconds); the few that
need minutes to pass (the 5-minute deduplication window, retention, the 12-hour visibility cap)
move the ``clock`` instead and are skipped, with the reason, for backends whose clock cannot be
moved (``controls_clock = False``).
Each test makes its own uniquely named queues, so a backend may share one server between tests.

The quarantine tests (RELIABILITY T16) run on backends with ``capabilities.quarantine`` and need
the test class to damage a stored message the way that backend's data can be damaged: override
:meth:`BackendConformance.corrupt_message` (SQLite: update a column; Redis: overwrite the
envelope; ``memory://``: ``MemoryBackend.corrupt``). Without the hook they are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from qworker import digest
from qworker.backend import (
    QUARANTINE_NOT_FOUND,
    QUARANTINE_UNDECODABLE,
    Backend,
    FailureNote,
    MessageAttributeValue,
    QueueCounts,
    QueueSpec,
    ReceivedMessage,
    RedrivePolicy,
    SendEntry,
    VisibilityChange,
)
from qworker.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    UnsupportedOperation,
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


class BackendConformance:
    """SQS semantics every qworker backend must have. Subclass it and override ``backend``."""

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

    # == queues =================================================================================

    async def test_create_queue_has_sqs_defaults(self, backend: Backend) -> None:
        """SQS-V-1, SQS-L-1, SQS-L-2, SQS-L-3: default attributes are SQS's."""
        name = await self.make_queue(backend)
        info = await backend.get_queue(name)
        attrs = info.attributes()
        assert attrs["VisibilityTimeout"] == "30"
        assert attrs["MessageRetentionPeriod"] == "345600"
        assert attrs["DelaySeconds"] == "0"
        assert attrs["MaximumMessageSize"] == "1048576"
        assert attrs["ApproximateNumberOfMessages"] == "0"
        assert attrs["QueueArn"] == backend.queue_arn(name)
        assert attrs["QueueArn"].startswith("arn:aws:sqs:") and attrs["QueueArn"].endswith(":" + name)
        assert "FifoQueue" not in attrs
        assert info.created_timestamp > 1_600_000_000

    async def test_create_queue_keeps_every_attribute(self, backend: Backend) -> None:
        """SQS-F-1, SQS-F-3, ESM-DLQ-1: attributes given at creation are stored and reported."""
        dlq = await self.make_queue(backend, fifo=True)
        name = unique_name(fifo=True)
        spec = QueueSpec(
            name,
            visibility_timeout=45,
            message_retention_period=600,
            delay_seconds=2,
            maximum_message_size=2048,
            redrive_policy=RedrivePolicy(dlq, 7),
            content_based_deduplication=True,
        )
        await backend.create_queue(spec)
        info = await backend.get_queue(name)
        assert info.spec == spec
        attrs = info.attributes()
        assert attrs["FifoQueue"] == "true"
        assert attrs["ContentBasedDeduplication"] == "true"
        assert '"maxReceiveCount": 7' in attrs["RedrivePolicy"]
        assert backend.queue_arn(dlq) in attrs["RedrivePolicy"]

    async def test_create_queue_is_idempotent_with_same_attributes(self, backend: Backend) -> None:
        """SQS CreateQueue: same name + same attributes returns the existing queue."""
        name = await self.make_queue(backend, visibility_timeout=12)
        await self.send_bodies(backend, name, "kept")
        await backend.create_queue(QueueSpec(name, visibility_timeout=12))
        assert (await backend.get_queue(name)).counts.visible == 1

    async def test_create_queue_with_different_attributes_fails(self, backend: Backend) -> None:
        """SQS CreateQueue: same name + different attributes is QueueAlreadyExists."""
        name = await self.make_queue(backend, visibility_timeout=12)
        with pytest.raises(QueueNameExists):
            await backend.create_queue(QueueSpec(name, visibility_timeout=13))

    @pytest.mark.parametrize(
        "spec_kwargs",
        [
            {"visibility_timeout": 43_201},
            {"visibility_timeout": -1},
            {"message_retention_period": 59},
            {"message_retention_period": 1_209_601},
            {"delay_seconds": 901},
            {"maximum_message_size": 1_048_577},
            {"maximum_message_size": 1_023},
        ],
        ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
    )
    async def test_create_queue_rejects_values_outside_sqs_ranges(
        self, backend: Backend, spec_kwargs: dict
    ) -> None:
        """SQS-V-1, SQS-L-1..3: out-of-range attributes are InvalidParameterValue."""
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(QueueSpec(unique_name(), **spec_kwargs))

    @pytest.mark.parametrize("name", ["", "has space", "x" * 81, "bad.name", "a.fifo.fifo", ".fifo"])
    async def test_create_queue_rejects_bad_names(self, backend: Backend, name: str) -> None:
        """SQS-F-1: names are 1-80 of [A-Za-z0-9_-], FIFO names end in .fifo."""
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(QueueSpec(name))

    async def test_redrive_policy_is_validated(self, backend: Backend) -> None:
        """ESM-DLQ-3: maxReceiveCount 1..1000; the DLQ must exist and be of the same type."""
        dlq = await self.make_queue(backend)
        fifo_dlq = await self.make_queue(backend, fifo=True)
        for count in (0, 1001):
            with pytest.raises(InvalidParameterValue):
                await backend.create_queue(QueueSpec(unique_name(), redrive_policy=RedrivePolicy(dlq, count)))
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(
                QueueSpec(unique_name(), redrive_policy=RedrivePolicy(unique_name(), 3))
            )
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(QueueSpec(unique_name(), redrive_policy=RedrivePolicy(fifo_dlq, 3)))
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(
                QueueSpec(unique_name(fifo=True), redrive_policy=RedrivePolicy(dlq, 3))
            )
        for count in (1, 1000):
            await backend.create_queue(QueueSpec(unique_name(), redrive_policy=RedrivePolicy(dlq, count)))

    async def test_list_queues_by_prefix(self, backend: Backend) -> None:
        """SQS ListQueues: names starting with the prefix, sorted."""
        prefix = f"ls-{uuid.uuid4().hex[:8]}"
        for suffix in ("b", "a", "c"):
            await backend.create_queue(QueueSpec(f"{prefix}-{suffix}"))
        assert await backend.list_queues(prefix) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
        assert f"{prefix}-a" in await backend.list_queues()

    async def test_unknown_queue_is_an_error_everywhere(self, backend: Backend) -> None:
        """SQS: NonExistentQueue for every operation on a missing queue."""
        missing = unique_name()
        with pytest.raises(QueueDoesNotExist):
            await backend.get_queue(missing)
        with pytest.raises(QueueDoesNotExist):
            await backend.send(missing, [SendEntry("x")])
        with pytest.raises(QueueDoesNotExist):
            await backend.receive(missing, wait_seconds=0)
        with pytest.raises(QueueDoesNotExist):
            await backend.purge_queue(missing)
        with pytest.raises(QueueDoesNotExist):
            await backend.delete_queue(missing)

    async def test_purge_removes_every_message(self, backend: Backend) -> None:
        """SQS PurgeQueue: visible, in-flight and delayed messages all go."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a", "b", "c")
        await backend.send(name, [SendEntry("later", delay_seconds=60)])
        assert len(await backend.receive(name, max_messages=1, wait_seconds=0)) == 1
        await backend.purge_queue(name)
        counts = (await backend.get_queue(name)).counts
        assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []

    async def test_delete_queue(self, backend: Backend) -> None:
        """SQS DeleteQueue: the queue and its messages are gone."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        await backend.delete_queue(name)
        assert name not in await backend.list_queues(name)
        with pytest.raises(QueueDoesNotExist):
            await backend.get_queue(name)

    async def test_counts_visible_in_flight_delayed(self, backend: Backend) -> None:
        """SQS GetQueueAttributes: ApproximateNumberOfMessages / ...NotVisible / ...Delayed."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a", "b", "c")
        await backend.send(name, [SendEntry("d", delay_seconds=60), SendEntry("e", delay_seconds=60)])
        assert len(await backend.receive(name, max_messages=1, wait_seconds=0)) == 1
        counts = (await backend.get_queue(name)).counts
        assert (counts.visible, counts.in_flight, counts.delayed) == (2, 1, 2)

    # == SetQueueAttributes =====================================================================
    #
    # Each test changes a queue through ``backend`` and uses it through ``other_backend``, a second
    # client of the same store that has already used the queue (so it could hold a stale copy of
    # the attributes, as another worker process would).

    async def test_set_queue_attributes_replaces_every_attribute(
        self, backend: Backend, other_backend: Backend, clock: OffsetClock
    ) -> None:
        """SQS SetQueueAttributes: every attribute is replaced, GetQueueAttributes from any client
        shows the new values, LastModifiedTimestamp changes."""
        dlq = await self.make_queue(backend)
        name = await self.make_queue(backend)
        before = await other_backend.get_queue(name)
        if self.controls_clock:
            clock.advance(5)
        spec = QueueSpec(
            name,
            visibility_timeout=45,
            message_retention_period=600,
            delay_seconds=2,
            maximum_message_size=2048,
            receive_wait_time_seconds=1,
            redrive_policy=RedrivePolicy(dlq, 5),
            extra_attributes=(("SqsManagedSseEnabled", "false"),),
        )
        await backend.set_queue_attributes(name, spec)
        info = await other_backend.get_queue(name)
        assert info.spec == spec
        attrs = info.attributes()
        assert (attrs["VisibilityTimeout"], attrs["DelaySeconds"], attrs["MaximumMessageSize"]) == (
            "45",
            "2",
            "2048",
        )
        assert attrs["SqsManagedSseEnabled"] == "false"
        assert backend.queue_arn(dlq) in attrs["RedrivePolicy"]
        assert info.created_timestamp == before.created_timestamp
        if self.controls_clock:
            assert info.last_modified_timestamp >= before.last_modified_timestamp + 4
        else:
            assert info.last_modified_timestamp >= before.last_modified_timestamp
        # a CreateQueue with the new attributes is now the idempotent one
        await other_backend.create_queue(spec)
        with pytest.raises(QueueNameExists):
            await other_backend.create_queue(QueueSpec(name))

    async def test_set_visibility_timeout_applies_to_the_next_receive(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS-V-1 via SetQueueAttributes: the next receive, by any client, hides the message for the
        new VisibilityTimeout; a message already in flight keeps the timeout it was received with."""
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(other_backend, name, "held", "next")
        (held,) = await other_backend.receive(name, wait_seconds=2)
        await backend.set_queue_attributes(name, QueueSpec(name, visibility_timeout=self.timing_unit))
        (message,) = await other_backend.receive(name, wait_seconds=2)
        assert message.body != held.body
        assert await other_backend.receive(name, wait_seconds=0) == []
        (again,) = await other_backend.receive(name, wait_seconds=self.timing_unit * 6)
        assert (again.body, again.receive_count) == (message.body, 2)  # the held one stays hidden

    async def test_set_maximum_message_size_applies_to_the_next_send(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS-L-1 via SetQueueAttributes: every client's next send is checked against the new
        MaximumMessageSize, smaller or larger."""
        name = await self.make_queue(backend)
        assert not (await other_backend.send(name, [SendEntry("a" * 2000)])).failed
        await backend.set_queue_attributes(name, QueueSpec(name, maximum_message_size=1024))
        result = await other_backend.send(name, [SendEntry("b" * 1500), SendEntry("c" * 1000)])
        assert [f.code for f in result.failed] == ["InvalidParameterValue"]
        assert len(result.successful) == 1
        await backend.set_queue_attributes(name, QueueSpec(name, maximum_message_size=4096))
        assert not (await other_backend.send(name, [SendEntry("d" * 3000)])).failed

    async def test_set_delay_seconds_applies_to_messages_sent_afterwards(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS-L-2 via SetQueueAttributes: DelaySeconds delays the messages sent after the change
        (by any client), not those already in the queue."""
        name = await self.make_queue(backend)
        await self.send_bodies(other_backend, name, "before")
        await backend.set_queue_attributes(name, QueueSpec(name, delay_seconds=1))
        await self.send_bodies(other_backend, name, "after")
        counts = (await other_backend.get_queue(name)).counts
        assert (counts.visible, counts.delayed) == (1, 1)
        (first,) = await other_backend.receive(name, max_messages=10, wait_seconds=0)
        assert first.body == "before"
        started = time.monotonic()
        (later,) = await other_backend.receive(name, max_messages=10, wait_seconds=5)
        assert later.body == "after"
        assert time.monotonic() - started >= 0.3

    async def test_set_receive_wait_time_applies_to_the_next_receive(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS-R-1 via SetQueueAttributes: a receive that gives no wait long-polls for the new
        ReceiveMessageWaitTimeSeconds, whichever client receives."""
        name = await self.make_queue(backend)
        started = time.monotonic()
        assert await other_backend.receive(name) == []
        assert time.monotonic() - started < 0.9
        await backend.set_queue_attributes(name, QueueSpec(name, receive_wait_time_seconds=1))
        started = time.monotonic()
        assert await other_backend.receive(name) == []
        assert time.monotonic() - started >= 0.9

    async def test_set_redrive_policy_applies_to_the_next_receive(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """ESM-DLQ-1/2 via SetQueueAttributes: a RedrivePolicy added later moves the messages that
        already reached maxReceiveCount on the next receive; removed, nothing moves any more."""
        dlq = await self.make_queue(backend)
        name = await self.make_queue(backend)
        await self.send_bodies(other_backend, name, "poison")
        for _ in range(2):
            (message,) = await other_backend.receive(name, wait_seconds=2)
            await self.release(other_backend, name, [message])
        await backend.set_queue_attributes(name, QueueSpec(name, redrive_policy=RedrivePolicy(dlq, 2)))
        assert await other_backend.receive(name, max_messages=10, wait_seconds=0) == []
        (dead,) = await other_backend.receive(dlq, wait_seconds=2)
        assert (dead.message_id, dead.body) == (message.message_id, "poison")
        await backend.set_queue_attributes(name, QueueSpec(name))
        await self.send_bodies(other_backend, name, "kept")
        counts = []
        for _ in range(3):
            (message,) = await other_backend.receive(name, wait_seconds=2)
            counts.append(message.receive_count)
            await self.release(other_backend, name, [message])
        assert counts == [1, 2, 3]

    async def test_fifo_set_content_based_deduplication_applies_to_the_next_send(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS-F-3 via SetQueueAttributes: turning ContentBasedDeduplication on lets every client
        send without a deduplication id at once; turning it off requires one again."""
        name = await self.make_queue(backend, fifo=True)
        result = await other_backend.send(name, [SendEntry("x", message_group_id="g")])
        assert [f.code for f in result.failed] == ["InvalidParameterValue"]
        await backend.set_queue_attributes(name, QueueSpec(name, content_based_deduplication=True))
        result = await other_backend.send(name, [SendEntry("x", message_group_id="g")])
        assert not result.failed
        await backend.set_queue_attributes(name, QueueSpec(name))
        result = await other_backend.send(name, [SendEntry("y", message_group_id="g")])
        assert [f.code for f in result.failed] == ["InvalidParameterValue"]

    async def test_set_retention_applies_to_messages_already_queued(
        self, backend: Backend, other_backend: Backend, clock: OffsetClock
    ) -> None:
        """SQS-L-3 via SetQueueAttributes: a message expires at its enqueue time plus the queue's
        current MessageRetentionPeriod, so a shorter period also expires messages already queued
        (SQS's SetQueueAttributes documentation) and a longer one keeps them longer."""
        self.need_clock()
        name = await self.make_queue(backend, message_retention_period=600)
        await self.send_bodies(other_backend, name, "old")
        clock.advance(120)
        await self.send_bodies(other_backend, name, "young")
        await backend.set_queue_attributes(name, QueueSpec(name, message_retention_period=100))
        assert bodies(await other_backend.receive(name, max_messages=10, wait_seconds=0)) == ["young"]
        await backend.set_queue_attributes(name, QueueSpec(name, message_retention_period=1000))
        await self.send_bodies(other_backend, name, "new")
        clock.advance(500)  # "young" is 500 s old, "new" 500 s
        got = await self.receive_all(other_backend, name, 2, wait=0, visibility_timeout=0)
        assert sorted(bodies(got)) == ["new", "young"]
        await backend.set_queue_attributes(name, QueueSpec(name, message_retention_period=400))
        assert (await other_backend.get_queue(name)).counts.visible == 0

    async def test_set_queue_attributes_refuses_what_sqs_refuses(self, backend: Backend) -> None:
        """SQS SetQueueAttributes errors: a missing queue, values out of range
        (InvalidAttributeValue), a change of queue type, ContentBasedDeduplication on a standard
        queue, a RedrivePolicy to a missing DLQ, to one of the other type or to the queue itself,
        an unknown attribute. Nothing changes."""
        dlq = await self.make_queue(backend)
        fifo_dlq = await self.make_queue(backend, fifo=True)
        name = await self.make_queue(backend, visibility_timeout=12)
        missing = unique_name()
        with pytest.raises(QueueDoesNotExist):
            await backend.set_queue_attributes(missing, QueueSpec(missing))
        refused: list[QueueSpec] = [
            QueueSpec(name, visibility_timeout=43_201),
            QueueSpec(name, message_retention_period=59),
            QueueSpec(name, delay_seconds=901),
            QueueSpec(name, maximum_message_size=1023),
            QueueSpec(name, receive_wait_time_seconds=21),
            QueueSpec(name + ".fifo"),
            QueueSpec(name, content_based_deduplication=True),
            QueueSpec(name, redrive_policy=RedrivePolicy(unique_name(), 3)),
            QueueSpec(name, redrive_policy=RedrivePolicy(fifo_dlq, 3)),
            QueueSpec(name, redrive_policy=RedrivePolicy(name, 3)),
            QueueSpec(name, redrive_policy=RedrivePolicy(dlq, 0)),
            QueueSpec(name, extra_attributes=(("KmsDataKeyReusePeriodSeconds", "59"),)),
        ]
        for spec in refused:
            with pytest.raises(InvalidParameterValue):
                await backend.set_queue_attributes(name, spec)
        for spec in refused[:5]:
            with pytest.raises(InvalidAttributeValue):
                await backend.set_queue_attributes(name, spec)
        with pytest.raises(InvalidAttributeName):
            await backend.set_queue_attributes(name, QueueSpec(name, extra_attributes=(("Colour", "red"),)))
        assert (await backend.get_queue(name)).spec == QueueSpec(name, visibility_timeout=12)

    #: a queue policy in SQS's compact form (the extra attribute tests)
    POLICY = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
            ],
        },
        separators=(",", ":"),
    )

    async def test_extra_attributes_are_kept_as_given(self, backend: Backend) -> None:
        """SQS CreateQueue/SetQueueAttributes: Policy, RedriveAllowPolicy, KmsMasterKeyId,
        KmsDataKeyReusePeriodSeconds and SqsManagedSseEnabled are stored and returned as given
        (qworker does not act on them); SetQueueAttributes replaces them all."""
        name = unique_name()
        allow = json.dumps({"redrivePermission": "denyAll"})
        spec = QueueSpec(
            name,
            extra_attributes=(
                ("Policy", self.POLICY),
                ("RedriveAllowPolicy", allow),
                ("SqsManagedSseEnabled", "false"),
            ),
        )
        await backend.create_queue(spec)
        info = await backend.get_queue(name)
        assert comparable(info.spec) == comparable(spec)
        assert json.loads(info.attributes()["RedriveAllowPolicy"]) == json.loads(allow)
        await backend.create_queue(spec)  # the same attributes: idempotent
        kms = (
            ("KmsMasterKeyId", "alias/aws/sqs"),
            ("KmsDataKeyReusePeriodSeconds", "900"),
            ("SqsManagedSseEnabled", "false"),
        )
        changed = QueueSpec(name, extra_attributes=kms)
        await backend.set_queue_attributes(name, changed)
        info = await backend.get_queue(name)
        assert info.spec == changed
        attrs = info.attributes()
        assert attrs["KmsDataKeyReusePeriodSeconds"] == "900"
        assert "RedriveAllowPolicy" not in attrs and "Policy" not in attrs

    # == tags ===================================================================================

    async def test_create_queue_with_tags_then_list_them(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS CreateQueue ``tags`` and ListQueueTags: the tags are stored with the queue."""
        name = unique_name()
        await backend.create_queue(QueueSpec(name), tags={"team": "payments", "env": ""})
        assert await other_backend.queue_tags(name) == {"team": "payments", "env": ""}
        other = await self.make_queue(backend)
        assert await backend.queue_tags(other) == {}

    async def test_create_queue_again_does_not_change_its_tags(self, backend: Backend) -> None:
        """SQS CreateQueue on an existing queue (same attributes) leaves its tags as they are."""
        name = unique_name()
        await backend.create_queue(QueueSpec(name), tags={"team": "a"})
        await backend.create_queue(QueueSpec(name), tags={"team": "b", "new": "x"})
        assert await backend.queue_tags(name) == {"team": "a"}

    async def test_tag_queue_adds_and_overwrites_untag_queue_removes(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        """SQS TagQueue (a key that exists is overwritten) and UntagQueue (a missing key is
        ignored); every client sees the result."""
        name = unique_name()
        await backend.create_queue(QueueSpec(name), tags={"a": "1", "b": "2"})
        await other_backend.tag_queue(name, {"b": "20", "c": "3"})
        assert await backend.queue_tags(name) == {"a": "1", "b": "20", "c": "3"}
        await backend.untag_queue(name, ["a", "not-there"])
        assert await other_backend.queue_tags(name) == {"b": "20", "c": "3"}

    async def test_tag_limits(self, backend: Backend) -> None:
        """SQS TagQueue limits: at most 50 tags per queue, keys of 1-128 characters, values of 0-256;
        a call over a limit changes nothing."""
        name = unique_name()
        await backend.create_queue(QueueSpec(name), tags={f"k{i}": str(i) for i in range(49)})
        await backend.tag_queue(name, {"x" * 128: "v" * 256})
        assert len(await backend.queue_tags(name)) == 50
        await backend.tag_queue(name, {"k0": "overwrite is not a new tag"})
        for bad in ({"one-too-many": "x"}, {"x" * 129: "v"}, {"": "v"}, {"k": "v" * 257}):
            with pytest.raises(InvalidParameterValue):
                await backend.tag_queue(name, bad)
        tags = await backend.queue_tags(name)
        assert len(tags) == 50 and tags["k0"] == "overwrite is not a new tag"
        with pytest.raises(InvalidParameterValue):
            await backend.create_queue(QueueSpec(unique_name()), tags={f"k{i}": "" for i in range(51)})

    async def test_tags_of_a_missing_queue(self, backend: Backend) -> None:
        """SQS: NonExistentQueue for TagQueue, UntagQueue and ListQueueTags on a missing queue; a
        queue deleted and created again has no tags."""
        missing = unique_name()
        with pytest.raises(QueueDoesNotExist):
            await backend.tag_queue(missing, {"a": "b"})
        with pytest.raises(QueueDoesNotExist):
            await backend.untag_queue(missing, ["a"])
        with pytest.raises(QueueDoesNotExist):
            await backend.queue_tags(missing)
        with pytest.raises(QueueDoesNotExist):
            await backend.set_queue_attributes(missing, QueueSpec(missing))

    async def test_deleted_queue_takes_its_tags_along(self, backend: Backend) -> None:
        """SQS DeleteQueue: a queue created again under the same name starts without tags."""
        if not self.controls_clock:
            pytest.skip("SQS: a deleted queue's name can be used again only after 60 s")
        name = unique_name()
        await backend.create_queue(QueueSpec(name), tags={"a": "b"})
        await backend.delete_queue(name)
        await backend.create_queue(QueueSpec(name))
        assert await backend.queue_tags(name) == {}

    # == PurgeQueue =============================================================================

    async def test_purge_again_within_60_seconds_is_purge_queue_in_progress(
        self, backend: Backend, other_backend: Backend, clock: OffsetClock
    ) -> None:
        """SQS PurgeQueue: one purge per queue every 60 s, for every client; a refused purge
        deletes nothing (AWS.SimpleQueueService.PurgeQueueInProgress)."""
        name = await self.make_queue(backend)
        await backend.purge_queue(name)
        await self.send_bodies(backend, name, "after the purge")
        with pytest.raises(PurgeQueueInProgress) as refused:
            await other_backend.purge_queue(name)
        assert str(refused.value) == f"Only one PurgeQueue operation on {name} is allowed every 60 seconds."
        assert refused.value.code == "AWS.SimpleQueueService.PurgeQueueInProgress"
        other = await self.make_queue(backend)
        await other_backend.purge_queue(other)  # per queue
        if not self.controls_clock:
            return
        clock.advance(61)
        assert (await backend.get_queue(name)).counts.visible == 1
        await other_backend.purge_queue(name)
        assert (await backend.get_queue(name)).counts.visible == 0

    # == shared records (capabilities.records) ==================================================

    def need_records(self, backend: Backend) -> str:
        """A kind no other test uses; skips on backends without the record store."""
        if not backend.capabilities.records:
            pytest.skip("this backend has no shared record store")
        return f"kind-{uuid.uuid4().hex[:12]}"

    async def test_records_put_get_list_delete(self, backend: Backend) -> None:
        """qworker records: a value is stored, replaced, listed by kind, deleted."""
        kind = self.need_records(backend)
        value = {"state": "RUNNING", "moved": 3, "nested": {"list": [1, "two", None], "ok": True}}
        await backend.put_record(kind, "task-1", value, None)
        await backend.put_record(kind, "task-2", {"state": "DONE"}, 3600)
        await backend.put_record(f"{kind}-other", "task-1", {"other": 1}, None)
        assert await backend.get_record(kind, "task-1") == value
        assert await backend.list_records(kind) == {"task-1": value, "task-2": {"state": "DONE"}}
        await backend.put_record(kind, "task-1", {"state": "CANCELLED"}, None)
        assert await backend.get_record(kind, "task-1") == {"state": "CANCELLED"}
        assert await backend.delete_record(kind, "task-1") is True
        assert await backend.delete_record(kind, "task-1") is False
        assert await backend.get_record(kind, "task-1") is None
        assert await backend.list_records(kind) == {"task-2": {"state": "DONE"}}
        assert await backend.list_records(f"{kind}-never") == {}
        assert await backend.get_record(f"{kind}-other", "task-1") == {"other": 1}

    async def test_records_are_shared_by_every_client(self, backend: Backend, other_backend: Backend) -> None:
        """qworker records: what one client (process) puts, another reads, replaces and deletes."""
        kind = self.need_records(backend)
        await backend.put_record(kind, "worker-a", {"beat": 1}, 60)
        assert await other_backend.get_record(kind, "worker-a") == {"beat": 1}
        await other_backend.put_record(kind, "worker-a", {"beat": 2}, 60)
        assert await backend.list_records(kind) == {"worker-a": {"beat": 2}}
        assert await other_backend.delete_record(kind, "worker-a") is True
        assert await backend.get_record(kind, "worker-a") is None

    async def test_records_expire_after_their_ttl(self, backend: Backend, clock: OffsetClock) -> None:
        """qworker records: a record is gone (get, list, delete) once its time to live has passed;
        a record put again gets the new ttl; one without a ttl stays."""
        kind = self.need_records(backend)
        short = 10.0 if self.controls_clock else 0.5
        await backend.put_record(kind, "brief", {"n": 1}, short)
        await backend.put_record(kind, "renewed", {"n": 2}, short)
        await backend.put_record(kind, "forever", {"n": 3}, None)
        await backend.put_record(kind, "renewed", {"n": 2}, short * 100)
        if self.controls_clock:
            clock.advance(short + 1)
        else:
            await asyncio.sleep(short + 0.3)
        assert await backend.get_record(kind, "brief") is None
        assert await backend.list_records(kind) == {"renewed": {"n": 2}, "forever": {"n": 3}}
        assert await backend.delete_record(kind, "brief") is False

    async def test_records_refuse_what_they_cannot_store(self, backend: Backend) -> None:
        """qworker records: bad kinds, keys, values and ttls are InvalidParameterValue."""
        kind = self.need_records(backend)
        bad: list[tuple[str, str, object, object]] = [
            ("", "k", {}, None),
            ("has space", "k", {}, None),
            ("k" * 65, "k", {}, None),
            (kind, "", {}, None),
            (kind, "k" * 257, {}, None),
            (kind, "k", {"not json": object()}, None),
            (kind, "k", ["not", "a", "mapping"], None),
            (kind, "k", {"big": "x" * 70_000}, None),
            (kind, "k", {}, 0),
            (kind, "k", {}, -1),
        ]
        for args in bad:
            with pytest.raises(InvalidParameterValue):
                await backend.put_record(*args)  # type: ignore[arg-type]
        assert await backend.list_records(kind) == {}

    async def test_records_unsupported_without_the_capability(self, backend: Backend) -> None:
        """qworker records on a backend without ``capabilities.records`` (SQS): UnsupportedOperation."""
        if backend.capabilities.records:
            pytest.skip("this backend has the record store")
        for call in (
            backend.put_record("k", "k", {}, None),
            backend.get_record("k", "k"),
            backend.list_records("k"),
            backend.delete_record("k", "k"),
        ):
            with pytest.raises(UnsupportedOperation):
                await call

    # == send ===================================================================================

    async def test_send_returns_ids_and_sqs_md5s(self, backend: Backend) -> None:
        """EVT-3, EVT-6: md5OfBody and md5OfMessageAttributes as SQS computes them."""
        name = await self.make_queue(backend)
        attrs = {"attribName1": MessageAttributeValue("String", string_value="attribValue 1")}
        result = await backend.send(
            name, [SendEntry("héllo wörld", message_attributes=attrs), SendEntry("plain")]
        )
        assert not result.failed
        first, second = result.successful
        assert (first.id, second.id) == ("0", "1")
        assert first.md5_of_message_body == digest.md5_of_body("héllo wörld")
        assert first.md5_of_message_attributes == "19e27d4e946b072f3f58da80d94fd778"
        assert second.md5_of_message_attributes is None
        assert uuid.UUID(first.message_id) and first.message_id != second.message_id
        got = await self.receive_all(backend, name, 2)
        by_body = {m.body: m for m in got}
        assert by_body["héllo wörld"].message_id == first.message_id
        assert by_body["héllo wörld"].md5_of_body == first.md5_of_message_body
        assert by_body["héllo wörld"].md5_of_message_attributes == "19e27d4e946b072f3f58da80d94fd778"
        assert by_body["héllo wörld"].message_attributes == attrs
        assert by_body["plain"].md5_of_message_attributes is None

    async def test_message_attributes_round_trip(self, backend: Backend) -> None:
        """SQS-L-5, EVT-5: String, Number, Binary and custom-labelled attributes are kept exactly."""
        name = await self.make_queue(backend)
        attrs = {
            "text": MessageAttributeValue("String", string_value="ünïcode ✓"),
            "count": MessageAttributeValue("Number", string_value="-12.50"),
            "blob": MessageAttributeValue("Binary", binary_value=bytes(range(256))),
            "custom_num": MessageAttributeValue("Number.float", string_value="3.14"),
            "custom.json": MessageAttributeValue("String.json", string_value='{"a": 1}'),
            "custom-bin": MessageAttributeValue("Binary.gzip", binary_value=b"\x1f\x8b\x00"),
        }
        result = await backend.send(name, [SendEntry("body", message_attributes=attrs)])
        assert not result.failed
        (message,) = await self.receive_all(backend, name, 1)
        assert message.message_attributes == attrs
        assert message.md5_of_message_attributes == digest.md5_of_message_attributes(attrs)

    async def test_message_attribute_md5_matches_sqs_vectors(self, backend: Backend) -> None:
        """EVT-6: digests agree with SQS's published algorithm on known vectors."""
        name = await self.make_queue(backend)
        attrs = {
            "attribName1": MessageAttributeValue("String", string_value="attribValue 1"),
            "customNumberTypeAttrib": MessageAttributeValue(
                "Number.float", string_value="4563442423554324324264524243.32543234"
            ),
            "binaryAttribute": MessageAttributeValue("Binary", binary_value=b"Hello binary world!"),
        }
        result = await backend.send(name, [SendEntry("x", message_attributes=attrs)])
        assert result.successful[0].md5_of_message_attributes == "c932db14a896c663f83c260297d594ff"

    async def test_bad_entries_fail_alone(self, backend: Backend) -> None:
        """SQS-L-1, SQS-L-2, SQS-L-5: each bad entry fails with SQS's code; the good ones are sent."""
        name = await self.make_queue(backend, maximum_message_size=1024)
        entries = [
            SendEntry("good-1"),
            SendEntry(""),  # empty body
            SendEntry("x" * 1025),  # over the queue's MaximumMessageSize
            SendEntry(
                "x" * 1000, message_attributes={"pad": MessageAttributeValue("String", string_value="y" * 30)}
            ),
            SendEntry("bad \x00 char"),
            SendEntry("bad attr", message_attributes={"AWS.reserved": MessageAttributeValue("String", "v")}),
            SendEntry("bad number", message_attributes={"n": MessageAttributeValue("Number", "twelve")}),
            SendEntry("bad type", message_attributes={"t": MessageAttributeValue("Strung", "v")}),
            SendEntry(
                "too many attrs",
                message_attributes={f"a{i}": MessageAttributeValue("String", "v") for i in range(11)},
            ),
            SendEntry("delay too long", delay_seconds=901),
            SendEntry("dedup on standard", message_deduplication_id="d1"),
            SendEntry("good-2"),
        ]
        result = await backend.send(name, entries)
        assert [r.id for r in result.successful] == ["0", "11"]
        codes = {f.id: f.code for f in result.failed}
        assert codes == {
            "1": "MissingParameter",
            "2": "InvalidParameterValue",
            "3": "InvalidParameterValue",
            "4": "InvalidMessageContents",
            "5": "InvalidParameterValue",
            "6": "InvalidParameterValue",
            "7": "InvalidParameterValue",
            "8": "InvalidParameterValue",
            "9": "InvalidParameterValue",
            "10": "InvalidParameterValue",
        }
        assert all(f.sender_fault and f.message for f in result.failed)
        assert sorted(bodies(await self.receive_all(backend, name, 2))) == ["good-1", "good-2"]

    async def test_entry_ids_are_echoed_and_must_be_distinct(self, backend: Backend) -> None:
        """SQS SendMessageBatch: results carry the entry Id; duplicate Ids fail the whole call."""
        name = await self.make_queue(backend)
        result = await backend.send(name, [SendEntry("a", id="first"), SendEntry("b", id="second")])
        assert sorted(r.id for r in result.successful) == ["first", "second"]
        with pytest.raises(InvalidParameterValue):
            await backend.send(name, [SendEntry("a", id="same"), SendEntry("b", id="same")])

    async def test_body_at_the_size_limit(self, backend: Backend) -> None:
        """SQS-L-1: a body of exactly MaximumMessageSize bytes is accepted and kept whole."""
        name = await self.make_queue(backend)
        big = "é" * (1_048_576 // 2)  # 2 bytes each in UTF-8
        result = await backend.send(name, [SendEntry(big), SendEntry(big + "x")])
        assert [r.id for r in result.successful] == ["0"]
        (message,) = await self.receive_all(backend, name, 1)
        assert message.body == big

    async def test_sent_batch_is_received_in_order_standard(self, backend: Backend) -> None:
        """SQS-R-1, ESM-B-1: a receive returns up to max_messages; more than 10 in one call works."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, *[f"m{i}" for i in range(25)])
        got = await backend.receive(name, max_messages=25, wait_seconds=0)
        assert 1 <= len(got) <= 25
        got += await self.receive_all(backend, name, 25 - len(got))
        assert sorted(bodies(got)) == sorted(f"m{i}" for i in range(25))
        assert len({m.message_id for m in got}) == 25

    # == receive and visibility =================================================================

    async def test_received_message_attributes(self, backend: Backend) -> None:
        """SQS-R-2, EVT-4: system attributes are strings; count 1 and first-receive time on first receive."""
        name = await self.make_queue(backend)
        before = int(time.time() * 1000) - 5000
        await backend.send(name, [SendEntry("a", trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")])
        (message,) = await self.receive_all(backend, name, 1)
        attrs = message.attributes
        assert all(isinstance(v, str) for v in attrs.values())
        assert attrs["ApproximateReceiveCount"] == "1" and message.receive_count == 1
        sent = int(attrs["SentTimestamp"])
        first = int(attrs["ApproximateFirstReceiveTimestamp"])
        assert before <= sent <= first
        assert attrs["SenderId"]
        assert attrs["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
        assert "SequenceNumber" not in attrs and "MessageGroupId" not in attrs
        assert message.message_attributes == {}

    async def test_visibility_timeout_hides_then_message_reappears(self, backend: Backend) -> None:
        """SQS-V-1, SQS-R-2, ESM-F-2, EVT-8: hidden for the timeout, then back: count 2, a new handle."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        start = time.monotonic()
        (first,) = await backend.receive(name, wait_seconds=0)
        assert await backend.receive(name, wait_seconds=0) == []  # hidden now
        (second,) = await backend.receive(name, wait_seconds=unit * 6)
        elapsed = time.monotonic() - start
        assert elapsed >= unit * 0.95, "the message came back before its visibility timeout"
        assert elapsed < unit * 6, "a long poll did not wake when the message became visible"
        assert second.message_id == first.message_id
        assert second.receive_count == 2
        assert second.receipt_handle != first.receipt_handle
        assert (
            second.attributes["ApproximateFirstReceiveTimestamp"]
            == first.attributes["ApproximateFirstReceiveTimestamp"]
        )
        assert second.attributes["SentTimestamp"] == first.attributes["SentTimestamp"]

    async def test_receive_visibility_timeout_override(self, backend: Backend) -> None:
        """SQS-R-1: a receive's VisibilityTimeout overrides the queue's for that receive only."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a")
        (first,) = await backend.receive(name, wait_seconds=0, visibility_timeout=unit)
        (again,) = await backend.receive(name, wait_seconds=unit * 6)
        assert again.message_id == first.message_id and again.receive_count == 2
        assert await backend.receive(name, wait_seconds=unit * 2) == [], "queue timeout (600 s) applies again"

    async def test_receive_refuses_a_bad_max_messages_and_takes_nothing(self, backend: Backend) -> None:
        """SQS-R-1: MaxNumberOfMessages is a whole number of at least 1; anything else is
        InvalidParameterValue, and the call takes nothing (no message is hidden by it)."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        for bad in (0, -1, True, 1.5, "2"):
            with pytest.raises(InvalidParameterValue, match="MaxNumberOfMessages"):
                await backend.receive(name, max_messages=bad, wait_seconds=0)  # type: ignore[arg-type]
        (message,) = await backend.receive(name, wait_seconds=0)
        assert message.body == "a" and message.receive_count == 1

    async def test_long_poll_returns_as_soon_as_a_message_is_sent(self, backend: Backend) -> None:
        """SQS-R-1: a long poll on an empty queue returns when a message arrives, not at the end."""
        name = await self.make_queue(backend)

        async def send_later() -> None:
            await asyncio.sleep(0.2)
            await self.send_bodies(backend, name, "late")

        sender = asyncio.create_task(send_later())
        start = time.monotonic()
        got = await backend.receive(name, max_messages=10, wait_seconds=10)
        elapsed = time.monotonic() - start
        await sender
        assert bodies(got) == ["late"]
        assert elapsed < 5, f"long poll held {elapsed:.2f}s after a message was available"

    async def test_long_poll_times_out_empty(self, backend: Backend) -> None:
        """SQS-R-1: with nothing to receive, the long poll waits its time and returns nothing."""
        name = await self.make_queue(backend)
        wait = self.timing_unit
        start = time.monotonic()
        assert await backend.receive(name, max_messages=10, wait_seconds=wait) == []
        assert time.monotonic() - start >= wait * 0.9

    async def test_short_poll_returns_immediately(self, backend: Backend) -> None:
        """SQS-R-1: WaitTimeSeconds=0 does not wait."""
        name = await self.make_queue(backend)
        start = time.monotonic()
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        assert time.monotonic() - start < 2

    async def test_queue_default_wait_time(self, backend: Backend) -> None:
        """SQS-R-1: without wait_seconds the queue's ReceiveMessageWaitTimeSeconds applies."""
        name = await self.make_queue(backend, receive_wait_time_seconds=1)
        start = time.monotonic()
        assert await backend.receive(name, max_messages=1) == []
        assert time.monotonic() - start >= 0.9

    async def test_per_message_delay(self, backend: Backend) -> None:
        """SQS-L-2: a delayed message is counted as delayed and not returned before its delay ends."""
        name = await self.make_queue(backend)
        await backend.send(name, [SendEntry("delayed", delay_seconds=1), SendEntry("now")])
        start = time.monotonic()
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=0)) == ["now"]
        assert (await backend.get_queue(name)).counts.delayed == 1
        got = await backend.receive(name, max_messages=10, wait_seconds=5)
        assert bodies(got) == ["delayed"]
        assert time.monotonic() - start >= 0.9

    async def test_queue_delay_applies_by_default(self, backend: Backend) -> None:
        """SQS-L-2: the queue's DelaySeconds applies when the message gives none; 0 overrides it."""
        name = await self.make_queue(backend, delay_seconds=1)
        await backend.send(name, [SendEntry("queue-delay"), SendEntry("no-delay", delay_seconds=0)])
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=0)) == ["no-delay"]
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=5)) == ["queue-delay"]

    async def test_max_messages_is_respected(self, backend: Backend) -> None:
        """SQS-R-1: never more than max_messages."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, *"abcdef")
        got = await backend.receive(name, max_messages=4, wait_seconds=0)
        assert 1 <= len(got) <= 4

    # == delete =================================================================================

    async def test_delete_removes_for_good(self, backend: Backend) -> None:
        """ESM-F-1: a deleted message never comes back."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a", "b")
        got = await self.receive_all(backend, name, 2)
        assert await backend.delete(name, [m.receipt_handle for m in got]) == []
        assert await backend.receive(name, max_messages=10, wait_seconds=unit * 2.5) == []
        counts = (await backend.get_queue(name)).counts
        assert (counts.visible, counts.in_flight, counts.delayed) == (0, 0, 0)

    async def test_stale_receipt_handle_never_deletes(self, backend: Backend) -> None:
        """ESM-F-6, SQS-RH-1: after the message is received again, the old handle deletes nothing."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        (first,) = await backend.receive(name, wait_seconds=0)
        await self.release(backend, name, [first])
        (second,) = await backend.receive(name, wait_seconds=2)
        failed = await backend.delete(name, [first.receipt_handle])
        if backend.capabilities.fenced_receipts:
            assert [(f.id, f.code) for f in failed] == [(first.receipt_handle, "ReceiptHandleIsStale")]
        counts = (await backend.get_queue(name)).counts
        assert counts.in_flight == 1, "a stale receipt handle deleted a message another consumer holds"
        assert await backend.delete(name, [second.receipt_handle]) == []
        assert (await backend.get_queue(name)).counts.in_flight == 0

    async def test_current_handle_deletes_after_visibility_expired(self, backend: Backend) -> None:
        """SQS-RH-1: the latest handle still deletes once the timeout passed, if nobody re-received."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        await asyncio.sleep(unit * 1.5)
        assert await backend.delete(name, [message.receipt_handle]) == []
        assert await backend.receive(name, wait_seconds=0) == []

    async def test_delete_of_a_gone_message_succeeds(self, backend: Backend) -> None:
        """SQS DeleteMessage: deleting twice is not an error."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        assert await backend.delete(name, [message.receipt_handle]) == []
        assert await backend.delete(name, [message.receipt_handle]) == []

    async def test_invalid_receipt_handles_fail_per_entry(self, backend: Backend) -> None:
        """SQS-RH-1: a malformed handle, or another queue's, is ReceiptHandleIsInvalid; others proceed."""
        name = await self.make_queue(backend)
        other = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        await self.send_bodies(backend, other, "b")
        (mine,) = await backend.receive(name, wait_seconds=0)
        (theirs,) = await backend.receive(other, wait_seconds=0)
        garbage = base64.b64encode(b"not a receipt handle").decode()
        failed = await backend.delete(name, ["???", garbage, theirs.receipt_handle, mine.receipt_handle])
        assert sorted((f.id, f.code) for f in failed) == sorted(
            [
                ("???", "ReceiptHandleIsInvalid"),
                (garbage, "ReceiptHandleIsInvalid"),
                (theirs.receipt_handle, "ReceiptHandleIsInvalid"),
            ]
        )
        assert (await backend.get_queue(name)).counts.in_flight == 0
        assert (await backend.get_queue(other)).counts.in_flight == 1

    # == change visibility ======================================================================

    async def test_change_visibility_zero_makes_visible_now(self, backend: Backend) -> None:
        """SQS-V-3: visibility 0 returns the message at once."""
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a")
        (first,) = await backend.receive(name, wait_seconds=0)
        assert await backend.change_visibility(name, [VisibilityChange(first.receipt_handle, 0)]) == []
        (again,) = await backend.receive(name, wait_seconds=0)
        assert again.message_id == first.message_id and again.receive_count == 2

    async def test_change_visibility_extends_from_now(self, backend: Backend) -> None:
        """SQS-V-2: the new timeout counts from the call, and outlives the original timeout."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        assert (
            await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, unit * 4)]) == []
        )
        start = time.monotonic()
        assert await backend.receive(name, wait_seconds=unit * 2) == [], "extension was ignored"
        (again,) = await backend.receive(name, wait_seconds=unit * 8)
        assert time.monotonic() - start >= unit * 3
        assert again.message_id == message.message_id

    async def test_changed_visibility_does_not_persist_to_next_receive(self, backend: Backend) -> None:
        """SQS-V-2: a change applies to this receive only; the next receive uses the queue's timeout."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        assert await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, 0)]) == []
        (again,) = await backend.receive(name, wait_seconds=0)
        start = time.monotonic()
        (third,) = await backend.receive(name, wait_seconds=unit * 6)
        assert time.monotonic() - start >= unit * 0.9
        assert third.receive_count == 3 and again.receive_count == 2

    async def test_change_visibility_failures(self, backend: Backend) -> None:
        """SQS-V-2: stale, malformed and out-of-range entries fail alone, with SQS's codes."""
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a", "b")
        first, other = await self.receive_all(backend, name, 2)
        await self.release(backend, name, [first])
        (again,) = await backend.receive(name, wait_seconds=2)
        failed = await backend.change_visibility(
            name,
            [
                VisibilityChange(first.receipt_handle, 100),  # stale: received again since
                VisibilityChange("???", 100),
                VisibilityChange(other.receipt_handle, 43_201),
                VisibilityChange(other.receipt_handle, -1),
                VisibilityChange(again.receipt_handle, 0),  # fine
            ],
        )
        by_handle: dict[str, list[str]] = {}
        for failure in failed:
            by_handle.setdefault(failure.id, []).append(failure.code)
        assert by_handle["???"] == ["ReceiptHandleIsInvalid"]
        assert by_handle[other.receipt_handle] == ["InvalidParameterValue", "InvalidParameterValue"]
        assert by_handle[first.receipt_handle] == ["MessageNotInflight"]
        assert again.receipt_handle not in by_handle
        assert (await backend.get_queue(name)).counts.visible == 1

    async def test_change_visibility_on_a_visible_message_fails(self, backend: Backend) -> None:
        """SQS-V-2: a message whose timeout passed is not in flight: MessageNotInflight."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        await asyncio.sleep(unit * 1.5)
        failed = await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, 60)])
        assert [f.code for f in failed] == ["MessageNotInflight"]

    async def test_visibility_cannot_exceed_12_hours_from_receive(
        self, backend: Backend, clock: OffsetClock
    ) -> None:
        """SQS-V-2: total visibility is capped at 12 h from the receive (no silent clamp)."""
        self.need_clock()
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a")
        (message,) = await backend.receive(name, wait_seconds=0)
        clock.advance(100)
        failed = await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, 43_200)])
        assert [f.code for f in failed] == ["InvalidParameterValue"]
        assert await backend.change_visibility(name, [VisibilityChange(message.receipt_handle, 43_000)]) == []

    # == dead-letter queues =====================================================================

    async def test_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count(self, backend: Backend) -> None:
        """ESM-DLQ-2, ESM-F-3: delivered exactly maxReceiveCount times, then moved, never delivered again."""
        source, dlq = await self.make_queue_with_dlq(backend, 3)
        attrs = {"kind": MessageAttributeValue("String", string_value="poison")}
        result = await backend.send(source, [SendEntry("poison", message_attributes=attrs)])
        message_id = result.successful[0].message_id
        counts = []
        for _ in range(3):
            (message,) = await backend.receive(source, wait_seconds=2)
            counts.append(message.receive_count)
            await self.release(backend, source, [message])
        assert counts == [1, 2, 3]
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        src_counts = (await backend.get_queue(source)).counts
        assert (src_counts.visible, src_counts.in_flight) == (0, 0)
        (dead,) = await backend.receive(dlq, wait_seconds=2)
        assert dead.message_id == message_id  # ESM-DLQ-4
        assert dead.body == "poison"
        assert dead.message_attributes == attrs
        assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(source)  # ESM-DLQ-5
        assert dead.receive_count >= 3

    async def test_max_receive_count_one(self, backend: Backend) -> None:
        """ESM-DLQ-2: with maxReceiveCount 1 a message is delivered once, then dead-lettered."""
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        await self.send_bodies(backend, source, "once")
        (message,) = await backend.receive(source, wait_seconds=2)
        await self.release(backend, source, [message])
        assert await backend.receive(source, wait_seconds=0) == []
        assert (await backend.get_queue(dlq)).counts.visible == 1

    async def test_dlq_move_does_not_consume_a_receive_slot(self, backend: Backend) -> None:
        """ESM-DLQ-2: a receive that dead-letters one message still returns the others."""
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        await self.send_bodies(backend, source, "poison")
        (message,) = await backend.receive(source, wait_seconds=2)
        await self.release(backend, source, [message])
        await self.send_bodies(backend, source, "fresh-1", "fresh-2")
        got = await self.receive_all(backend, source, 2)
        assert sorted(bodies(got)) == ["fresh-1", "fresh-2"]
        assert (await backend.get_queue(dlq)).counts.visible == 1

    async def test_redrive_back_to_source(self, backend: Backend) -> None:
        """ESM-DLQ-6: redrive moves dead letters back to their source as new messages."""
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        attrs = {"k": MessageAttributeValue("Number", string_value="7")}
        await backend.send(source, [SendEntry("p1", message_attributes=attrs), SendEntry("p2")])
        got = await self.receive_all(backend, source, 2)
        await self.release(backend, source, got)
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        assert (await backend.get_queue(dlq)).counts.visible == 2
        result = await backend.redrive(dlq)
        assert (result.moved, result.failed) == (2, 0)
        assert (await backend.get_queue(dlq)).counts.visible == 0
        back = await self.receive_all(backend, source, 2)
        assert sorted(bodies(back)) == ["p1", "p2"]
        assert all(m.receive_count == 1 for m in back)
        assert {m.message_id for m in back}.isdisjoint({m.message_id for m in got})
        assert all("DeadLetterQueueSourceArn" not in m.attributes for m in back)
        assert next(m for m in back if m.body == "p1").message_attributes == attrs

    async def test_redrive_to_named_destination(self, backend: Backend) -> None:
        """ESM-DLQ-6: redrive with a destination sends every dead letter there."""
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        destination = await self.make_queue(backend)
        await self.send_bodies(backend, source, "p")
        (message,) = await backend.receive(source, wait_seconds=2)
        await self.release(backend, source, [message])
        assert await backend.receive(source, wait_seconds=0) == []
        result = await backend.redrive(dlq, destination=destination)
        assert result.moved == 1
        assert bodies(await self.receive_all(backend, destination, 1)) == ["p"]
        assert await backend.receive(source, wait_seconds=0) == []

    async def test_redrive_rate_limit(self, backend: Backend) -> None:
        """ESM-DLQ-6: MaxNumberOfMessagesPerSecond bounds the move rate."""
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        await self.send_bodies(backend, source, *[f"p{i}" for i in range(5)])
        got = await self.receive_all(backend, source, 5)
        await self.release(backend, source, got)
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        start = time.monotonic()
        result = await backend.redrive(dlq, max_per_second=4)
        assert result.moved == 5
        assert time.monotonic() - start >= 0.9, "5 messages at 4/s cannot take less than a second"

    async def test_dead_letter_retention_standard_keeps_enqueue_time(
        self, backend: Backend, clock: OffsetClock
    ) -> None:
        """ESM-DLQ-4: in a standard DLQ, expiry still counts from the original enqueue time."""
        self.need_clock()
        dlq = await self.make_queue(backend, message_retention_period=120)
        source = await self.make_queue(backend, redrive_policy=RedrivePolicy(dlq, 1))
        await self.send_bodies(backend, source, "old")
        clock.advance(100)
        (message,) = await backend.receive(source, wait_seconds=0)
        await self.release(backend, source, [message])
        assert await backend.receive(source, wait_seconds=0) == []  # moved now, 100 s after enqueue
        assert (await backend.get_queue(dlq)).counts.visible == 1
        clock.advance(30)  # 130 s after enqueue > 120 s retention of the DLQ
        assert await backend.receive(dlq, wait_seconds=0) == []

    # == retention ==============================================================================

    async def test_retention_deletes_old_messages(self, backend: Backend, clock: OffsetClock) -> None:
        """SQS-L-3: messages older than MessageRetentionPeriod are deleted, in flight or not."""
        self.need_clock()
        name = await self.make_queue(backend, message_retention_period=60, visibility_timeout=600)
        await self.send_bodies(backend, name, "old-visible", "old-in-flight")
        (held,) = await backend.receive(name, wait_seconds=0)
        clock.advance(30)
        await self.send_bodies(backend, name, "young")
        clock.advance(31)
        counts = (await backend.get_queue(name)).counts
        assert (counts.visible, counts.in_flight) == (1, 0)
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=0)) == ["young"]
        assert held.body in ("old-visible", "old-in-flight")

    # == FIFO ===================================================================================

    async def test_fifo_attributes_on_received_messages(self, backend: Backend) -> None:
        """EVT-4, ESM-FIFO-7: SequenceNumber, MessageGroupId, MessageDeduplicationId."""
        name = await self.make_queue(backend, fifo=True)
        result = await backend.send(
            name, [SendEntry("a", message_group_id="g1", message_deduplication_id="d-1")]
        )
        sent = result.successful[0]
        assert sent.sequence_number and sent.sequence_number.isdigit()
        (message,) = await backend.receive(name, wait_seconds=2)
        assert message.attributes["MessageGroupId"] == "g1"
        assert message.attributes["MessageDeduplicationId"] == "d-1"
        assert message.attributes["SequenceNumber"] == sent.sequence_number

    async def test_fifo_sequence_numbers_increase(self, backend: Backend) -> None:
        """SQS-F-2: SequenceNumber grows with send order within a queue."""
        name = await self.make_queue(backend, fifo=True, content_based_deduplication=True)
        result = await backend.send(
            name, [SendEntry(f"m{i}", message_group_id=f"g{i % 3}") for i in range(9)]
        )
        numbers = [int(r.sequence_number or 0) for r in result.successful]
        assert numbers == sorted(numbers) and len(set(numbers)) == 9

    async def test_fifo_send_rules(self, backend: Backend) -> None:
        """SQS-F-2, SQS-F-3, SQS-L-2: group id required; dedup id or content-based; no per-message delay."""
        name = await self.make_queue(backend, fifo=True)
        result = await backend.send(
            name,
            [
                SendEntry("no group", message_deduplication_id="a"),
                SendEntry("no dedup", message_group_id="g"),
                SendEntry("delay", message_group_id="g", message_deduplication_id="b", delay_seconds=5),
                SendEntry("fine", message_group_id="g", message_deduplication_id="c"),
            ],
        )
        assert [r.id for r in result.successful] == ["3"]
        assert {f.id: f.code for f in result.failed} == {
            "0": "MissingParameter",
            "1": "InvalidParameterValue",
            "2": "InvalidParameterValue",
        }

    async def test_fifo_order_within_a_group_across_receives(self, backend: Backend) -> None:
        """SQS-F-2, ESM-B-5: a group's messages arrive in send order, batch after batch."""
        name = await self.make_queue(backend, fifo=True)
        texts = [f"m{i:02d}" for i in range(30)]
        for chunk in (texts[:10], texts[10:20], texts[20:]):
            await self.send_bodies(backend, name, *chunk, group="only")
        seen: list[str] = []
        while len(seen) < 30:
            got = await backend.receive(name, max_messages=7, wait_seconds=2)
            assert got, "FIFO queue stalled"
            seen.extend(bodies(got))
            assert await backend.delete(name, [m.receipt_handle for m in got]) == []
        assert seen == texts

    async def test_fifo_group_is_locked_while_a_message_is_in_flight(self, backend: Backend) -> None:
        """SQS-F-2, ESM-FIFO-3: no second message of a group while one is in flight."""
        name = await self.make_queue(backend, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, name, "a1", "a2", "a3", group="A")
        (first,) = await backend.receive(name, max_messages=1, wait_seconds=0)
        assert first.body == "a1"
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        assert await backend.delete(name, [first.receipt_handle]) == []
        got = await backend.receive(name, max_messages=10, wait_seconds=0)
        assert bodies(got) == ["a2", "a3"]

    async def test_fifo_lock_holds_while_any_message_of_the_group_is_in_flight(
        self, backend: Backend
    ) -> None:
        """ESM-FIFO-3: the head's visibility ending does not unlock a group with another message in flight."""
        name = await self.make_queue(backend, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, name, "a1", "a2", "a3", group="A")
        got = await backend.receive(name, max_messages=2, wait_seconds=0)
        assert bodies(got) == ["a1", "a2"]
        await self.release(backend, name, got[:1])  # a1 visible again, a2 still in flight
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        await self.release(backend, name, got[1:])
        again = await backend.receive(name, max_messages=10, wait_seconds=0)
        assert bodies(again) == ["a1", "a2", "a3"]

    async def test_fifo_failed_message_is_retried_before_later_ones(self, backend: Backend) -> None:
        """ESM-FIFO-4: a message that comes back is delivered again before the rest of its group."""
        unit = self.timing_unit
        name = await self.make_queue(backend, fifo=True, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a1", "a2", group="A")
        (first,) = await backend.receive(name, max_messages=1, wait_seconds=0)
        (again,) = await backend.receive(name, max_messages=1, wait_seconds=unit * 6)
        assert first.body == "a1"
        assert (again.body, again.receive_count) == ("a1", 2)

    async def test_fifo_other_groups_are_not_blocked(self, backend: Backend) -> None:
        """SQS-F-2, ESM-FIFO-6: a locked group does not block other groups (no head-of-line blocking)."""
        name = await self.make_queue(backend, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, name, "a1", "a2", group="A")
        await self.send_bodies(backend, name, "b1", "b2", group="B")
        (a1,) = await backend.receive(name, max_messages=1, wait_seconds=0)
        assert a1.body == "a1"
        got = await backend.receive(name, max_messages=10, wait_seconds=0)
        assert bodies(got) == ["b1", "b2"]

    async def test_fifo_one_receive_serves_several_groups_in_order(self, backend: Backend) -> None:
        """SQS-F-2, ESM-FIFO-2: one receive may return several groups, each in order."""
        name = await self.make_queue(backend, fifo=True, content_based_deduplication=True)
        entries = [SendEntry(f"{g}{i}", message_group_id=g) for i in range(1, 4) for g in ("A", "B", "C")]
        assert not (await backend.send(name, entries)).failed
        got = await self.receive_all(backend, name, 9)
        assert len(got) == 9
        for group in "ABC":
            assert [m.body for m in got if m.message_group_id == group] == [
                f"{group}1",
                f"{group}2",
                f"{group}3",
            ]

    async def test_fifo_deduplication_within_five_minutes(self, backend: Backend) -> None:
        """SQS-F-3: a duplicate dedup id is accepted but not delivered, even after the first is deleted."""
        name = await self.make_queue(backend, fifo=True)
        first = await backend.send(
            name, [SendEntry("one", message_group_id="g", message_deduplication_id="same")]
        )
        dup = await backend.send(
            name, [SendEntry("two", message_group_id="g", message_deduplication_id="same")]
        )
        assert not dup.failed and dup.successful[0].message_id == first.successful[0].message_id
        (message,) = await backend.receive(name, max_messages=10, wait_seconds=0)
        assert message.body == "one"
        assert await backend.delete(name, [message.receipt_handle]) == []
        again = await backend.send(
            name, [SendEntry("three", message_group_id="g", message_deduplication_id="same")]
        )
        assert not again.failed
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []

    async def test_fifo_content_based_deduplication(self, backend: Backend) -> None:
        """SQS-F-3: with ContentBasedDeduplication the SHA-256 of the body is the id; an explicit id wins."""
        name = await self.make_queue(backend, fifo=True, content_based_deduplication=True)
        result = await backend.send(
            name,
            [
                SendEntry("same body", message_group_id="g"),
                SendEntry("same body", message_group_id="g"),
                SendEntry("same body", message_group_id="g", message_deduplication_id="explicit"),
            ],
        )
        assert not result.failed
        got = await self.receive_all(backend, name, 3, wait=0.5)
        assert bodies(got) == ["same body", "same body"]
        assert got[0].attributes["MessageDeduplicationId"] == digest.content_deduplication_id("same body")
        assert got[1].attributes["MessageDeduplicationId"] == "explicit"

    async def test_fifo_deduplication_window_ends_after_five_minutes(
        self, backend: Backend, clock: OffsetClock
    ) -> None:
        """SQS-F-3: the same dedup id is delivered again once the 5-minute window has passed."""
        self.need_clock()
        name = await self.make_queue(backend, fifo=True)
        await backend.send(name, [SendEntry("one", message_group_id="g", message_deduplication_id="d")])
        clock.advance(299)
        await backend.send(name, [SendEntry("dup", message_group_id="g", message_deduplication_id="d")])
        clock.advance(2)
        await backend.send(name, [SendEntry("two", message_group_id="g", message_deduplication_id="d")])
        assert bodies(await self.receive_all(backend, name, 3, wait=0.5)) == ["one", "two"]

    async def test_fifo_deduplication_scope_message_group(self, backend: Backend) -> None:
        """SQS-F-4: with DeduplicationScope=messageGroup the same id in two groups is two messages."""
        name = await self.make_queue(backend, fifo=True, deduplication_scope="messageGroup")
        result = await backend.send(
            name,
            [
                SendEntry("a", message_group_id="g1", message_deduplication_id="d"),
                SendEntry("b", message_group_id="g2", message_deduplication_id="d"),
                SendEntry("c", message_group_id="g2", message_deduplication_id="d"),
            ],
        )
        assert len(result.successful) == 3
        got = await self.receive_all(backend, name, 3, wait=0.5)
        assert sorted(bodies(got)) == ["a", "b"]

    async def test_fifo_queue_delay_keeps_order(self, backend: Backend) -> None:
        """SQS-L-2: a FIFO queue's DelaySeconds applies to every message; order is kept."""
        name = await self.make_queue(backend, fifo=True, delay_seconds=1)
        await self.send_bodies(backend, name, "d1", "d2", group="A")
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        got = await self.receive_all(backend, name, 2, wait=5)
        assert bodies(got) == ["d1", "d2"]

    async def test_fifo_dead_letter_keeps_group_and_unblocks_it(self, backend: Backend) -> None:
        """ESM-DLQ-2, ESM-DLQ-3: a FIFO poison message goes to the FIFO DLQ and its group moves on."""
        source, dlq = await self.make_queue_with_dlq(backend, 2, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, source, "poison", "next", group="A")
        for expected in (1, 2):
            (message,) = await backend.receive(source, max_messages=1, wait_seconds=2)
            assert (message.body, message.receive_count) == ("poison", expected)
            await self.release(backend, source, [message])
        (following,) = await backend.receive(source, max_messages=1, wait_seconds=2)
        assert following.body == "next"
        (dead,) = await backend.receive(dlq, wait_seconds=2)
        assert (dead.body, dead.message_group_id) == ("poison", "A")
        assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(source)

    async def test_fifo_redrive_keeps_groups(self, backend: Backend) -> None:
        """ESM-DLQ-6: FIFO messages redriven back keep their group and order."""
        source, dlq = await self.make_queue_with_dlq(backend, 1, fifo=True)
        await self.send_bodies(backend, source, "x1", "x2", group="X")
        got = await self.receive_all(backend, source, 2)
        await self.release(backend, source, got)
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        assert (await backend.redrive(dlq)).moved == 2
        back = await self.receive_all(backend, source, 2)
        assert [(m.body, m.message_group_id) for m in back] == [("x1", "X"), ("x2", "X")]

    # == peek and failure notes (capabilities) ==================================================

    async def test_peek_changes_nothing(self, backend: Backend) -> None:
        """qworker peek: look at messages in order without counting a receive."""
        if not backend.capabilities.peek:
            pytest.skip("this backend cannot look at messages without receiving them")
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "p1", "p2", "p3")
        peeked = await backend.peek(name, 2)
        assert [p.body for p in peeked] == ["p1", "p2"]
        assert all(p.state == "visible" for p in peeked)
        (held,) = await backend.receive(name, wait_seconds=0)
        states = {p.body: p.state for p in await backend.peek(name, 10)}
        assert states[held.body] == "in_flight" and len(states) == 3
        got = await self.receive_all(backend, name, 2, wait=0)
        assert all(m.receive_count == 1 for m in got)

    async def test_failure_notes_follow_the_message_to_the_dlq(self, backend: Backend) -> None:
        """qworker: the last error is stored with the message and shown by peek, also in the DLQ."""
        if not (backend.capabilities.peek and backend.capabilities.records_failures):
            pytest.skip("this backend does not store failure notes")
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        await self.send_bodies(backend, source, "fails")
        (message,) = await backend.receive(source, wait_seconds=2)
        await backend.record_failures(source, [FailureNote(message.receipt_handle, "ValueError: boom")])
        assert (await backend.peek(source, 1))[0].last_error == "ValueError: boom"
        await self.release(backend, source, [message])
        assert await backend.receive(source, wait_seconds=0) == []
        (dead,) = await backend.peek(dlq, 1)
        assert dead.last_error == "ValueError: boom"
        assert dead.message_id == message.message_id

    # == delete by message id (capability) ======================================================

    async def test_delete_by_id_removes_messages_in_any_state(self, backend: Backend) -> None:
        """qworker (the console's Delete): a peeked message is deleted by id, visible, in flight
        or delayed; unknown ids are ignored; the receiver's later delete still succeeds."""
        if not backend.capabilities.delete_by_id:
            pytest.skip("this backend cannot delete a message without its receipt handle")
        name = await self.make_queue(backend, visibility_timeout=600)
        ids = await self.send_bodies(backend, name, "d1", "d2", "d3")
        (held,) = await backend.receive(name, wait_seconds=0)
        deleted = await backend.delete_by_id(name, [held.message_id, ids[2], "no-such-id"])
        assert sorted(deleted) == sorted([held.message_id, ids[2]])
        assert [p.body for p in await backend.peek(name, 10)] == ["d2"]
        assert await backend.delete(name, [held.receipt_handle]) == []
        assert (await backend.get_queue(name)).counts == QueueCounts(1, 0, 0)
        assert [m.body for m in await self.receive_all(backend, name, 1, wait=0)] == ["d2"]

    async def test_delete_by_id_unlocks_a_fifo_group(self, backend: Backend) -> None:
        """qworker: deleting a FIFO group's in-flight head by id lets the group deliver again."""
        if not backend.capabilities.delete_by_id:
            pytest.skip("this backend cannot delete a message without its receipt handle")
        name = await self.make_queue(backend, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, name, "f1", "f2", group="G")
        (head,) = await backend.receive(name, max_messages=1, wait_seconds=0)
        assert await backend.receive(name, wait_seconds=0) == []
        assert await backend.delete_by_id(name, [head.message_id]) == [head.message_id]
        (second,) = await backend.receive(name, wait_seconds=1)
        assert second.body == "f2"

    # == quarantine (RELIABILITY T16; capabilities.quarantine) ==================================

    async def test_without_quarantine_the_calls_are_unsupported(self, backend: Backend) -> None:
        """T16: a backend without ``capabilities.quarantine`` says so, on all three calls."""
        if backend.capabilities.quarantine:
            pytest.skip("this backend has a quarantine")
        name = await self.make_queue(backend)
        with pytest.raises(UnsupportedOperation):
            await backend.quarantined(name)
        with pytest.raises(UnsupportedOperation):
            await backend.restore_quarantined(name, ["x"])
        with pytest.raises(UnsupportedOperation):
            await backend.drop_quarantined(name)

    async def test_undecodable_message_is_quarantined_while_the_others_flow(self, backend: Backend) -> None:
        """T16: a receive that meets a message it cannot decode delivers the others of the batch and
        sets that one aside, with a reason and the time; it is counted as quarantined only."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend, visibility_timeout=600)
        ids = await self.send_with_attributes(backend, name, "q1", "q2", "q3", "q4")
        await self.corrupt_message(backend, name, ids[1], "attributes")
        before = time.time()
        got = await self.receive_all(backend, name, 3, wait=1)
        assert sorted(bodies(got)) == ["q1", "q3", "q4"]
        assert all(m.message_attributes["tag"].string_value == f"t-{m.body}" for m in got)
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        (entry,) = await backend.quarantined(name)
        assert entry.message_id == ids[1] and entry.reason
        assert before - 5 <= entry.quarantined_at / 1000 <= time.time() + 5
        counts = (await backend.get_queue(name)).counts
        assert (counts.visible, counts.in_flight, counts.delayed, counts.quarantined) == (0, 3, 0, 1)

    async def test_undecodable_fifo_head_does_not_block_its_group(self, backend: Backend) -> None:
        """T16 + SQS-F-2: an undecodable message at the head of a group is set aside; the rest of
        the group is delivered in order."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend, fifo=True, visibility_timeout=600)
        ids = await self.send_with_attributes(backend, name, "f1", "f2", "f3", group="G")
        await self.corrupt_message(backend, name, ids[0], "body")
        got = await backend.receive(name, max_messages=10, wait_seconds=1)
        assert [(m.body, m.message_group_id) for m in got] == [("f2", "G"), ("f3", "G")]
        assert [q.message_id for q in await backend.quarantined(name)] == [ids[0]]

    async def test_peek_shows_an_undecodable_message_and_changes_nothing(self, backend: Backend) -> None:
        """T16: peek does not fail on a message it cannot decode; it moves nothing."""
        self.need_quarantine(backend)
        if not backend.capabilities.peek:
            pytest.skip("this backend cannot look at messages without receiving them")
        name = await self.make_queue(backend)
        ids = await self.send_with_attributes(backend, name, "p1", "p2")
        await self.corrupt_message(backend, name, ids[0], "body")
        peeked = await backend.peek(name, 10)
        assert [p.message_id for p in peeked] == ids
        assert "corrupt" in (peeked[0].last_error or "") and peeked[1].body == "p2"
        assert await backend.quarantined(name) == []
        assert (await backend.get_queue(name)).counts.visible == 2

    async def test_restore_refuses_what_still_cannot_be_decoded_and_body_only_salvages(
        self, backend: Backend
    ) -> None:
        """T16: restore decodes again and refuses an undecodable message (it stays); body_only puts
        its body back alone, as a new arrival with the same message id."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend, visibility_timeout=600)
        ids = await self.send_with_attributes(backend, name, "r1", "r2")
        await self.corrupt_message(backend, name, ids[0], "attributes")
        assert bodies(await self.receive_all(backend, name, 1, wait=1)) == ["r2"]
        (failure,) = await backend.restore_quarantined(name, [ids[0]])
        assert (failure.id, failure.code) == (ids[0], QUARANTINE_UNDECODABLE)
        assert [q.message_id for q in await backend.quarantined(name)] == [ids[0]]
        assert await backend.restore_quarantined(name, [ids[0]], body_only=True) == []
        assert await backend.quarantined(name) == []
        (back,) = await backend.receive(name, max_messages=10, wait_seconds=2)
        assert (back.message_id, back.body, back.message_attributes) == (ids[0], "r1", {})
        assert back.receive_count == 1 and back.md5_of_body == digest.md5_of_body("r1")
        counts = (await backend.get_queue(name)).counts
        assert (counts.in_flight, counts.quarantined) == (2, 0)

    async def test_restore_of_an_unreadable_body_is_refused_even_body_only(self, backend: Backend) -> None:
        """T16: a message whose body cannot be read has nothing to put back; it stays."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend)
        (victim,) = await self.send_with_attributes(backend, name, "lost")
        await self.corrupt_message(backend, name, victim, "body")
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        for body_only in (False, True):
            (failure,) = await backend.restore_quarantined(name, [victim], body_only=body_only)
            assert failure.code == QUARANTINE_UNDECODABLE
        assert (await backend.get_queue(name)).counts.quarantined == 1

    async def test_restore_fifo_body_only_joins_the_end_of_its_group(self, backend: Backend) -> None:
        """T16 + SQS-F-2: a restored FIFO message keeps its group and comes after the messages
        sent before the restore."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend, fifo=True)
        ids = await self.send_with_attributes(backend, name, "h1", "h2", group="G")
        await self.corrupt_message(backend, name, ids[0], "attributes")
        got = await self.receive_all(backend, name, 1, wait=1)
        assert bodies(got) == ["h2"]
        assert await backend.delete(name, [m.receipt_handle for m in got]) == []
        await self.send_with_attributes(backend, name, "h3", group="G")
        assert await backend.restore_quarantined(name, [ids[0]], body_only=True) == []
        first = await self.receive_all(backend, name, 2, wait=1)
        assert [(m.body, m.message_group_id) for m in first] == [("h3", "G"), ("h1", "G")]
        assert first[1].message_id == ids[0]

    async def test_restore_to_the_dead_letter_queue_and_redrive_back(self, backend: Backend) -> None:
        """T16 + ESM-DLQ-5/6: restored to the queue's DLQ, a message is a dead letter of the queue
        (DeadLetterQueueSourceArn), so a redrive takes it home."""
        self.need_quarantine(backend)
        source, dlq = await self.make_queue_with_dlq(backend, 3, visibility_timeout=600)
        (victim,) = await self.send_with_attributes(backend, source, "d1")
        await self.corrupt_message(backend, source, victim, "attributes")
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        assert await backend.restore_quarantined(source, [victim], dlq, body_only=True) == []
        (dead,) = await backend.receive(dlq, max_messages=10, wait_seconds=2)
        assert dead.body == "d1"
        assert dead.attributes["DeadLetterQueueSourceArn"] == backend.queue_arn(source)
        await self.release(backend, dlq, [dead])
        assert (await backend.redrive(dlq)).moved == 1
        assert bodies(await self.receive_all(backend, source, 1, wait=1)) == ["d1"]

    async def test_restore_failures_per_entry(self, backend: Backend) -> None:
        """T16: an id not in the quarantine fails alone (QuarantinedMessageNotFound); a destination
        of the other type or a missing one fails the call."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend)
        fifo = await self.make_queue(backend, fifo=True)
        ids = await self.send_with_attributes(backend, name, "e1")
        await self.corrupt_message(backend, name, ids[0], "attributes")
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        failed = await backend.restore_quarantined(name, ["no-such-id", ids[0]], body_only=True)
        assert [(f.id, f.code) for f in failed] == [("no-such-id", QUARANTINE_NOT_FOUND)]
        assert (await backend.get_queue(name)).counts.visible == 1
        with pytest.raises(InvalidParameterValue):
            await backend.restore_quarantined(name, ids, fifo)
        with pytest.raises(QueueDoesNotExist):
            await backend.restore_quarantined(name, ids, unique_name())

    async def test_drop_one_then_all(self, backend: Backend) -> None:
        """T16: drop deletes quarantined messages for good, by id or all of them; purge empties
        the quarantine too."""
        self.need_quarantine(backend)
        name = await self.make_queue(backend)
        ids = await self.send_with_attributes(backend, name, "x1", "x2", "x3", "ok")
        for message_id in ids[:3]:
            await self.corrupt_message(backend, name, message_id, "body")
        assert bodies(await self.receive_all(backend, name, 1, wait=1)) == ["ok"]
        assert sorted(q.message_id for q in await backend.quarantined(name)) == sorted(ids[:3])
        assert len(await backend.quarantined(name, 2)) == 2
        assert await backend.drop_quarantined(name, [ids[0], "no-such-id"]) == 1
        assert sorted(q.message_id for q in await backend.quarantined(name)) == sorted(ids[1:3])
        assert await backend.drop_quarantined(name) == 2
        assert (await backend.get_queue(name)).counts.quarantined == 0
        (victim,) = await self.send_with_attributes(backend, name, "y")
        await self.corrupt_message(backend, name, victim, "body")
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        await backend.purge_queue(name)
        assert await backend.quarantined(name) == []

    async def test_redrive_sets_aside_an_undecodable_dead_letter(self, backend: Backend) -> None:
        """T16 + ESM-DLQ-6: a dead letter that cannot be decoded is quarantined in the DLQ (and
        counted as failed); the others move."""
        self.need_quarantine(backend)
        source, dlq = await self.make_queue_with_dlq(backend, 1)
        await self.send_bodies(backend, source, "ok", "bad")
        got = await self.receive_all(backend, source, 2)
        await self.release(backend, source, got)
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []  # both moved
        bad = next(m.message_id for m in got if m.body == "bad")
        await self.corrupt_message(backend, dlq, bad, "body")
        result = await backend.redrive(dlq)
        assert (result.moved, result.failed) == (1, 1)
        assert [q.message_id for q in await backend.quarantined(dlq)] == [bad]
        assert bodies(await self.receive_all(backend, source, 1, wait=1)) == ["ok"]

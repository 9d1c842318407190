"""The conformance suite's part on queues: create, list, delete, tags, PurgeQueue, and the shared
record store."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from qworker.backend import (
    Backend,
    QueueSpec,
    RedrivePolicy,
    SendEntry,
)
from qworker.errors import (
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    UnsupportedOperation,
)
from qworker.testing.conformance.base import OffsetClock, SuiteBase, unique_name


class QueueTests(SuiteBase):
    """Queues: create, list, delete, tags, PurgeQueue, and the shared record store."""

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

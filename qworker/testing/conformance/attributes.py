"""The conformance suite's part on SetQueueAttributes: every client sees new attributes at once."""

from __future__ import annotations

import json
import time

import pytest

from qworker.backend import (
    Backend,
    QueueSpec,
    RedrivePolicy,
    SendEntry,
)
from qworker.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueNameExists,
)
from qworker.testing.conformance.base import OffsetClock, SuiteBase, bodies, comparable, unique_name


class AttributeTests(SuiteBase):
    """SetQueueAttributes: every client sees new attributes at once."""

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
        assert await self.receive_counts(other_backend, name, 3) == [1, 2, 3]

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

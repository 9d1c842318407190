"""The conformance suite's part on FIFO queues: groups, order, locks, deduplication."""

from __future__ import annotations

from qworker import digest
from qworker.backend import (
    Backend,
    SendEntry,
)
from qworker.testing.conformance.base import OffsetClock, SuiteBase, bodies


class FifoTests(SuiteBase):
    """FIFO queues: groups, order, locks, deduplication."""

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

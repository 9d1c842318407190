"""The conformance suite's part on receipt handles (delete, change visibility), dead-letter
queues and retention."""

from __future__ import annotations

import asyncio
import base64
import time

from qworker.backend import (
    Backend,
    MessageAttributeValue,
    RedrivePolicy,
    SendEntry,
    VisibilityChange,
)
from qworker.testing.conformance.base import OffsetClock, SuiteBase, bodies


class ReceiptTests(SuiteBase):
    """Receipt handles (delete, change visibility), dead-letter queues, retention."""

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
        assert await self.receive_counts(backend, source, 3) == [1, 2, 3]
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

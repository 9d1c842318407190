"""The conformance suite's part on capabilities: peek, failure notes, delete by id, the quarantine (T16)."""

from __future__ import annotations

import time

import pytest

from qworker import digest
from qworker.backend import (
    QUARANTINE_NOT_FOUND,
    QUARANTINE_UNDECODABLE,
    Backend,
    FailureNote,
    QueueCounts,
)
from qworker.errors import (
    InvalidParameterValue,
    QueueDoesNotExist,
    UnsupportedOperation,
)
from qworker.testing.conformance.base import SuiteBase, bodies, unique_name


class CapabilityTests(SuiteBase):
    """Capabilities: peek, failure notes, delete by id, the quarantine (T16)."""

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

"""Receive: which messages a receive returns, in what order, and the long poll that waits for one.

Each rule is a small method a test may override to break it on purpose
(``tests/test_conformance_catches_bugs.py``): :meth:`ReceiveMixin.candidates`,
:meth:`~ReceiveMixin.group_is_locked`, :meth:`~ReceiveMixin.should_dead_letter`,
:meth:`~ReceiveMixin.visibility_ms`, :meth:`~ReceiveMixin.stored_attributes`.
"""

from __future__ import annotations

import secrets
import time

from qworker import arn, limits
from qworker.backend import MessageAttributeValue, ReceivedMessage, system_attributes
from qworker.errors import InvalidParameterValue
from qworker.memory.base import MemoryBase, make_handle
from qworker.memory.store import CORRUPTION_REASONS, MemoryQueue, StoredMessage


def next_visible_ms(q: MemoryQueue, now: int) -> int | None:
    """The next moment (epoch ms) a hidden message of ``q`` becomes visible by itself (a delay or
    a visibility timeout ending; a FIFO group unlocking with it), or None when none is hidden."""
    return min((m.visible_at_ms for m in q.messages if m.visible_at_ms > now), default=None)


class ReceiveMixin(MemoryBase):
    """SQS ReceiveMessage on the store (see :meth:`qworker.backend.Backend.receive`)."""

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        with self.store.lock:
            q = self._queue(queue)
            limits.check_max_messages(max_messages)
            if visibility_timeout is not None and (
                error := limits.check_visibility_timeout(visibility_timeout)
            ):
                raise InvalidParameterValue(error)
            wait = q.spec.receive_wait_time_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + wait
        while True:
            with self.store.lock:  # look, and register to be woken, in one step (wakeups.py)
                q = self._queue(queue)  # (deleted while we waited: QueueDoesNotExist)
                now = self.now_ms()
                received = self._receive_now(q, max_messages, visibility_timeout, now)
                left = deadline - time.monotonic()
                if received or left <= 0:
                    return received
                upcoming = next_visible_ms(q, now)
                if upcoming is not None:
                    left = min(left, (upcoming - now) / 1000)
                waiter = self.store.wakeups.register(queue)
            try:
                await waiter.sleep(left)
            finally:
                with self.store.lock:
                    self.store.wakeups.discard(queue, waiter)

    def _receive_now(
        self, q: MemoryQueue, max_messages: int, visibility: float | None, now: int
    ) -> list[ReceivedMessage]:
        self._expire(q, now)
        timeout = q.spec.visibility_timeout if visibility is None else visibility
        received: list[ReceivedMessage] = []
        for message in self.candidates(q, now):
            if len(received) >= max_messages:
                break
            if self.should_dead_letter(q, message):
                self._move_to_dead_letter_queue(q, message, now)
                continue
            if message.corrupt is not None:  # T16: set aside; the receive goes on with the others
                self._set_aside(q, message, now)
                continue
            received.append(self._deliver(q, message, now, timeout))
        return received

    def _set_aside(self, q: MemoryQueue, message: StoredMessage, now: int) -> None:
        q.messages.remove(message)
        q.quarantine.append((message, CORRUPTION_REASONS[message.corrupt or "body"], now))
        self.quarantine_tally.add(q.spec.name)

    def candidates(self, q: MemoryQueue, now: int) -> list[StoredMessage]:
        """Messages a receive may return now, in the order it should return them."""
        if not q.spec.fifo:
            visible = [m for m in q.messages if m.visible_at_ms <= now]
            return sorted(visible, key=lambda m: (m.visible_at_ms, m.seq))
        groups: dict[str, list[StoredMessage]] = {}
        for message in q.messages:  # send order
            groups.setdefault(message.group_id or "", []).append(message)
        result: list[StoredMessage] = []
        for members in groups.values():  # oldest head first (see Backend.receive)
            if self.group_is_locked(members, now):
                continue
            for message in members:
                state = message.state(now)
                if state == "delayed":  # a delayed message stops its group (order is kept)
                    break
                if state == "visible":  # (in-flight ones only exist here when the lock is broken)
                    result.append(message)
        return result

    def group_is_locked(self, members: list[StoredMessage], now: int) -> bool:
        """SQS-F-2: a group is locked while any of its messages is in flight."""
        return any(m.state(now) == "in_flight" for m in members)

    def should_dead_letter(self, q: MemoryQueue, message: StoredMessage) -> bool:
        """ESM-DLQ-2: move on the receive that would exceed maxReceiveCount."""
        policy = q.spec.redrive_policy
        return policy is not None and message.receive_count >= policy.max_receive_count

    def _deliver(self, q: MemoryQueue, message: StoredMessage, now: int, timeout: float) -> ReceivedMessage:
        message.receive_count += 1
        if message.first_receive_ms is None:
            message.first_receive_ms = now
        message.received_at_ms = now
        message.visible_at_ms = now + self.visibility_ms(timeout)
        message.token = secrets.token_hex(8)
        return ReceivedMessage(
            message_id=message.message_id,
            receipt_handle=make_handle(q, message),
            body=message.body,
            md5_of_body=message.md5_of_body,
            attributes=self.system_attributes_of(message),
            message_attributes=self.stored_attributes(message),
            md5_of_message_attributes=message.md5_of_message_attributes,
        )

    def stored_attributes(self, message: StoredMessage) -> dict[str, MessageAttributeValue]:
        """The message attributes a receive returns (SQS-L-5): all of them, as sent."""
        return dict(message.message_attributes)

    def system_attributes_of(self, message: StoredMessage) -> dict[str, str]:
        """The system attributes of a received or peeked message (EVT-4)."""
        return system_attributes(
            receive_count=message.receive_count,
            sent_ms=message.sent_ms,
            first_receive_ms=message.first_receive_ms or 0,
            sender_id=arn.account_id(),
            sequence_number=message.sequence_number,
            group_id=message.group_id,
            dedup_id=message.dedup_id,
            trace_header=message.trace_header,
            dead_letter_source_arn=message.dead_letter_source_arn,
        )

    def _move_to_dead_letter_queue(self, q: MemoryQueue, message: StoredMessage, now: int) -> None:
        policy = q.spec.redrive_policy
        assert policy is not None
        dlq = self._queue(policy.dead_letter_queue)
        q.messages.remove(message)
        message.dead_letter_source_arn = self.queue_arn(q.spec.name)
        message.visible_at_ms = now
        message.token = None
        # ESM-DLQ-4: standard queues keep the original enqueue time, FIFO queues reset it.
        enqueued = now if dlq.spec.fifo else message.sent_ms
        message.expires_ms = enqueued + dlq.spec.message_retention_period * 1000
        if dlq.spec.fifo:
            message.dedup_id = message.message_id
        dlq.messages.append(message)
        self._changed(dlq.spec.name)

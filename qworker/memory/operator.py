"""An operator's tools: redrive dead letters, peek, and the quarantine (RELIABILITY T16).

The store keeps Python objects, so nothing in it can fail to decode; a test makes a message
"undecodable" with :meth:`OperatorMixin.corrupt` to check the quarantine's rules on the
reference model as on the backends whose bytes can be damaged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

from qworker import arn, digest, limits
from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    BatchEntryError,
    PeekedMessage,
    QuarantinedMessage,
    RedriveResult,
)
from qworker.errors import InvalidParameterValue
from qworker.memory.receiving import ReceiveMixin
from qworker.memory.store import CORRUPTION_REASONS, MemoryQueue, StoredMessage
from qworker.quarantine import Readable, Restore, check_destination, plan_restore


class OperatorMixin(ReceiveMixin):
    """SQS StartMessageMoveTask, qworker's peek and quarantine."""

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        with self.store.lock:
            dlq = self._queue(dead_letter_queue)
            if destination is not None:
                target = self._queue(destination)
                if target.spec.fifo != dlq.spec.fifo:
                    raise InvalidParameterValue(
                        "The destination queue must be of the same type as the dead-letter queue."
                    )
                if destination == dead_letter_queue:
                    raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
            now = self.now_ms()
            self._expire(dlq, now)
            batch = [m for m in dlq.messages if m.visible_at_ms <= now]  # visible at the start
        moved = failed = 0
        started = time.monotonic()
        for index, message in enumerate(batch):
            if max_per_second:
                await asyncio.sleep(max(0.0, started + index / max_per_second - time.monotonic()))
            with self.store.lock:
                if self._move_back(dlq, message, destination):
                    moved += 1
                else:
                    failed += 1
        return RedriveResult(moved, failed)

    def _move_back(self, dlq: MemoryQueue, message: StoredMessage, destination: str | None) -> bool:
        """Move one dead letter to its destination as a new message; False when it cannot go."""
        source = message.dead_letter_source_arn
        name = destination or (arn.queue_name_from_arn(source) if source else None)
        target = self.store.queues.get(name) if name else None
        if message.corrupt is not None and message in dlq.messages:
            self._set_aside(dlq, message, self.now_ms())
            return False
        if target is None or message not in dlq.messages:  # source gone, or taken meanwhile
            return False
        dlq.messages.remove(message)
        now = self.now_ms()
        fresh = replace(
            message,
            seq=next(self.store.seqs),
            message_id=str(uuid.uuid4()),
            sent_ms=now,
            visible_at_ms=now,
            expires_ms=now + target.spec.message_retention_period * 1000,
            dead_letter_source_arn=None,
            receive_count=0,
            first_receive_ms=None,
            received_at_ms=None,
            token=None,
            last_error=None,
        )
        self._append(target, fresh)
        return True

    def _append(self, target: MemoryQueue, message: StoredMessage) -> None:
        """Enqueue an arrival that is not a send (redrive, restore): at the end, with the next
        FIFO sequence number, and wake the target's receivers."""
        if target.spec.fifo:
            target.sequence += 1
            message.sequence_number = f"{target.sequence:020d}"
        target.messages.append(message)
        self._changed(target.spec.name)

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        with self.store.lock:
            q = self._queue(queue)
            now = self.now_ms()
            self._expire(q, now)
            return [self._peeked(m, now) for m in q.messages[:max_messages]]

    def _peeked(self, m: StoredMessage, now: int) -> PeekedMessage:
        if m.corrupt is not None:
            reason = CORRUPTION_REASONS[m.corrupt]
            return PeekedMessage(
                message_id=m.message_id,
                body="",
                attributes={"SentTimestamp": str(m.sent_ms)},
                message_attributes={},
                state=m.state(now),
                visible_at=m.visible_at_ms,
                last_error=f"corrupt message ({reason}); it will be quarantined when received",
            )
        return PeekedMessage(
            message_id=m.message_id,
            body=m.body,
            attributes=self.system_attributes_of(m),
            message_attributes=dict(m.message_attributes),
            state=m.state(now),
            visible_at=m.visible_at_ms,
            last_error=m.last_error,
        )

    # -- quarantine (T16) -----------------------------------------------------------------------

    def corrupt(self, queue: str, message_id: str, part: str = "attributes") -> None:
        """Test hook: make a stored message undecodable (``part``: ``"attributes"`` or ``"body"``)."""
        if part not in CORRUPTION_REASONS:
            raise ValueError(f"part must be one of {sorted(CORRUPTION_REASONS)}, not {part!r}")
        with self.store.lock:
            message = self._find(self._queue(queue), message_id)
            if message is None:
                raise KeyError(message_id)
            message.corrupt = part

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        limits.check_max_messages(max_messages)
        with self.store.lock:
            out = []
            for message, reason, at in self._queue(queue).quarantine[:max_messages]:
                raw = message.body.encode()
                preview = raw[:QUARANTINE_PREVIEW_BYTES]
                out.append(QuarantinedMessage(message.message_id, reason, at, preview, len(raw)))
            return out

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        with self.store.lock:
            q = self._queue(queue)
            target = self._queue(destination) if destination is not None else q
            check_destination(q.spec, target.spec)
            failed: list[BatchEntryError] = []
            for message_id in dict.fromkeys(message_ids):
                error = self._restore_one(q, target, message_id, body_only)
                if error is not None:
                    failed.append(error)
            return failed

    def _restore_one(
        self, q: MemoryQueue, target: MemoryQueue, message_id: str, body_only: bool
    ) -> BatchEntryError | None:
        found = next((item for item in q.quarantine if item[0].message_id == message_id), None)
        if found is None:
            return BatchEntryError(
                message_id,
                QUARANTINE_NOT_FOUND,
                f"No message {message_id!r} in the quarantine of {q.spec.name!r}.",
            )
        plan = plan_restore(q.spec, target.spec, message_id, self._readable(found[0]), body_only)
        if isinstance(plan, BatchEntryError):
            return plan
        q.quarantine.remove(found)
        self._append(target, self._restored(plan, target))
        return None

    def _restored(self, plan: Restore, target: MemoryQueue) -> StoredMessage:
        """A quarantined message back as a new arrival (see Backend.restore_quarantined)."""
        now = self.now_ms()
        entry = plan.entry
        attributes = dict(entry.message_attributes)
        source = plan.dead_letter_source
        return StoredMessage(
            seq=next(self.store.seqs),
            message_id=plan.message_id,
            body=entry.body,
            md5_of_body=digest.md5_of_body(entry.body),
            message_attributes=attributes,
            md5_of_message_attributes=digest.md5_of_message_attributes(attributes),
            sent_ms=now,
            visible_at_ms=now,
            expires_ms=now + target.spec.message_retention_period * 1000,
            group_id=entry.message_group_id,
            dedup_id=entry.message_deduplication_id,
            trace_header=entry.trace_header,
            dead_letter_source_arn=self.queue_arn(source) if source else None,
        )

    def _readable(self, message: StoredMessage) -> Readable:
        source = message.dead_letter_source_arn
        name = arn.queue_name_from_arn(source) if source else None
        if message.corrupt is None:
            return Readable(
                None,
                message.body,
                message.message_id,
                dict(message.message_attributes),
                message.group_id,
                message.dedup_id,
                message.trace_header,
                name,
            )
        reason = CORRUPTION_REASONS[message.corrupt]
        body = message.body if message.corrupt == "attributes" else None
        return Readable(reason, body, message.message_id, None, message.group_id, None, None, name)

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        with self.store.lock:
            q = self._queue(queue)
            before = len(q.quarantine)
            if message_ids is None:
                q.quarantine.clear()
            else:
                wanted = set(message_ids)
                q.quarantine = [item for item in q.quarantine if item[0].message_id not in wanted]
            return before - len(q.quarantine)

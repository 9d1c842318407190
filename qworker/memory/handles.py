"""What a receipt handle lets its holder do: delete, change visibility, note a failure.

A handle names the queue incarnation, the message and the token of one receive; only the latest
token acts on the message (ESM-F-6, :meth:`HandlesMixin.is_current_holder`).
"""

from __future__ import annotations

from collections.abc import Sequence

from qworker import limits
from qworker.backend import BatchEntryError, FailureNote, VisibilityChange
from qworker.memory.base import MemoryBase, parse_handle
from qworker.memory.store import MemoryQueue, StoredMessage

_TOTAL_VISIBILITY_TOO_LONG = (
    "Value for parameter VisibilityTimeout is invalid. Reason: Total "
    "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
)


def _invalid(handle: str) -> BatchEntryError:
    return BatchEntryError(handle, "ReceiptHandleIsInvalid", "The receipt handle is not valid.")


class HandlesMixin(MemoryBase):
    """SQS DeleteMessageBatch and ChangeMessageVisibilityBatch, plus qworker's failure notes and
    operator deletes by message id."""

    def is_current_holder(self, message: StoredMessage, token: str) -> bool:
        """ESM-F-6: only the latest receipt handle acts on the message."""
        return message.token == token

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        with self.store.lock:
            q = self._queue(queue)
            self._expire(q, self.now_ms())
            failed: list[BatchEntryError] = []
            deleted = False
            for handle in receipt_handles:
                parsed = parse_handle(q, handle)
                if parsed is None:
                    failed.append(_invalid(handle))
                    continue
                message = self._find(q, parsed[0])
                if message is None:  # already gone: what the caller asked for
                    continue
                if not self.is_current_holder(message, parsed[1]):
                    failed.append(
                        BatchEntryError(
                            handle,
                            "ReceiptHandleIsStale",
                            "The message was received again since this receipt handle was issued.",
                        )
                    )
                    continue
                q.messages.remove(message)
                deleted = True
            if deleted and q.spec.fifo:  # the group may be unlocked (a standard queue: nothing new)
                self._changed(queue)
            return failed

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        with self.store.lock:
            q = self._queue(queue)
            now = self.now_ms()
            self._expire(q, now)
            failed: list[BatchEntryError] = []
            for change in changes:
                error = self._change_one(q, change, now)
                if error is not None:
                    failed.append(error)
            if len(failed) < len(changes):  # visible sooner or later: receivers recompute
                self._changed(queue)
            return failed

    def _change_one(self, q: MemoryQueue, change: VisibilityChange, now: int) -> BatchEntryError | None:
        handle = change.receipt_handle
        parsed = parse_handle(q, handle)
        if parsed is None:
            return _invalid(handle)
        error = limits.check_visibility_timeout(change.visibility_timeout)
        if error is not None:
            return BatchEntryError(handle, "InvalidParameterValue", error)
        message = self._find(q, parsed[0])
        if (
            message is None
            or not self.is_current_holder(message, parsed[1])
            or message.state(now) != "in_flight"
        ):
            return BatchEntryError(handle, "MessageNotInflight", "The message is not in flight.")
        new_deadline = now + self.visibility_ms(change.visibility_timeout)
        assert message.received_at_ms is not None
        if new_deadline - message.received_at_ms > limits.MAX_VISIBILITY_TIMEOUT * 1000:
            return BatchEntryError(handle, "InvalidParameterValue", _TOTAL_VISIBILITY_TOO_LONG)
        message.visible_at_ms = new_deadline
        return None

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        with self.store.lock:
            q = self._queue(queue)
            for note in notes:
                parsed = parse_handle(q, note.receipt_handle)
                if parsed is None:
                    continue
                message = self._find(q, parsed[0])
                if message is not None and self.is_current_holder(message, parsed[1]):
                    message.last_error = note.error

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        with self.store.lock:
            q = self._queue(queue)
            wanted = set(message_ids)
            deleted = [m.message_id for m in q.messages if m.message_id in wanted]
            q.messages = [m for m in q.messages if m.message_id not in wanted]
            if deleted and q.spec.fifo:
                self._changed(queue)
            return deleted

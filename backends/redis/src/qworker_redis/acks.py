"""DeleteMessageBatch and ChangeMessageVisibilityBatch, fenced by the receipt handle's token.

A receipt handle is ``INCARNATION:MESSAGE-ID:TOKEN`` (built by :mod:`~qworker_redis.receive`);
a handle acts on its message only while its token is the message's current one (ESM-F-6,
SQS-RH-1), so a worker that lost its lease cannot delete a message someone else received since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qworker import limits
from qworker.backend import BatchEntryError, VisibilityChange
from qworker_redis.core import Core
from qworker_redis.queues import QueueRef
from qworker_redis.scripts import ENTRY_CODES

ENTRY_MESSAGES = {
    1: "The receipt handle is not valid.",
    2: "The message was received again since this receipt handle was issued.",
    3: "The message is not in flight.",
    5: "Value for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the "
    "message is beyond the limit [43200 seconds]",
}


@dataclass(slots=True)
class SplitHandles:
    """Receipt handles of one queue incarnation split for the delete script."""

    pairs: list[str]  #: message id, token, message id, token, ...
    sent: list[int]  #: the handle index of each pair
    invalid: list[int]  #: indexes of handles that are not of this incarnation or malformed
    repeated: bool  #: some message id appears twice


def split_handles(inc: str, handles: Sequence[str]) -> SplitHandles:
    """Split ``INCARNATION:MESSAGE-ID:TOKEN`` handles in Python, not in Lua: per handle,
    slicing here is cheaper than the script's string work, and Redis's single thread is the
    resource every worker shares."""
    out = SplitHandles([], [], [], False)
    prefix = inc + ":"
    start = len(prefix)
    size = start + 53  # 36-character id, ':', 16-digit token
    ids: set[str] = set()
    for index, handle in enumerate(handles):
        if len(handle) != size or not handle.startswith(prefix) or handle[start + 36] != ":":
            out.invalid.append(index)
            continue
        message_id = handle[start : start + 36]
        out.pairs += (message_id, handle[start + 37 :])
        out.sent.append(index)
        ids.add(message_id)
    out.repeated = len(ids) < len(out.sent)
    return out


async def delete(core: Core, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
    """DeleteMessageBatch: failed entries, in the order of ``receipt_handles``."""
    handles = list(receipt_handles)
    if not handles:
        return []
    split: list[SplitHandles] = []

    def args(r: QueueRef) -> list[Any]:
        split[:] = [split_handles(r.inc, handles)]
        return [r.inc, 0, "1" if split[0].repeated else "", *split[0].pairs]

    _, reply = await core.run("delete", queue, args)
    done = split[0]  # what the last attempt sent (a re-created queue means a new incarnation)
    failed = [(index, 1) for index in done.invalid]
    failed += ((done.sent[reply[i] - 1], reply[i + 1]) for i in range(1, len(reply), 2))
    failed.sort()
    return [BatchEntryError(handles[i], ENTRY_CODES[code], ENTRY_MESSAGES[code]) for i, code in failed]


async def change_visibility(
    core: Core, queue: str, changes: Sequence[VisibilityChange]
) -> list[BatchEntryError]:
    """ChangeMessageVisibilityBatch: failed entries, in the order of ``changes``."""
    changes = list(changes)
    if not changes:
        return []
    args: list[Any] = []
    errors: list[str | None] = []
    for change in changes:
        error = limits.check_visibility_timeout(change.visibility_timeout)
        errors.append(error)
        args += (change.receipt_handle, -1 if error else round(change.visibility_timeout * 1000))
    _, reply = await core.run("change_visibility", queue, lambda r: (r.inc, core.offset_ms(), *args))
    failed = []
    for i in range(1, len(reply), 2):
        index, code = reply[i] - 1, reply[i + 1]
        message = errors[index] if code == 4 else ENTRY_MESSAGES[code]
        failed.append(BatchEntryError(changes[index].receipt_handle, ENTRY_CODES[code], message or ""))
    return failed


async def release(core: Core, queue: str, handles: Sequence[str]) -> list[BatchEntryError]:
    """Make received messages visible again at once (visibility 0)."""
    return await change_visibility(core, queue, [VisibilityChange(h, 0) for h in handles])

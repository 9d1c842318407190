"""DeleteMessageBatch and ChangeMessageVisibilityBatch on SQS, in chunks of 10 run concurrently.

SQS decides what a receipt handle may do: receipt handles are not fenced on SQS (a stale delete
"succeeds", SQS-RH-1; ``capabilities.fenced_receipts`` is False).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qworker import limits
from qworker.backend import BatchEntryError, VisibilityChange
from qworker_sqs import convert
from qworker_sqs.batches import MAX_BATCH_ENTRIES, run_batches
from qworker_sqs.client import SQSClient


async def delete(client: SQSClient, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
    """DeleteMessageBatch in chunks of 10, run concurrently; see :meth:`qworker.backend.Backend.delete`.

    SQS decides: a handle whose message is gone succeeds, a stale one "succeeds" (it may or
    may not delete, SQS-RH-1; ``capabilities.fenced_receipts`` is False), a malformed one or
    another queue's is ``ReceiptHandleIsInvalid``. A handle given twice is sent once.
    """
    handles = list(dict.fromkeys(receipt_handles))
    failed: list[BatchEntryError] = []
    entries: list[dict[str, Any]] = []
    for handle in handles:
        if not isinstance(handle, str) or not handle:
            failed.append(
                BatchEntryError(str(handle), "ReceiptHandleIsInvalid", "The receipt handle is empty.")
            )
        else:
            entries.append({"Id": str(len(entries)), "ReceiptHandle": handle})
    return await _by_handle(client, "DeleteMessageBatch", queue, entries, failed)


async def change_visibility(
    client: SQSClient, queue: str, changes: Sequence[VisibilityChange]
) -> list[BatchEntryError]:
    """ChangeMessageVisibilityBatch in chunks of 10; see :meth:`qworker.backend.Backend.change_visibility`.

    Timeouts outside 0..43200 s fail here (``InvalidParameterValue``) without a call; others
    are rounded up to whole seconds. SQS reports ``MessageNotInflight`` and
    ``ReceiptHandleIsInvalid`` (normalized from ``AWS.SimpleQueueService.*``).
    """
    failed: list[BatchEntryError] = []
    entries: list[dict[str, Any]] = []
    for change in changes:
        handle = change.receipt_handle
        if not isinstance(handle, str) or not handle:
            failed.append(
                BatchEntryError(str(handle), "ReceiptHandleIsInvalid", "The receipt handle is empty.")
            )
            continue
        error = limits.check_visibility_timeout(change.visibility_timeout)
        if error is not None:
            failed.append(BatchEntryError(handle, "InvalidParameterValue", error))
            continue
        entries.append(
            {
                "Id": str(len(entries)),
                "ReceiptHandle": handle,
                "VisibilityTimeout": convert.whole_seconds(change.visibility_timeout),
            }
        )
    return await _by_handle(client, "ChangeMessageVisibilityBatch", queue, entries, failed)


async def _by_handle(
    client: SQSClient, action: str, queue: str, entries: list[dict[str, Any]], failed: list[BatchEntryError]
) -> list[BatchEntryError]:
    """Run ``action`` over ``entries`` in chunks of 10; the failures (``failed`` so far, then
    SQS's), each named by its receipt handle."""
    if not entries:
        return failed
    ref = await client.ref(queue)
    by_id = {e["Id"]: e["ReceiptHandle"] for e in entries}
    chunks = [entries[i : i + MAX_BATCH_ENTRIES] for i in range(0, len(entries), MAX_BATCH_ENTRIES)]
    _, entry_failures = await run_batches(client, action, queue, ref, chunks)
    failed.extend(_keyed_by(entry_failures, by_id))
    return failed


def _keyed_by(failures: list[BatchEntryError], handles: dict[str, str]) -> list[BatchEntryError]:
    """Batch failures carry the batch entry id; the protocol reports the receipt handle."""
    return [
        BatchEntryError(handles.get(f.id, f.id), f.code, f.message, sender_fault=f.sender_fault)
        for f in failures
    ]

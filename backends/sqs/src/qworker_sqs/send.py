"""SendMessageBatch on SQS: entries validated against the queue's attributes before SQS sees
them (:func:`qworker.limits.check_send_entry`: a bad entry fails alone with the same code on
every backend, and never fails a whole SQS batch), cut into chunks of at most 10 entries and
1 MiB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qworker import limits
from qworker.backend import BatchEntryError, QueueSpec, SendBatchResult, SendEntry, SendResult
from qworker_sqs import convert
from qworker_sqs.batches import MAX_BATCH_ENTRIES, run_batches
from qworker_sqs.client import SQSClient

MAX_BATCH_PAYLOAD = limits.MAX_MESSAGE_SIZE  #: SendMessageBatch: 1 MiB for all entries together


async def send(client: SQSClient, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
    """SendMessageBatch in chunks of at most 10 entries and 1 MiB; see :meth:`qworker.backend.Backend.send`.

    Standard queues send their chunks concurrently. FIFO queues send them one after the
    other (SQS-F-5: the entries of one call are enqueued in order); once a chunk fails as a
    whole, or keeps an entry that may succeed on retry, the entries after it are not sent
    (reported failed, ``sender_fault`` False), so no message overtakes one sent before it.
    (Within one chunk SQS decides: an entry retried here lands after the chunk's others.)
    """
    entries = list(entries)
    ids = limits.entry_ids(entries)
    ref = await client.ref(queue)
    if not entries:
        return SendBatchResult([], [])
    cached = ref.spec_is_fresh()
    spec = await client.spec(ref, queue)
    failed, valid = _validate(ids, entries, spec)
    if failed and cached:
        # the cached attributes may be behind a SetQueueAttributes that allows these entries
        await client.load(ref, queue)
        assert ref.spec is not None
        failed, valid = _validate(ids, entries, ref.spec)
    chunks = _size_chunks(valid)
    ok, entry_failures = await run_batches(client, "SendMessageBatch", queue, ref, chunks, ordered=ref.fifo)
    failed.extend(entry_failures)
    by_id = {item["Id"]: convert.send_result(item) for item in ok}
    successful: list[SendResult] = [by_id[entry_id] for entry_id in ids if entry_id in by_id]
    position = {entry_id: index for index, entry_id in enumerate(ids)}
    failed.sort(key=lambda f: position.get(f.id, len(ids)))
    return SendBatchResult(successful, failed)


def _validate(
    ids: list[str], entries: list[SendEntry], spec: QueueSpec
) -> tuple[list[BatchEntryError], list[tuple[dict[str, Any], int]]]:
    """Entries checked against the queue's attributes: the failed ones, and the request entries
    (with their sizes) of the others."""
    failed: list[BatchEntryError] = []
    valid: list[tuple[dict[str, Any], int]] = []
    for entry_id, entry in zip(ids, entries, strict=True):
        error = limits.check_send_entry(entry, entry_id, spec)
        if error is not None:
            failed.append(error)
        else:
            valid.append((convert.send_entry(entry, entry_id), limits.message_size(entry)))
    return failed, valid


def _size_chunks(entries: list[tuple[dict[str, Any], int]]) -> list[list[dict[str, Any]]]:
    """Entries in order, cut into chunks of at most 10 entries and ``MAX_BATCH_PAYLOAD`` bytes."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry, entry_size in entries:
        if current and (len(current) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_PAYLOAD):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks

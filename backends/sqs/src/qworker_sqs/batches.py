"""SQS's ``*Batch`` calls: at most 10 entries each, so bigger calls are split into chunks.

Entries SQS reports with ``SenderFault: false`` are retried a few times with the shared back-off
(:func:`qworker.retry.backoff_delay`) inside the call; what still fails is returned, per entry,
with SQS's code and ``sender_fault`` as SQS said (the runtime retries those again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog

from qworker.backend import BatchEntryError
from qworker.errors import BackendUnavailable, InvalidParameterValue
from qworker.retry import backoff_delay
from qworker_sqs.client import SQSClient
from qworker_sqs.errors import normalize_code
from qworker_sqs.queues import QueueRef

log = structlog.get_logger("qworker.sqs")

T = TypeVar("T")

MAX_BATCH_ENTRIES = 10  #: entries per ``*Batch`` call
#: how many SQS calls one backend call runs at once (receive fan-out, batch chunks)
CALL_FANOUT = 10
#: attempts for batch entries SQS reports with SenderFault=false, and their back-off (s)
ENTRY_ATTEMPTS = 4
ENTRY_BACKOFF_BASE, ENTRY_BACKOFF_CAP = 0.05, 1.0


async def _gather_limited(calls: Sequence[Callable[[], Awaitable[T]]], limit: int = CALL_FANOUT) -> list[T]:
    """Run the calls at most ``limit`` at a time; results in order; the first exception propagates
    once every started call has finished (so no call is left running unobserved)."""
    if len(calls) == 1:
        return [await calls[0]()]
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    results = await asyncio.gather(*(run(call) for call in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


#: what running some chunks gave: successful result entries, failed entries, and the outages
#: of the chunks that failed as a whole with the number of entries they took down
Outcome = tuple[list[dict[str, Any]], list[BatchEntryError], list[BackendUnavailable], int]


async def run_batches(
    client: SQSClient,
    operation: str,
    queue: str,
    ref: QueueRef,
    chunks: list[list[dict[str, Any]]],
    *,
    ordered: bool = False,
) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
    """Run a ``*Batch`` operation over chunks; (successful result entries, failed entries).

    A chunk whose call fails as a whole after the SDK's retries (``BackendUnavailable``) turns
    into per-entry failures with ``sender_fault`` False, so what other chunks did is not
    lost; when every chunk failed that way the error is raised instead. With ``ordered``,
    chunks run one after the other and the first whole failure fails every later entry too.
    """
    if not chunks:
        return [], []
    run = _run_in_order if ordered else _run_at_once
    ok, failed, outages, unsent = await run(client, operation, queue, ref, chunks)
    if outages and unsent == sum(len(chunk) for chunk in chunks):
        raise outages[0]  # nothing reached SQS: the whole call failed
    return ok, failed


async def _run_in_order(
    client: SQSClient, operation: str, queue: str, ref: QueueRef, chunks: list[list[dict[str, Any]]]
) -> Outcome:
    """Chunks one after the other (FIFO sends); stop at the first that failed as a whole or
    kept an entry that may succeed later: an entry must not be overtaken by the ones after it."""
    ok: list[dict[str, Any]] = []
    failed: list[BatchEntryError] = []
    for index, chunk in enumerate(chunks):
        try:
            chunk_ok, chunk_failed = await run_chunk(client, operation, queue, ref, chunk)
        except BackendUnavailable as exc:
            later = [entry for rest in chunks[index:] for entry in rest]
            return ok, [*failed, *_unsent(later, exc)], [exc], len(later)
        ok.extend(chunk_ok)
        failed.extend(chunk_failed)
        transient = next((f for f in chunk_failed if not f.sender_fault), None)
        if transient is not None and index + 1 < len(chunks):
            later = [entry for rest in chunks[index + 1 :] for entry in rest]
            failed.extend(
                BatchEntryError(
                    entry["Id"],
                    transient.code,
                    "Not sent: an earlier entry of this FIFO send failed, and sending the "
                    "later ones would put them before it.",
                    sender_fault=False,
                )
                for entry in later
            )
            break
    return ok, failed, [], 0


async def _run_at_once(
    client: SQSClient, operation: str, queue: str, ref: QueueRef, chunks: list[list[dict[str, Any]]]
) -> Outcome:
    """Chunks concurrently (at most CALL_FANOUT at a time)."""
    outages: list[BackendUnavailable] = []
    unsent = 0

    async def run(chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
        nonlocal unsent
        try:
            return await run_chunk(client, operation, queue, ref, chunk)
        except BackendUnavailable as exc:
            outages.append(exc)
            unsent += len(chunk)
            return [], _unsent(chunk, exc)

    ok: list[dict[str, Any]] = []
    failed: list[BatchEntryError] = []
    for chunk_ok, chunk_failed in await _gather_limited([lambda c=c: run(c) for c in chunks]):
        ok.extend(chunk_ok)
        failed.extend(chunk_failed)
    return ok, failed, outages, unsent


async def run_chunk(
    client: SQSClient, operation: str, queue: str, ref: QueueRef, chunk: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
    """One chunk of at most 10 entries; entries SQS says may succeed on retry are retried.

    A server that refuses a whole batch for one entry (``InvalidParameterValue``: moto does,
    for a message over the queue's MaximumMessageSize or a FIFO entry without a
    deduplication id) gets the entries one by one, so that entry fails alone."""
    pending = chunk
    ok: list[dict[str, Any]] = []
    failed: list[BatchEntryError] = []
    for attempt in range(ENTRY_ATTEMPTS):
        try:
            response = await client.call(operation, queue, QueueUrl=ref.url, Entries=pending)
        except InvalidParameterValue as exc:
            if operation != "SendMessageBatch":
                raise
            if len(pending) == 1:
                failed.append(BatchEntryError(pending[0]["Id"], exc.code, str(exc)))
                return ok, failed
            for entry in pending:
                one_ok, one_failed = await run_chunk(client, operation, queue, ref, [entry])
                ok.extend(one_ok)
                failed.extend(one_failed)
            return ok, failed
        ok.extend(response.get("Successful", ()))
        by_id = {entry["Id"]: entry for entry in pending}
        retry: list[dict[str, Any]] = []
        for item in response.get("Failed", ()):
            sender_fault = bool(item.get("SenderFault", True))
            if not sender_fault and attempt < ENTRY_ATTEMPTS - 1 and item["Id"] in by_id:
                retry.append(by_id[item["Id"]])
                continue
            failed.append(
                BatchEntryError(
                    id=item["Id"],
                    code=normalize_code(str(item.get("Code") or "InternalError")),
                    message=str(item.get("Message") or item.get("Code") or ""),
                    sender_fault=sender_fault,
                )
            )
        if not retry:
            break
        log.info("sqs.retrying_entries", operation=operation, queue=queue, entries=len(retry))
        await asyncio.sleep(backoff_delay(attempt, base=ENTRY_BACKOFF_BASE, cap=ENTRY_BACKOFF_CAP))
        pending = retry
    return ok, failed


def _unsent(entries: list[dict[str, Any]], exc: BackendUnavailable) -> list[BatchEntryError]:
    return [BatchEntryError(entry["Id"], exc.code, str(exc), sender_fault=False) for entry in entries]

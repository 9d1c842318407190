"""SendMessage and SendMessageBatch.

SendMessage is the hot path (DESIGN: 10,000 a second from one process on Redis): the entry joins
the backend ``send`` of its event-loop turn (:mod:`qworker.serve.batcher`), and the answer is a
small dict. The backend validates each entry against
the queue's attributes (SPEC SQS-L-*, SQS-F-*) with SQS's codes and texts; a failed entry of a
SendMessage is the call's error, of a SendMessageBatch a ``Failed`` entry.
"""

from __future__ import annotations

from typing import Any

from qworker.backend import BatchEntryError, SendEntry, SendResult
from qworker.limits import MAX_MESSAGE_SIZE, message_size
from qworker.serve import messages
from qworker.serve.actions import batches
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, invalid_parameter
from qworker.serve.service import Service

#: a backend entry code -> the JSON shape name of the SendMessage error
_CALL_ERRORS = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "InvalidMessageContents": "InvalidMessageContents",
}
_ONE_INVALID = "One or more parameters are invalid."
_BATCH_INVALID = "One or more parameters cannot be validated."


def _entry_error(failed: BatchEntryError) -> SQSError:
    name = _CALL_ERRORS.get(failed.code)
    if name is None:
        return SQSError("InternalFailure" if not failed.sender_fault else failed.code, failed.message)
    return SQSError(name, failed.message)


def _sent(ok: SendResult, entry: SendEntry, batch: bool = False) -> dict[str, Any]:
    """A SendMessageResult, or with ``batch`` a SendMessageBatchResultEntry (its ``Id`` first)."""
    out: dict[str, Any] = (
        {"Id": ok.id, "MD5OfMessageBody": ok.md5_of_message_body, "MessageId": ok.message_id}
        if batch
        else {"MD5OfMessageBody": ok.md5_of_message_body, "MessageId": ok.message_id}
    )
    if ok.md5_of_message_attributes:
        out["MD5OfMessageAttributes"] = ok.md5_of_message_attributes
    if entry.trace_header is not None:
        out["MD5OfMessageSystemAttributes"] = messages.md5_of_system_attributes(entry.trace_header)
    if ok.sequence_number:
        out["SequenceNumber"] = ok.sequence_number
    return out


async def send_message(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    entry = messages.send_entry(call.params, None, name.endswith(".fifo"), call.trace)
    result = await svc.batcher.send(name, entry)
    if isinstance(result, BatchEntryError):
        raise _entry_error(result)
    return _sent(result, entry)


async def send_message_batch(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    raw = call.entries()
    ids = batches.check_entries(raw, "SendMessageBatch")
    fifo = name.endswith(".fifo")
    if fifo:
        await _check_fifo_batch(svc, name, raw)
    failed: list[dict[str, Any]] = []
    entries: list[SendEntry] = []
    for entry_id, params in zip(ids, raw, strict=True):
        try:
            entries.append(messages.send_entry(params, entry_id, fifo, call.trace))
        except SQSError as exc:
            failed.append(batches.from_error(entry_id, exc))
    _check_batch_size(entries)
    successful: list[dict[str, Any]] = []
    if entries:
        result = await svc.backend.send(name, entries)
        by_id = {entry.id: entry for entry in entries}
        for ok in result.successful:
            successful.append(_sent(ok, by_id[ok.id], batch=True))
        for error in result.failed:
            text = error.message.replace(_ONE_INVALID, _BATCH_INVALID, 1)
            failed.append(batches.failure(error.id, error.code, text, error.sender_fault))
    if len(failed) > 1:
        order = {entry_id: index for index, entry_id in enumerate(ids)}
        failed.sort(key=lambda item: order.get(item["Id"], len(ids)))
    return batches.result(successful, failed)


def _check_batch_size(entries: list[SendEntry]) -> None:
    """SQS's cap on a batch's bytes. A character is at most 4 bytes of UTF-8, so bodies without
    attributes whose characters are few enough need no byte count."""
    if sum(len(entry.body) for entry in entries) * 4 <= MAX_MESSAGE_SIZE and not any(
        entry.message_attributes for entry in entries
    ):
        return
    total = sum(message_size(entry) for entry in entries)
    if total > MAX_MESSAGE_SIZE:
        raise SQSError(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {MAX_MESSAGE_SIZE} bytes. You have sent {total} bytes.",
        )


async def _check_fifo_batch(svc: Service, name: str, raw: list[dict[str, Any]]) -> None:
    """On a FIFO queue SQS refuses the whole batch when an entry lacks its group id, or its
    deduplication id while content-based deduplication is off."""
    if any(not entry.get("MessageGroupId") for entry in raw):
        raise invalid_parameter("The request must contain the parameter MessageGroupId.")
    if any(not entry.get("MessageDeduplicationId") for entry in raw):
        info = await svc.get_queue(name)
        if not info.spec.content_based_deduplication:
            raise invalid_parameter(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )

"""DeleteMessage(Batch) and ChangeMessageVisibility(Batch).

The backend reports a failed handle by the handle itself; the batch actions map it back to the
entries that carried it. A stale receipt handle (the message was received again since) deletes
nothing on qworker's backends and is reported as ``ReceiptHandleIsStale``; SQS answers such a
delete with success ("it might or might not delete"), so the API does too. A visibility change
for a message that is no longer in flight is ``AWS.SimpleQueueService.MessageNotInflight``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qworker.backend import BatchEntryError, VisibilityChange
from qworker.serve.actions import batches
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, invalid_value, missing_parameter
from qworker.serve.service import Service

STALE = "ReceiptHandleIsStale"


def _invalid_handle(handle: str) -> SQSError:
    return SQSError(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


def _call_error(failed: BatchEntryError, handle: str) -> SQSError | None:
    if failed.code == STALE:
        return None
    if failed.code == "ReceiptHandleIsInvalid":
        return _invalid_handle(handle)
    if failed.code == "MessageNotInflight":
        return SQSError(
            "MessageNotInflight", "Message does not exist or is not available for visibility timeout change."
        )
    if failed.code == "InvalidParameterValue":
        return SQSError("InvalidParameterValueException", failed.message)
    return SQSError(failed.code if failed.sender_fault else "InternalFailure", failed.message)


def _raise_for(failed: BatchEntryError | None, handle: str) -> None:
    """Raise the SQS error of a single-handle call's failure (none for a stale handle)."""
    if failed is not None:
        error = _call_error(failed, handle)
        if error is not None:
            raise error


def _entry_failure(entry_id: str, failed: BatchEntryError, handle: str) -> dict[str, Any] | None:
    error = _call_error(failed, handle)
    return None if error is None else batches.from_error(entry_id, error)


def _entry_handle(entry: dict[str, Any]) -> str:
    handle = entry.get("ReceiptHandle")
    if not isinstance(handle, str) or not handle:
        raise missing_parameter("ReceiptHandle")
    return handle


def _sort_out(
    entries: Iterable[tuple[str, str]], problems: dict[str, BatchEntryError], failed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The successful entries of a batch's (entry id, handle) pairs, by the backend's failures by
    handle; the failed ones are added to ``failed`` (a stale handle succeeds: see _call_error)."""
    if not problems:
        return [{"Id": entry_id} for entry_id, _ in entries]
    successful = []
    for entry_id, handle in entries:
        problem = problems.get(handle)
        entry_failure = None if problem is None else _entry_failure(entry_id, problem, handle)
        if entry_failure is None:
            successful.append({"Id": entry_id})
        else:
            failed.append(entry_failure)
    return successful


async def delete_message(svc: Service, call: Call) -> None:
    name = call.queue_name()
    handle = call.required_string("ReceiptHandle")
    if not handle:
        raise missing_parameter("ReceiptHandle")
    _raise_for(await svc.batcher.delete(name, handle), handle)


async def delete_message_batch(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    raw = call.entries()
    ids = batches.check_entries(raw, "DeleteMessageBatch")
    handles: dict[str, str] = {}
    failed: list[dict[str, Any]] = []
    for entry_id, entry in zip(ids, raw, strict=True):
        try:
            handles[entry_id] = _entry_handle(entry)
        except SQSError as exc:
            failed.append(batches.from_error(entry_id, exc))
    problems = {f.id: f for f in await svc.backend.delete(name, list(handles.values()))} if handles else {}
    successful = _sort_out(handles.items(), problems, failed)
    return batches.result(successful, failed)


def _timeout(value: Any) -> int:
    if value is None:
        raise missing_parameter("VisibilityTimeout")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_value("VisibilityTimeout", value, "must be an integer.")
    return value


async def change_message_visibility(svc: Service, call: Call) -> None:
    name = call.queue_name()
    handle = call.required_string("ReceiptHandle")
    timeout = _timeout(call.params.get("VisibilityTimeout"))
    failed = await svc.backend.change_visibility(name, [VisibilityChange(handle, timeout)])
    _raise_for(failed[0] if failed else None, handle)


async def change_message_visibility_batch(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    raw = call.entries()
    ids = batches.check_entries(raw, "ChangeMessageVisibilityBatch")
    changes: list[tuple[str, VisibilityChange]] = []
    failed: list[dict[str, Any]] = []
    for entry_id, entry in zip(ids, raw, strict=True):
        try:
            handle = _entry_handle(entry)
            changes.append((entry_id, VisibilityChange(handle, _timeout(entry.get("VisibilityTimeout")))))
        except SQSError as exc:
            failed.append(batches.from_error(entry_id, exc))
    problems = await _change_all(svc, name, [change for _, change in changes])
    successful = _sort_out(
        ((entry_id, change.receipt_handle) for entry_id, change in changes), problems, failed
    )
    order = {entry_id: index for index, entry_id in enumerate(ids)}
    failed.sort(key=lambda item: order[item["Id"]])
    return batches.result(successful, failed)


async def _change_all(svc: Service, name: str, changes: list[VisibilityChange]) -> dict[str, BatchEntryError]:
    """The failures by handle: one backend call, or one per entry when a handle is repeated (its
    failures could not be told apart)."""
    if not changes:
        return {}
    if len({change.receipt_handle for change in changes}) == len(changes):
        return {f.id: f for f in await svc.backend.change_visibility(name, changes)}
    problems: dict[str, BatchEntryError] = {}
    for change in changes:
        for problem in await svc.backend.change_visibility(name, [change]):
            problems.setdefault(problem.id, problem)
    return problems

"""What every ``*Batch`` action checks before any entry runs, and how entry failures are written.

SQS fails the whole call for a malformed batch (no entries, more than 10, a bad or repeated
``Id``) and reports everything else per entry, with ``SenderFault``.
"""

from __future__ import annotations

import re
from typing import Any

from qworker.backend import BatchEntryError
from qworker.serve.errors import SQSError, entry_error_name

MAX_ENTRIES = 10
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_entries(entries: list[dict[str, Any]], action: str) -> list[str]:
    """The entries' ids, after SQS's whole-call checks (``action``: ``SendMessageBatch``, ...)."""
    if not entries:
        raise SQSError(
            "EmptyBatchRequest", f"There should be at least one {action}RequestEntry in the request."
        )
    if len(entries) > MAX_ENTRIES:
        raise SQSError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_ENTRIES}. You have sent {len(entries)}.",
        )
    ids: list[str] = []
    for entry in entries:
        entry_id = entry.get("Id")
        if type(entry_id) is not str or entry_id not in _valid_ids:
            _check_id(entry_id)
        ids.append(entry_id)
    if len(set(ids)) != len(ids):
        raise SQSError(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )
    return ids


#: ids found valid: clients number their entries alike ("0".."9", "msg-1", ...), so most ids
#: are checked once, not in every request
_valid_ids: set[str] = set()
_MAX_VALID_IDS = 4096


def _check_id(entry_id: object) -> None:
    if not isinstance(entry_id, str) or not _ENTRY_ID.fullmatch(entry_id):
        raise SQSError(
            "InvalidBatchEntryId",
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
            "It can be at most 80 letters long.",
        )
    if len(_valid_ids) >= _MAX_VALID_IDS:
        _valid_ids.clear()
    _valid_ids.add(entry_id)


def failure(entry_id: str, code: str, message: str, sender_fault: bool = True) -> dict[str, Any]:
    """A ``BatchResultErrorEntry``."""
    return {"Id": entry_id, "SenderFault": sender_fault, "Code": entry_error_name(code), "Message": message}


def from_error(entry_id: str, error: SQSError) -> dict[str, Any]:
    return failure(entry_id, error.query_code, error.message, error.sender_fault)


def from_backend(entry_id: str, error: BatchEntryError) -> dict[str, Any]:
    return failure(entry_id, error.code, error.message, error.sender_fault)


def result(successful: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``*BatchResult``; SQS leaves an empty list out."""
    out: dict[str, Any] = {}
    if successful:
        out["Successful"] = successful
    if failed:
        out["Failed"] = failed
    return out

"""Reading a handler's return value as a partial batch response (``ReportBatchItemFailures``).

With ``FunctionResponseTypes: [ReportBatchItemFailures]`` Lambda reads the function's response
``{"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}``: listed messages are kept for a
retry, the others are deleted (SPEC ESM-P-2). Everything else decides between "all succeeded" and
"all failed" by the rules ESM-P-3, ESM-P-4 and ESM-P-7. AWS never says which rule failed a batch;
:func:`interpret_response` names it in :attr:`BatchOutcome.reason` (SPEC §6.1).

**What the handler's value means.** Lambda's Python runtime serializes the return value to JSON
(simplejson, ``awslambdaric/lambda_runtime_marshaller.py``) and the event source mapping parses
that JSON. qworker reads the value as that JSON would read:

* dicts and lists/tuples as objects and arrays; a namedtuple (anything with an ``_asdict()``
  method) as an object; ``bytes`` inside the value as UTF-8 text; ``Decimal`` as a number; dict
  keys that are numbers, booleans or ``None`` as their JSON text. A top-level ``bytes`` value is
  the raw response payload, parsed as JSON.
* A value the runtime cannot serialize (a pydantic model, a dataclass, a set, a circular or
  too deeply nested structure, a key of another type) fails the invocation in Lambda with
  ``Runtime.MarshalError``: a full failure *and* a function error (ESM-P-5). So is a response
  over Lambda's 6 MB response quota (``Function.ResponseSizeTooLarge``). Return
  ``model.model_dump()`` rather than a pydantic model.
* ``NaN``/``Infinity`` are written by the runtime but are not JSON: an invalid response (ESM-P-4).

**ESM-P-7, decided** (AWS leaves these open; the rule is SPEC's recommendation, and every choice
fails safe: a message is kept, never deleted, when the response is doubtful):

* valid JSON that is not an object (an array, even ``[]``; a number; a string; a boolean): full
  failure.
* an object without a ``batchItemFailures`` key but with other keys (``{"statusCode": 200}``): full
  failure. Only ``{}`` and ``null`` mean success.
* ``batchItemFailures`` neither ``null`` nor an array; an item that is not an object; an
  ``itemIdentifier`` that is not a string: full failure.
* the same ``itemIdentifier`` listed twice: counted once.
* extra keys, beside ``batchItemFailures`` or inside an item: ignored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any

from qworker.backend import ReceivedMessage
from qworker.response_json import (
    MarshalFailure,
    NotJson,
    Rejected,
    TooLarge,
    clip,
    response_json,
    where,
)

#: Lambda's synchronous response quota (6 MB); a larger response fails the invocation.
_KEY = "batchItemFailures"
_ITEM_KEY = "itemIdentifier"
_SHOWN = 80  # characters of a value quoted in a reason


class Verdict(enum.Enum):
    """What happens to the batch's messages."""

    SUCCESS = "success"  #: delete every message
    PARTIAL = "partial"  #: keep ``failed_ids``, delete the others
    FAILURE = "failure"  #: keep every message


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """How a batch ended, and why.

    ``failed_ids`` are the messages to keep for a retry: none for ``SUCCESS``, the listed ones
    for ``PARTIAL``, every message of the batch for ``FAILURE``. Everything else is deleted.
    """

    verdict: Verdict
    failed_ids: frozenset[str]
    reason: str  #: names the SPEC rule that decided, e.g. ``ESM-P-4: ...``
    #: ESM-P-8: a partial response listing every message. Nothing is deleted, like a failure,
    #: but it is not a function error (metrics: ``all_items_failed``, not ``invocation_error``)
    all_items_failed: bool = False
    #: the invocation failed (exception, timeout, marshal error): counts as a Lambda function
    #: error for metrics and back-off (ESM-P-5, ESM-P-6)
    function_error: bool = False
    #: ids :func:`fifo_strict` added to ``failed_ids``, in batch order
    fifo_added: tuple[str, ...] = ()

    @classmethod
    def success(cls, reason: str) -> BatchOutcome:
        """Every message succeeded (ESM-F-1, ESM-P-1, ESM-P-3)."""
        return cls(Verdict.SUCCESS, frozenset(), reason)

    @classmethod
    def failure(cls, batch_message_ids: Iterable[str], reason: str, *, function_error: bool) -> BatchOutcome:
        """Every message is kept: after a function error (ESM-P-5), or an invalid response (ESM-P-4)."""
        return cls(Verdict.FAILURE, frozenset(batch_message_ids), reason, function_error=function_error)

    def to_delete(self, message_ids: Iterable[str]) -> list[str]:
        """The ids of ``message_ids`` to delete, in their order."""
        if self.verdict is Verdict.FAILURE:
            return []
        failed = self.failed_ids
        return [message_id for message_id in message_ids if message_id not in failed]


_NONE_RESPONSE = BatchOutcome.success("ESM-P-3: the handler returned None (null): every message succeeded")


def interpret_response(value: object, batch_message_ids: Collection[str]) -> BatchOutcome:
    """Read a handler's return value under ``ReportBatchItemFailures`` (ESM-P-2..8).

    ``batch_message_ids`` are the message ids of the invocation's records. Never raises: any
    value, however odd, gives an outcome whose ``reason`` says which rule decided.
    """
    if value is None:  # the common case, answered before any conversion
        return _NONE_RESPONSE
    ids = batch_message_ids if isinstance(batch_message_ids, Set) else frozenset(batch_message_ids)
    try:
        response = response_json(value)
    except TooLarge as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-5: {error}: Lambda fails the invocation (Function.ResponseSizeTooLarge), "
            "a function error",
            function_error=True,
        )
    except MarshalFailure as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-4/ESM-P-5: the return value cannot be serialized to JSON ({error}{where(error.path)}); "
            "in Lambda this fails the invocation with Runtime.MarshalError, a function error",
            function_error=True,
        )
    except NotJson as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-4: the response is not valid JSON ({error}{where(error.path)})",
            function_error=False,
        )
    except Exception as error:  # a hostile object (raising __getattr__, items(), ...)
        return BatchOutcome.failure(
            ids,
            "ESM-P-4/ESM-P-5: the return value cannot be serialized to JSON "
            f"({type(error).__name__}: {clip(str(error))}); in Lambda this fails the invocation "
            "with Runtime.MarshalError, a function error",
            function_error=True,
        )
    try:
        return _read(response, ids, value)
    except Rejected as rejection:
        return BatchOutcome.failure(ids, str(rejection), function_error=False)


def _read(response: Any, ids: Set[str], original: object) -> BatchOutcome:
    """Apply ESM-P-2..4, 7 and 8 to the JSON form of a response."""
    if response is None:
        return BatchOutcome.success("ESM-P-3: the response is null: every message succeeded")
    if not isinstance(response, dict):
        raise Rejected(f"ESM-P-7: the response is {_kind(response)}, not an object{_hint(original)}")
    if _KEY not in response:
        if not response:
            return BatchOutcome.success("ESM-P-3: the response is an empty object: every message succeeded")
        keys = ", ".join(sorted(clip(key, 40) for key in response)[:10])
        raise Rejected(
            f"ESM-P-7: the response object has no {_KEY} key (its keys: {keys}); only null and {{}} "
            "mean success"
        )
    items = response[_KEY]
    if items is None:
        return BatchOutcome.success(f"ESM-P-3: {_KEY} is null: every message succeeded")
    if not isinstance(items, list):
        raise Rejected(f"ESM-P-7: {_KEY} is {_kind(items)}, not an array")
    if not items:
        return BatchOutcome.success(f"ESM-P-3: {_KEY} is empty: every message succeeded")
    failed: dict[str, None] = {}  # ordered set
    for index, item in enumerate(items):
        where = f"{_KEY}[{index}]"
        if not isinstance(item, dict):
            raise Rejected(
                f'ESM-P-7: {where} is {_kind(item)}, not an object {{"{_ITEM_KEY}": "<messageId>"}}'
            )
        if _ITEM_KEY not in item:
            keys = ", ".join(sorted(clip(key, 40) for key in item)[:10]) or "none"
            raise Rejected(f"ESM-P-4: {where} has no {_ITEM_KEY} key (its keys: {keys})")
        identifier = item[_ITEM_KEY]
        if identifier is None:
            raise Rejected(f"ESM-P-4: {where}.{_ITEM_KEY} is null")
        if not isinstance(identifier, str):
            raise Rejected(f"ESM-P-7: {where}.{_ITEM_KEY} is {_kind(identifier)}, not a message id string")
        if identifier == "":
            raise Rejected(f"ESM-P-4: {where}.{_ITEM_KEY} is an empty string")
        if identifier not in ids:
            raise Rejected(
                f"ESM-P-4: {_ITEM_KEY} {json.dumps(clip(identifier))} ({where}) "
                "is not a message id of this batch"
            )
        failed[identifier] = None
    duplicates = len(items) - len(failed)
    note = f" (ESM-P-7: {duplicates} duplicate {_ITEM_KEY}{'s' if duplicates > 1 else ''} counted once)"
    note = note if duplicates else ""
    if len(failed) == len(ids):
        return BatchOutcome(
            Verdict.PARTIAL,
            frozenset(failed),
            f"ESM-P-8: every message of the batch ({len(ids)}) is listed in {_KEY}: none is deleted; "
            f"not a function error{note}",
            all_items_failed=True,
        )
    return BatchOutcome(
        Verdict.PARTIAL,
        frozenset(failed),
        f"ESM-P-2: {len(failed)} of {len(ids)} messages listed in {_KEY} are kept, the others deleted{note}",
    )


def _kind(value: object) -> str:
    """A JSON value's type in words, with a clipped sample."""
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, int | float):
        return f"a number ({clip(json.dumps(value))})"
    if isinstance(value, str):
        return f"a string ({json.dumps(clip(value))})"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _hint(original: object) -> str:
    """Why a top-level string is most likely wrong: it was ``json.dumps``'d."""
    if isinstance(original, str) and original.lstrip().startswith("{"):
        return " (the handler returned a str that looks like JSON text: return the dict, not json.dumps(...))"
    return ""


def mode_off_warning(value: object) -> str | None:
    """The warning for a response that lists failures while ``ReportBatchItemFailures`` is off.

    Without the setting Lambda ignores the response and deletes every message of a batch that
    did not raise (ESM-P-1), the most reported pitfall of SQS triggers (SPEC §6.1). Returns the
    text to log loudly, or ``None`` when the response lists no failures. Never raises.
    """
    try:
        listed = _listed_failures(value)
    except Exception:
        return None
    if not listed:
        return None
    return (
        f"The handler returned {_KEY} listing {listed} message{'' if listed == 1 else 's'}, but "
        "ReportBatchItemFailures is off: as on Lambda, the response is ignored and EVERY message "
        "of the batch is deleted, the listed ones included (ESM-P-1). To keep failed messages for "
        "a retry, turn partial batch responses on (--report-batch-item-failures, "
        "FunctionResponseTypes: [ReportBatchItemFailures])."
    )


def _listed_failures(value: object) -> int:
    if isinstance(value, str):
        if _KEY not in value:
            return 0
        value = json.loads(value)
    elif isinstance(value, bytes):
        if _KEY.encode() not in value:
            return 0
        value = json.loads(value)
    if not isinstance(value, Mapping):
        as_dict = getattr(value, "_asdict", None)
        if as_dict is None or not callable(as_dict):
            return 0
        value = as_dict()
        if not isinstance(value, Mapping):
            return 0
    items = value.get(_KEY)
    if isinstance(items, list | tuple):
        return len(items)
    return 0


def fifo_strict(
    outcome: BatchOutcome, records_in_order: Sequence[ReceivedMessage | Mapping[str, Any]]
) -> BatchOutcome:
    """Enforce "stop at the first failure" per message group (ESM-FIFO-5; a qworker option).

    On a FIFO queue, AWS asks the handler to report every message after the first failure as
    failed too, but Lambda deletes whatever is not listed, so a handler that gets this wrong
    breaks the group's order. With ``fifo_strict`` on, every message that follows a failed
    message *of the same group* in the batch is kept as well, even if the handler reported it
    as a success. Messages of other groups, and messages without a ``MessageGroupId``, are not
    touched. Only a ``PARTIAL`` outcome can change; the added ids are in ``fifo_added``, and the
    reason says so (log it as a warning: the handler processed messages that will run again).

    ``records_in_order`` is the batch in the order the handler saw it. Prefer the
    :class:`~qworker.backend.ReceivedMessage` objects: a handler may have edited its record dicts.
    """
    if outcome.verdict is not Verdict.PARTIAL:
        return outcome
    failed = set(outcome.failed_ids)
    stopped: dict[str, None] = {}  # groups that had a failure, in batch order
    added: list[str] = []
    batch_ids: set[str] = set()
    for record in records_in_order:
        message_id, group = _id_and_group(record)
        batch_ids.add(message_id)
        if group is None:
            continue
        if group in stopped:
            if message_id not in failed:
                failed.add(message_id)
                added.append(message_id)
        elif message_id in failed:
            stopped[group] = None
    if not added:
        return outcome
    groups = ", ".join(json.dumps(clip(group, 40)) for group in list(stopped)[:5])
    reason = (
        f"{outcome.reason}; ESM-FIFO-5 (fifo_strict): {len(added)} later message"
        f"{'' if len(added) == 1 else 's'} of group{'' if len(stopped) == 1 else 's'} {groups} "
        "reported as success also kept, to preserve the group's order"
    )
    all_failed = batch_ids <= failed
    if all_failed:
        reason += " (ESM-P-8: now every message of the batch is kept; not a function error)"
    return replace(
        outcome,
        failed_ids=frozenset(failed),
        reason=reason,
        all_items_failed=all_failed,
        fifo_added=outcome.fifo_added + tuple(added),
    )


def _id_and_group(record: ReceivedMessage | Mapping[str, Any]) -> tuple[str, str | None]:
    if isinstance(record, ReceivedMessage):
        return record.message_id, record.message_group_id
    attributes = record.get("attributes") or {}
    return record["messageId"], attributes.get("MessageGroupId")

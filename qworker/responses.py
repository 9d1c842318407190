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
import math
from collections.abc import Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _encode_ascii
from typing import Any

from qworker.backend import ReceivedMessage

#: Lambda's synchronous response quota (6 MB); a larger response fails the invocation.
MAX_RESPONSE_BYTES = 6_291_456

#: Deepest nesting the runtime's encoder gets through before Python's recursion limit (1000, less
#: the runtime's own frames) stops it; approximate.
MAX_DEPTH = 980

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


class _MarshalError(Exception):
    """The runtime could not serialize the value: Lambda's ``Runtime.MarshalError``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str | int | None] = []


class _TooLarge(Exception):
    """The serialized response is over Lambda's response quota."""


class _NotJson(Exception):
    """The serialized value would not parse as JSON (``NaN``, ``Infinity``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str | int | None] = []


class _Reject(Exception):
    """The response is valid JSON but fails the batch; carries the reason."""


def interpret_response(value: object, batch_message_ids: Collection[str]) -> BatchOutcome:
    """Read a handler's return value under ``ReportBatchItemFailures`` (ESM-P-2..8).

    ``batch_message_ids`` are the message ids of the invocation's records. Never raises: any
    value, however odd, gives an outcome whose ``reason`` says which rule decided.
    """
    if value is None:  # the common case, answered before any conversion
        return _NONE_RESPONSE
    ids = batch_message_ids if isinstance(batch_message_ids, Set) else frozenset(batch_message_ids)
    try:
        response = _response_json(value)
    except _TooLarge as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-5: {error}: Lambda fails the invocation (Function.ResponseSizeTooLarge), "
            "a function error",
            function_error=True,
        )
    except _MarshalError as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-4/ESM-P-5: the return value cannot be serialized to JSON ({error}{_where(error.path)}); "
            "in Lambda this fails the invocation with Runtime.MarshalError, a function error",
            function_error=True,
        )
    except _NotJson as error:
        return BatchOutcome.failure(
            ids,
            f"ESM-P-4: the response is not valid JSON ({error}{_where(error.path)})",
            function_error=False,
        )
    except Exception as error:  # a hostile object (raising __getattr__, items(), ...)
        return BatchOutcome.failure(
            ids,
            "ESM-P-4/ESM-P-5: the return value cannot be serialized to JSON "
            f"({type(error).__name__}: {_clip(str(error))}); in Lambda this fails the invocation "
            "with Runtime.MarshalError, a function error",
            function_error=True,
        )
    try:
        return _read(response, ids, value)
    except _Reject as rejection:
        return BatchOutcome.failure(ids, str(rejection), function_error=False)


def marshal_error(value: object) -> str | None:
    """Why Lambda's Python runtime would fail to send this return value, or ``None`` if it would not.

    A value the runtime cannot serialize fails the invocation (``Runtime.MarshalError``), and so
    does a response over the 6 MB quota (``Function.ResponseSizeTooLarge``), whether or not
    partial batch responses are on: both are function errors. ``NaN`` is written by the runtime
    (only a partial-response reader rejects it), so it is not an error here.
    """
    if value is None or type(value) in (str, int, float, bool):
        return None
    try:
        _response_json(value)
    except _TooLarge as error:
        return f"Function.ResponseSizeTooLarge: {error}"
    except _MarshalError as error:
        return f"Runtime.MarshalError: Unable to marshal response: {error}{_where(error.path)}"
    except _NotJson:
        return None
    except Exception as error:  # a hostile object (raising __getattr__, items(), ...)
        return (
            f"Runtime.MarshalError: Unable to marshal response: {type(error).__name__}: {_clip(str(error))}"
        )
    return None


def _response_json(value: object) -> Any:
    """The value as the event source mapping reads it after the runtime serialized it."""
    if isinstance(value, bytes):  # the runtime sends bytes as the raw payload
        if len(value) > MAX_RESPONSE_BYTES:
            raise _TooLarge(_too_large(len(value)))
        try:
            return json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:  # bad JSON, not UTF-8, NaN, too deep
            raise _NotJson(f"{type(error).__name__}: {_clip(str(error))}") from None
    form, size = _json_form(value)
    if size > MAX_RESPONSE_BYTES:
        raise _TooLarge(_too_large(size))
    return form


def _too_large(size: int) -> str:
    return f"the response is {size:,} bytes, over Lambda's {MAX_RESPONSE_BYTES:,}-byte response quota"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json_form(value: object) -> tuple[Any, int]:
    """``value`` in plain JSON types as the runtime's simplejson encoder sees it, and its size.

    The size is the bytes the runtime writes: ASCII escapes and ``", "``/``": "`` separators.
    Iterative, so nesting is limited by :data:`MAX_DEPTH` (where the runtime's encoder runs out
    of recursion), not by how deep the caller's stack already is.
    """
    active: set[int] = set()  # containers on the current path: a repeat is a cycle
    root, frame, size = _start(value, active, 0)
    stack: list[_Frame] = [] if frame is None else [frame]
    try:
        while stack:
            top = stack[-1]
            entry = next(top.entries, _DONE)
            if entry is _DONE:
                active.discard(top.marker)
                stack.pop()
                continue
            if top.count:
                size += 2  # ", "
            top.count += 1
            if top.is_object:
                key, item = entry
                top.position = None
                name = _key_text(key)
                top.position = name
                converted, child, item_size = _start(item, active, len(stack))
                top.out[name] = converted
                size += len(_encode_ascii(name)) + 2 + item_size  # "key": value
            else:
                top.position = top.count - 1
                converted, child, item_size = _start(entry, active, len(stack))
                top.out.append(converted)
                size += item_size
            if child is not None:
                stack.append(child)
    except (_MarshalError, _NotJson) as error:
        error.path = [frame.position for frame in stack]
        raise
    return root, size


_DONE = object()


class _Frame:
    """A container being converted: its output, the entries left, and the current key or index."""

    __slots__ = ("count", "entries", "is_object", "marker", "out", "position")

    def __init__(self, out: Any, entries: Any, marker: int, is_object: bool) -> None:
        self.out = out
        self.entries = entries
        self.marker = marker
        self.is_object = is_object
        self.count = 0
        self.position: str | int | None = None


def _start(obj: object, active: set[int], depth: int) -> tuple[Any, _Frame | None, int]:
    """A scalar's JSON form and size, or a new empty container plus the frame that fills it."""
    if isinstance(obj, str):
        text = obj if type(obj) is str else str.__str__(obj)
        return text, None, len(_encode_ascii(text))
    if obj is None or obj is True:
        return obj, None, 4
    if obj is False:
        return obj, None, 5
    if isinstance(obj, int):
        number = obj if type(obj) is int else int.__int__(obj)
        try:
            return number, None, len(int.__repr__(number))
        except ValueError as error:  # more digits than Python prints: the runtime fails too
            raise _MarshalError(_clip(str(error))) from None
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise _NotJson(f"{float.__repr__(obj)} is not valid JSON")
        number = obj if type(obj) is float else float.__float__(obj)
        return number, None, len(float.__repr__(number))
    if isinstance(obj, bytes):  # simplejson decodes bytes with its encoding, utf-8
        try:
            text = obj.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _MarshalError(f"bytes that are not UTF-8: {error.reason}") from None
        return text, None, len(_encode_ascii(text))
    if isinstance(obj, list):
        return _container([], iter(obj), obj, active, depth, is_object=False)
    as_dict = getattr(obj, "_asdict", None)  # simplejson's namedtuple_as_object, on any object
    if as_dict is not None and callable(as_dict):
        mapping = as_dict()
        if not isinstance(mapping, dict):
            kind = type(mapping).__name__
            raise _MarshalError(f"{type(obj).__name__}._asdict() returned {kind}, not a dict")
        return _container({}, iter(mapping.items()), mapping, active, depth, is_object=True)
    if isinstance(obj, tuple):
        return _container([], iter(obj), obj, active, depth, is_object=False)
    if isinstance(obj, dict):
        return _container({}, iter(obj.items()), obj, active, depth, is_object=True)
    if isinstance(obj, Decimal):  # the runtime's encoder writes Decimals as numbers: str(obj)
        if obj.is_nan() or obj.is_infinite():
            raise _NotJson(f"Decimal {obj} is not valid JSON")
        number = float(obj)
        return (number if math.isfinite(number) else 0), None, len(str(obj))
    raise _MarshalError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _container(
    out: Any, entries: Any, source: object, active: set[int], depth: int, *, is_object: bool
) -> tuple[Any, _Frame, int]:
    if depth >= MAX_DEPTH:
        raise _MarshalError(f"nested more than {MAX_DEPTH} levels deep (maximum recursion depth exceeded)")
    marker = id(source)
    if marker in active:
        raise _MarshalError("Circular reference detected")
    active.add(marker)
    return out, _Frame(out, entries, marker, is_object), 2  # the brackets


def _key_text(key: object) -> str:
    """A dict key as simplejson writes it (``skipkeys`` off: other types are an error)."""
    if isinstance(key, str):
        return key if type(key) is str else str.__str__(key)
    if isinstance(key, bytes):
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _MarshalError(f"a bytes key that is not UTF-8: {error.reason}") from None
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        if math.isinf(key):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    raise _MarshalError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _where(path: list[str | int | None]) -> str:
    """``path`` (keys and indexes from the top) as ``$.a[0]["b c"]``; empty when unknown."""
    if not path:
        return ""
    text = "$"
    for step in path:
        if step is None:
            break
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if step.isidentifier() else f"[{json.dumps(_clip(step, 40))}]"
    return f" at {text}"


def _read(response: Any, ids: Set[str], original: object) -> BatchOutcome:
    """Apply ESM-P-2..4, 7 and 8 to the JSON form of a response."""
    if response is None:
        return BatchOutcome.success("ESM-P-3: the response is null: every message succeeded")
    if not isinstance(response, dict):
        raise _Reject(f"ESM-P-7: the response is {_kind(response)}, not an object{_hint(original)}")
    if _KEY not in response:
        if not response:
            return BatchOutcome.success("ESM-P-3: the response is an empty object: every message succeeded")
        keys = ", ".join(sorted(_clip(key, 40) for key in response)[:10])
        raise _Reject(
            f"ESM-P-7: the response object has no {_KEY} key (its keys: {keys}); only null and {{}} "
            "mean success"
        )
    items = response[_KEY]
    if items is None:
        return BatchOutcome.success(f"ESM-P-3: {_KEY} is null: every message succeeded")
    if not isinstance(items, list):
        raise _Reject(f"ESM-P-7: {_KEY} is {_kind(items)}, not an array")
    if not items:
        return BatchOutcome.success(f"ESM-P-3: {_KEY} is empty: every message succeeded")
    failed: dict[str, None] = {}  # ordered set
    for index, item in enumerate(items):
        where = f"{_KEY}[{index}]"
        if not isinstance(item, dict):
            raise _Reject(
                f'ESM-P-7: {where} is {_kind(item)}, not an object {{"{_ITEM_KEY}": "<messageId>"}}'
            )
        if _ITEM_KEY not in item:
            keys = ", ".join(sorted(_clip(key, 40) for key in item)[:10]) or "none"
            raise _Reject(f"ESM-P-4: {where} has no {_ITEM_KEY} key (its keys: {keys})")
        identifier = item[_ITEM_KEY]
        if identifier is None:
            raise _Reject(f"ESM-P-4: {where}.{_ITEM_KEY} is null")
        if not isinstance(identifier, str):
            raise _Reject(f"ESM-P-7: {where}.{_ITEM_KEY} is {_kind(identifier)}, not a message id string")
        if identifier == "":
            raise _Reject(f"ESM-P-4: {where}.{_ITEM_KEY} is an empty string")
        if identifier not in ids:
            raise _Reject(
                f"ESM-P-4: {_ITEM_KEY} {json.dumps(_clip(identifier))} ({where}) "
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
        return f"a number ({_clip(json.dumps(value))})"
    if isinstance(value, str):
        return f"a string ({json.dumps(_clip(value))})"
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


def _clip(text: str, limit: int = _SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    groups = ", ".join(json.dumps(_clip(group, 40)) for group in list(stopped)[:5])
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

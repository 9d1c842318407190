"""Lambda's Python runtime's view of a handler's return value: the JSON it would send.

Lambda serializes the value (simplejson, ``awslambdaric/lambda_runtime_marshaller.py``) before
the event source mapping reads it, so a value that cannot be serialized, or is too large, is a
function error there (``Runtime.MarshalError``, ``Function.ResponseSizeTooLarge``), whatever the
response mode. This module reproduces that serialization (:func:`marshal_error`,
:func:`response_json`) without building the JSON text when it does not have to; the rules that
read the result as a partial batch response are in :mod:`qworker.responses`.
"""

from __future__ import annotations

import json
import math
import sys
from json.encoder import encode_basestring_ascii as _encode_ascii
from typing import Any

MAX_RESPONSE_BYTES = 6_291_456

#: Deepest nesting the runtime's encoder gets through before Python's recursion limit (1000, less
#: the runtime's own frames) stops it; approximate.
MAX_DEPTH = 980

_SHOWN = 80  # characters of a value quoted in a reason


def clip(text: str, limit: int = _SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MarshalFailure(Exception):
    """The runtime could not serialize the value: Lambda's ``Runtime.MarshalError``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str | int | None] = []


class TooLarge(Exception):
    """The serialized response is over Lambda's response quota."""


class NotJson(Exception):
    """The serialized value would not parse as JSON (``NaN``, ``Infinity``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str | int | None] = []


class Rejected(Exception):
    """The response is valid JSON but fails the batch; carries the reason."""


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
        response_json(value)
    except TooLarge as error:
        return f"Function.ResponseSizeTooLarge: {error}"
    except MarshalFailure as error:
        return f"Runtime.MarshalError: Unable to marshal response: {error}{where(error.path)}"
    except NotJson:
        return None
    except Exception as error:  # a hostile object (raising __getattr__, items(), ...)
        return f"Runtime.MarshalError: Unable to marshal response: {type(error).__name__}: {clip(str(error))}"
    return None


def response_json(value: object) -> Any:
    """The value as the event source mapping reads it after the runtime serialized it."""
    if isinstance(value, bytes):  # the runtime sends bytes as the raw payload
        if len(value) > MAX_RESPONSE_BYTES:
            raise TooLarge(_too_large(len(value)))
        try:
            return json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:  # bad JSON, not UTF-8, NaN, too deep
            raise NotJson(f"{type(error).__name__}: {clip(str(error))}") from None
    form, size = _json_form(value)
    if size > MAX_RESPONSE_BYTES:
        raise TooLarge(_too_large(size))
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
    except (MarshalFailure, NotJson) as error:
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
            raise MarshalFailure(clip(str(error))) from None
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise NotJson(f"{float.__repr__(obj)} is not valid JSON")
        number = obj if type(obj) is float else float.__float__(obj)
        return number, None, len(float.__repr__(number))
    if isinstance(obj, bytes):  # simplejson decodes bytes with its encoding, utf-8
        try:
            text = obj.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MarshalFailure(f"bytes that are not UTF-8: {error.reason}") from None
        return text, None, len(_encode_ascii(text))
    if isinstance(obj, list):
        return _container([], iter(obj), obj, active, depth, is_object=False)
    as_dict = getattr(obj, "_asdict", None)  # simplejson's namedtuple_as_object, on any object
    if as_dict is not None and callable(as_dict):
        mapping = as_dict()
        if not isinstance(mapping, dict):
            kind = type(mapping).__name__
            raise MarshalFailure(f"{type(obj).__name__}._asdict() returned {kind}, not a dict")
        return _container({}, iter(mapping.items()), mapping, active, depth, is_object=True)
    if isinstance(obj, tuple):
        return _container([], iter(obj), obj, active, depth, is_object=False)
    if isinstance(obj, dict):
        return _container({}, iter(obj.items()), obj, active, depth, is_object=True)
    # decimal is not imported here (~3 ms of start-up): no Decimal exists unless something did
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):  # written as numbers: str(obj)
        if obj.is_nan() or obj.is_infinite():
            raise NotJson(f"Decimal {obj} is not valid JSON")
        number = float(obj)
        return (number if math.isfinite(number) else 0), None, len(str(obj))
    raise MarshalFailure(f"Object of type {type(obj).__name__} is not JSON serializable")


def _container(
    out: Any, entries: Any, source: object, active: set[int], depth: int, *, is_object: bool
) -> tuple[Any, _Frame, int]:
    if depth >= MAX_DEPTH:
        raise MarshalFailure(f"nested more than {MAX_DEPTH} levels deep (maximum recursion depth exceeded)")
    marker = id(source)
    if marker in active:
        raise MarshalFailure("Circular reference detected")
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
            raise MarshalFailure(f"a bytes key that is not UTF-8: {error.reason}") from None
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
    raise MarshalFailure(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def where(path: list[str | int | None]) -> str:
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
            text += f".{step}" if step.isidentifier() else f"[{json.dumps(clip(step, 40))}]"
    return f" at {text}"

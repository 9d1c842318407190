"""Predicates on one leaf value, and the leaf matchers built from them.

A *predicate* answers "does this scalar (str, number, bool or null) satisfy this operator?". A *leaf
matcher* answers "does the value found at this path satisfy this leaf list?": it turns the raw value
(absent, a scalar, an array, an object) into leaf values the EventBridge way (arrays are flattened,
objects are not leaves, an empty array is the same as an absent field) and ORs the predicates.

Everything here is built once per pattern; the closures use the cheapest check available (often a
frozenset's C-level ``__contains__``) because matching runs for every received record.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Pred = Callable[[Any], bool]
LeafFn = Callable[[Any], bool]

_NoneType = type(None)
#: the types of JSON leaf values (``bool`` is listed apart from ``int`` on purpose)
SCALAR_TYPES: frozenset[type] = frozenset({str, int, float, bool, _NoneType})
_NON_STR_SCALARS: frozenset[type] = frozenset({int, float, bool, _NoneType})


def leaves(value: list[Any]) -> list[Any]:
    """The scalar leaves of an event array, nested arrays flattened, objects skipped."""
    return _flattened(value, SCALAR_TYPES)


def objects_in(value: list[Any]) -> list[dict[str, Any]]:
    """The objects of an event array, nested arrays flattened."""
    return _flattened(value, _OBJECT_TYPES)


_OBJECT_TYPES = frozenset({dict})


def _flattened(value: list[Any], keep: frozenset[type]) -> list[Any]:
    """The items of an event array whose exact type is in ``keep``, nested arrays flattened
    (iteratively: an event's nesting depth must not reach Python's recursion limit)."""
    out: list[Any] = []
    stack = [value]
    while stack:
        for item in stack.pop():
            kind = item.__class__
            if kind is list:
                stack.append(item)
            elif kind in keep:
                out.append(item)
    return out


def _is_number(value: Any) -> bool:
    return value.__class__ is int or value.__class__ is float


def _collides_with_bool(numbers: Iterable[Any]) -> bool:
    # True == 1 and False == 0 in Python (and they hash alike), never in JSON.
    return any(_is_number(n) and n in (0, 1) for n in numbers)


def exact(values: Sequence[Any]) -> Pred:
    """Equality with any of ``values`` (strings, numbers, ``true``/``false``, ``null``).

    Strings compare exactly (case-sensitive, FLT-9). Numbers compare by value, so ``300`` matches
    ``300.0``: AWS does this although its documentation says otherwise (LocalStack's AWS-recorded
    fixture ``number_comparison_float``). A number never equals a string or a boolean.
    """
    bools = frozenset(v for v in values if v.__class__ is bool)
    others = frozenset(v for v in values if v.__class__ is not bool)
    if not bools and not _collides_with_bool(others):
        return others.__contains__
    if not others:
        return lambda x: x.__class__ is bool and x in bools
    return lambda x: (x in bools) if x.__class__ is bool else (x in others)


def anything_but(values: Sequence[Any]) -> Pred:
    """True for every leaf that equals none of ``values`` (strings or numbers).

    ``null`` and values of another type pass: ``{"anything-but": ["x"]}`` matches ``null``
    (LocalStack's AWS-recorded ``content_anything_but_string_list_null``). A missing field never
    reaches a predicate, so anything-but never matches it.
    """
    excluded = frozenset(values)
    if _collides_with_bool(excluded):
        return lambda x: x.__class__ is bool or x not in excluded
    return lambda x: x not in excluded


def prefix(text: str, *, ignore_case: bool = False) -> Pred:
    """``str.startswith``; only string leaves can match."""
    if ignore_case:
        low = text.lower()
        return lambda x: x.__class__ is str and x.lower().startswith(low)
    return lambda x: x.__class__ is str and x.startswith(text)


def suffix(text: str, *, ignore_case: bool = False) -> Pred:
    """``str.endswith``; only string leaves can match."""
    if ignore_case:
        low = text.lower()
        return lambda x: x.__class__ is str and x.lower().endswith(low)
    return lambda x: x.__class__ is str and x.endswith(text)


def equals_ignore_case(text: str) -> Pred:
    """Case-insensitive equality (``str.lower`` on both sides); only string leaves can match."""
    low = text.lower()
    return lambda x: x.__class__ is str and x.lower() == low


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def numeric(terms: Sequence[Any]) -> Pred:
    """``{"numeric": [op, n]}`` or ``[op1, lo, op2, hi]`` (validated by the compiler).

    Only JSON numbers match: the string ``"100"`` does not (LocalStack ``numeric-string_NEG``),
    nor do ``true``/``false``.
    """
    if len(terms) == 2:
        op, bound = _COMPARE[terms[0]], terms[1]
        if terms[0] == "=":
            return lambda x: (x.__class__ is int or x.__class__ is float) and x == bound
        if terms[0] == ">":
            return lambda x: (x.__class__ is int or x.__class__ is float) and x > bound
        if terms[0] == "<":
            return lambda x: (x.__class__ is int or x.__class__ is float) and x < bound
        return lambda x: (x.__class__ is int or x.__class__ is float) and op(x, bound)
    low_op, low, high_op, high = _COMPARE[terms[0]], terms[1], _COMPARE[terms[2]], terms[3]
    return lambda x: (x.__class__ is int or x.__class__ is float) and low_op(x, low) and high_op(x, high)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Translate an EventBridge wildcard (``*`` = any run of characters, ``\\*`` = a literal star,
    ``\\\\`` = a literal backslash) into a regex. Raises ``ValueError`` with EventBridge's reason."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
            if nxt not in ("*", "\\"):
                raise ValueError(f"Invalid escape at pos {i + 1}: only \\* and \\\\ are allowed")
            out.append(re.escape(nxt))
            i += 2
            continue
        if char == "*":
            if i + 1 < len(pattern) and pattern[i + 1] == "*":
                raise ValueError(f"Consecutive wildcard characters at pos {i + 1}")
            out.append(".*")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def wildcard(pattern: str) -> Pred:
    """EventBridge ``wildcard`` (a qworker extension for SQS: Lambda refuses it)."""
    fullmatch = wildcard_regex(pattern).fullmatch
    return lambda x: x.__class__ is str and fullmatch(x) is not None


def cidr_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a ``cidr`` operand; raises ``ValueError`` with EventBridge's reason."""
    if value.count("/") != 1:
        raise ValueError("Malformed CIDR, one '/' required")
    address, bits = value.split("/")
    if not bits.isdigit():
        raise ValueError("Malformed CIDR, mask bits must be an integer")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"Nonstandard IP address: {address}") from None


def cidr(value: str) -> Pred:
    """EventBridge ``cidr`` (a qworker extension for SQS: Lambda refuses it)."""
    network = cidr_network(value)

    def in_network(x: Any) -> bool:
        if x.__class__ is not str:
            return False
        try:
            return ipaddress.ip_address(x) in network
        except ValueError:
            return False

    return in_network


def negate_any(preds: Sequence[Pred]) -> Pred:
    """anything-but over other operators (extension): true when none of ``preds`` holds."""
    if len(preds) == 1:
        only = preds[0]
        return lambda x: not only(x)
    return lambda x: not any(p(x) for p in preds)


def any_of(preds: Sequence[Pred]) -> Pred:
    """OR of predicates (the values of one leaf list, FLT-11)."""
    if len(preds) == 1:
        return preds[0]
    preds = tuple(preds)

    def either(x: Any) -> bool:
        for pred in preds:  # noqa: SIM110 - a plain loop beats any()+genexpr on this hot path
            if pred(x):
                return True
        return False

    return either


def leaf_matcher(pred: Pred | None, exists_true: bool, exists_false: bool) -> LeafFn:
    """The matcher of one leaf list: ``pred`` ORs its value operators; ``exists`` is separate
    because it looks at whether there is any leaf at all, not at a leaf's value.

    ``exists: false`` holds when the path has no leaf: absent, an empty array, or an object
    (EventBridge: "exists only works on leaf nodes"; LocalStack ``exists_dynamodb_NEG``).
    """
    if pred is None:
        if exists_true and exists_false:
            return lambda v: True
        if exists_true:
            return _exists
        return _not_exists

    if not exists_true and not exists_false:

        def leaf(v: Any) -> bool:
            kind = v.__class__
            if kind is str:
                return pred(v)
            if kind is list:
                for x in leaves(v):  # noqa: SIM110 - a plain loop beats any()+genexpr on this hot path
                    if pred(x):
                        return True
                return False
            if kind in _NON_STR_SCALARS:
                return pred(v)
            return False

        return leaf

    def leaf_with_exists(v: Any) -> bool:
        kind = v.__class__
        if kind in SCALAR_TYPES:
            return exists_true or pred(v)
        if kind is list:
            found = leaves(v)
            if not found:
                return exists_false
            if exists_true:
                return True
            for x in found:  # noqa: SIM110 - a plain loop beats any()+genexpr on this hot path
                if pred(x):
                    return True
            return False
        return exists_false

    return leaf_with_exists


def _exists(v: Any) -> bool:
    kind = v.__class__
    if kind in SCALAR_TYPES:
        return True
    if kind is list:
        return bool(leaves(v))
    return False


def _not_exists(v: Any) -> bool:
    return not _exists(v)


__all__ = [
    "SCALAR_TYPES",
    "LeafFn",
    "Pred",
    "any_of",
    "anything_but",
    "cidr",
    "cidr_network",
    "equals_ignore_case",
    "exact",
    "leaf_matcher",
    "leaves",
    "negate_any",
    "numeric",
    "objects_in",
    "prefix",
    "suffix",
    "wildcard",
    "wildcard_regex",
]

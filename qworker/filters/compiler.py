"""Compile one filter pattern (a JSON string) into a matcher ``(record, body) -> bool``.

Two passes. :class:`_Parser` validates the pattern (every error names the offending path) and
builds a trie keyed by *atomic* field names: a dotted key is split (``{"a.b": [1]}`` and
``{"a": {"b": [1]}}`` are the same pattern, as in EventBridge, whose rule compiler joins nested keys
with dots), ``$or`` groups hang off the object they appear in, and each leaf list becomes one
predicate plus two ``exists`` flags. :mod:`qworker.filters.builder` then turns the trie into closures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qworker.filters import predicates as P
from qworker.filters.builder import FilterFn, PatternNode, build_root, top_level
from qworker.filters.errors import InvalidFilterPattern

#: Lambda's limit on ``FilterCriteria.Filters[].Pattern`` (ESM-CFG, [BOTO-L])
MAX_PATTERN_LENGTH = 4096
#: qworker's own bound on object/array nesting in a pattern, so compiling cannot hit Python's
#: recursion limit (a 4096-character pattern could otherwise nest ~1000 levels deep)
MAX_PATTERN_DEPTH = 64


_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_$-]+")
_EXTENSION_HINT = (
    "pass extensions=True (qworker run --filter-extensions) to use it as a non-portable qworker extension"
)


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """One compiled filter: the matcher and what the runtime needs to know about it."""

    matcher: FilterFn
    needs_body: bool
    top_level_keys: frozenset[str]


def _format_path(path: list[str | int]) -> str:
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Parser:
    """Validates one pattern and builds its trie; every error names the offending path."""

    def __init__(self, filter_index: int | None, extensions: bool) -> None:
        self.filter_index = filter_index
        self.extensions = extensions

    def fail(self, path: list[str | int], reason: str) -> InvalidFilterPattern:
        return InvalidFilterPattern(reason, path=_format_path(path), filter_index=self.filter_index)

    def not_in_pipes(self, path: list[str | int], what: str) -> InvalidFilterPattern:
        return self.fail(
            path,
            f"Lambda does not support {what} for SQS event filtering (the EventBridge Pipes / event "
            f"source mapping engine refuses it); {_EXTENSION_HINT}",
        )

    # -- objects --------------------------------------------------------------------------------

    def parse_object(
        self, obj: dict[str, Any], path: list[str | int], node: PatternNode, depth: int = 0
    ) -> None:
        """``depth`` is the depth of ``node`` in the trie: a dotted key adds one level per dot
        (``{"a.b.c": [1]}`` is three levels), so it counts against MAX_PATTERN_DEPTH too; the
        builder recurses once per level."""
        if len(path) > MAX_PATTERN_DEPTH or depth > MAX_PATTERN_DEPTH:
            raise self.fail(path, f"the pattern nests deeper than {MAX_PATTERN_DEPTH} levels")
        if not obj:
            raise self.fail(path, "empty object: a pattern object needs at least one field")
        for key, value in obj.items():
            here = [*path, key]
            if key == "$or":
                node.ors.append(self.parse_or(value, here, depth + 1))
                continue
            segments = key.split(".")
            if depth + len(segments) > MAX_PATTERN_DEPTH:
                raise self.fail(here, f"the pattern nests deeper than {MAX_PATTERN_DEPTH} levels")
            if isinstance(value, dict):
                self.parse_object(value, here, node.child(segments), depth + len(segments))
            elif isinstance(value, list):
                node.child(segments).leaf = self.parse_leaf_list(value, here)
            else:
                shown = json.dumps(value)
                raise self.fail(
                    here,
                    f'"{key}" must be an object or an array: a leaf value goes in a list, '
                    f'e.g. {{"{key}": [{shown}]}}',
                )

    def parse_or(self, value: Any, path: list[str | int], depth: int = 0) -> list[PatternNode]:
        if not isinstance(value, list):
            raise self.fail(
                path,
                f"$or must be an array of at least 2 objects, got {_json_type(value)} "
                "(qworker does not read a non-array $or as a field name)",
            )
        if len(value) < 2:
            raise self.fail(path, f"$or needs at least 2 alternatives, got {len(value)}")
        alternatives = []
        for i, alternative in enumerate(value):
            if not isinstance(alternative, dict) or not alternative:
                raise self.fail([*path, i], "each $or alternative must be a non-empty object of fields")
            alt = PatternNode()
            self.parse_object(alternative, [*path, i], alt, depth)
            alternatives.append(alt)
        return alternatives

    # -- leaf lists -----------------------------------------------------------------------------

    def parse_leaf_list(self, values: list[Any], path: list[str | int]) -> tuple[P.Pred | None, bool, bool]:
        if not values:
            raise self.fail(path, "Empty arrays are not allowed: a leaf list needs at least one value")
        exact: list[Any] = []
        preds: list[P.Pred] = []
        exists_true = exists_false = False
        for i, value in enumerate(values):
            here = [*path, i]
            if isinstance(value, dict):
                result = self.parse_operator(value, here)
                if result is True:
                    exists_true = True
                elif result is False:
                    exists_false = True
                else:
                    preds.append(result)
            elif value is None or isinstance(value, str | bool):
                exact.append(value)
            elif _is_number(value):
                exact.append(self.finite(value, here))
            else:
                raise self.fail(
                    here, "Match value must be String, number, true, false, or null (not a nested array)"
                )
        if exact:
            preds.insert(0, P.exact(exact))
        return (P.any_of(preds) if preds else None), exists_true, exists_false

    def finite(self, value: Any, path: list[str | int]) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(path, "numbers must be finite (this one overflows a double)")
        return value

    def parse_operator(self, match: dict[str, Any], path: list[str | int]) -> P.Pred | bool:
        """One ``{"operator": operand}`` of a leaf list: a predicate, or True/False for exists."""
        if len(match) != 1:
            raise self.fail(
                path,
                f"Only one key allowed in match expression, got {len(match)}: use one object per operator",
            )
        ((op, operand),) = match.items()
        here = [*path, op]
        if op == "exists":
            if not isinstance(operand, bool):
                raise self.fail(here, "exists match pattern must be either true or false")
            return operand
        if op in ("prefix", "suffix"):
            return self.parse_prefix_suffix(op, operand, here)
        if op == "equals-ignore-case":
            if not isinstance(operand, str):
                raise self.fail(here, "equals-ignore-case match pattern must be a string")
            return P.equals_ignore_case(operand)
        if op == "numeric":
            return P.numeric(self.parse_numeric(operand, here))
        if op == "anything-but":
            return self.parse_anything_but(operand, here)
        if op == "wildcard":
            if not self.extensions:
                raise self.not_in_pipes(path, "the wildcard operator")
            return self.parse_wildcard(operand, here, P.wildcard)
        if op == "cidr":
            if not self.extensions:
                raise self.not_in_pipes(path, "the cidr (IP address) operator")
            if not isinstance(operand, str):
                raise self.fail(here, "cidr match pattern must be a string like 10.0.0.0/24")
            try:
                return P.cidr(operand)
            except ValueError as exc:
                raise self.fail(here, str(exc)) from None
        raise self.fail(
            path,
            f"Unrecognized match type {op} (operators are case-sensitive: exists, prefix, suffix, "
            "equals-ignore-case, anything-but, numeric)",
        )

    def parse_prefix_suffix(self, op: str, operand: Any, path: list[str | int]) -> P.Pred:
        make = P.prefix if op == "prefix" else P.suffix
        if isinstance(operand, str):
            return make(operand)
        if isinstance(operand, dict):
            inner = operand.get("equals-ignore-case")
            if len(operand) == 1 and isinstance(inner, str):
                return make(inner, ignore_case=True)
            raise self.fail(path, f'{op} takes a string or {{"equals-ignore-case": "<string>"}}')
        raise self.fail(path, f"{op} match pattern must be a string, got {_json_type(operand)}")

    def parse_numeric(self, terms: Any, path: list[str | int]) -> list[Any]:
        if not isinstance(terms, list):
            raise self.fail(path, 'Value of numeric must be an array, e.g. [">", 0, "<=", 5]')
        if not terms:
            raise self.fail(path, 'numeric needs an operator and a number, e.g. [">", 0]')
        out: list[Any] = []
        for i in range(0, len(terms), 2):
            op = terms[i]
            if i >= 4:
                raise self.fail(
                    [*path, i], "Too many terms in numeric range expression (at most 2 comparisons)"
                )
            if not isinstance(op, str):
                raise self.fail([*path, i], f"Invalid member in numeric match: {json.dumps(op)}")
            if op not in _NUMERIC_OPS:
                raise self.fail(
                    [*path, i], f"Unrecognized numeric range operator: {op} (use =, <, <=, >, >=)"
                )
            if i == 2:
                if terms[0] not in (">", ">="):
                    raise self.fail(
                        [*path, i],
                        "Too many elements in numeric expression: "
                        f"a range starts with > or >=, not {terms[0]}",
                    )
                if op not in ("<", "<="):
                    raise self.fail(
                        [*path, i], f"Bad numeric range operator: {op} (a range ends with < or <=)"
                    )
            if i + 1 >= len(terms) or not _is_number(terms[i + 1]):
                shown = "equals" if op == "=" else op
                raise self.fail(
                    [*path, i + 1], f"numeric operand must be a number (Value of {shown} must be numeric)"
                )
            out += [op, self.finite(terms[i + 1], [*path, i + 1])]
        if len(out) == 4 and not out[1] < out[3]:
            raise self.fail(path, f"Bottom must be less than top ({out[1]} is not below {out[3]})")
        return out

    def parse_anything_but(self, operand: Any, path: list[str | int]) -> P.Pred:
        if isinstance(operand, str):
            return P.anything_but([operand])
        if _is_number(operand):
            return P.anything_but([self.finite(operand, path)])
        if isinstance(operand, list):
            if not operand:
                raise self.fail(path, "anything-but list must not be empty")
            for i, value in enumerate(operand):
                if not (isinstance(value, str) or _is_number(value)):
                    raise self.fail(
                        [*path, i],
                        f"anything-but list values must be strings or numbers, not {_json_type(value)}",
                    )
                self.finite(value, [*path, i])
            if len({isinstance(v, str) for v in operand}) > 1:
                raise self.fail(path, "anything-but list must hold only strings or only numbers, not both")
            return P.anything_but(operand)
        if isinstance(operand, dict):
            return self.parse_anything_but_operator(operand, path)
        raise self.fail(path, "Value of anything-but must be an array or single string/number value.")

    def parse_anything_but_operator(self, operand: dict[str, Any], path: list[str | int]) -> P.Pred:
        if len(operand) != 1:
            raise self.fail(path, 'anything-but takes one operator object, e.g. {"prefix": "x"}')
        ((op, value),) = operand.items()
        if op not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise self.fail([*path, op], f"Unsupported anything-but pattern: {op}")
        if not self.extensions:
            raise self.not_in_pipes(path, f"anything-but with {op}")
        here = [*path, op]
        if op == "wildcard":
            return self.parse_wildcard(value, here, lambda w: P.negate_any([P.wildcard(w)]), allow_list=True)
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            if op == "equals-ignore-case":
                raise self.fail(here, "anything-but/equals-ignore-case takes a string or a list of strings")
            if isinstance(value, dict):
                raise self.fail(here, "Value of anything-but must be an array or single string/number value.")
            raise self.fail(here, "prefix/suffix match pattern must be a string (or a list of strings)")
        if op != "equals-ignore-case" and not all(values):
            raise self.fail(here, "Null prefix/suffix not allowed (empty string)")
        make = {"prefix": P.prefix, "suffix": P.suffix, "equals-ignore-case": P.equals_ignore_case}[op]
        return P.negate_any([make(v) for v in values])

    def parse_wildcard(
        self,
        operand: Any,
        path: list[str | int],
        make: Callable[[str], P.Pred],
        *,
        allow_list: bool = False,
    ) -> P.Pred:
        values = operand if allow_list and isinstance(operand, list) and operand else [operand]
        for value in values:
            if not isinstance(value, str):
                raise self.fail(path, "wildcard match pattern must be a string")
            try:
                P.wildcard_regex(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        if len(values) == 1:
            return make(values[0])
        return P.negate_any([P.wildcard(v) for v in values])  # only anything-but takes a list


def compile_pattern(
    text: Any, *, filter_index: int | None = None, extensions: bool = False
) -> CompiledPattern:
    """Validate and compile one pattern string; raises :class:`InvalidFilterPattern`."""
    parser = _Parser(filter_index, extensions)
    if not isinstance(text, str):
        shown = "null" if text is None else type(text).__name__
        raise parser.fail([], f"the pattern must be a string holding a JSON object, got {shown}")
    if len(text) > MAX_PATTERN_LENGTH:
        raise parser.fail(
            [], f"the pattern is {len(text)} characters long; Lambda allows at most {MAX_PATTERN_LENGTH}"
        )
    try:
        pattern = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise parser.fail(
            [], f"the pattern is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise parser.fail([], f"the pattern is not valid JSON: {exc}") from None
    if not isinstance(pattern, dict):
        raise parser.fail(
            [], f"Filter is not an object: the pattern must be a JSON object, not {_json_type(pattern)}"
        )
    if not pattern:
        raise parser.fail(
            [],
            "the pattern is an empty object; a filter needs at least one field "
            "(drop the filter to keep every message)",
        )
    root = PatternNode()
    parser.parse_object(pattern, [], root)
    keys, needs_body = top_level(root)
    return CompiledPattern(matcher=build_root(root), needs_body=needs_body, top_level_keys=keys)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")

"""Turn a validated pattern trie into matcher closures.

The trie (:class:`PatternNode`) is keyed by atomic field names; the builder makes one closure per
node, specialised for the common shapes (one to three plain fields, one nested object, a lone
``$or``) so that matching a record costs a few dict lookups and C-level set tests.

Array consistency: when a pattern object sits on an event array, every field of that object must
match within the *same* array element (EventBridge's ``rulesForJSONEvent`` semantics). A leaf list on
an array matches when any element matches (FLT-11, EventBridge "arrays").

Dotted event keys: an event key ``"a.b"`` is the same path as ``a`` -> ``b`` (EventBridge flattens
both events and rules with dots), so each nested field also looks up the joined keys of the paths
below it; values found both ways are combined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qworker.filters import predicates as P
from qworker.filters.body import MISSING, PlainBody

FilterFn = Callable[[Any, Any], bool]  # (record, body) -> bool
ObjFn = Callable[[dict[str, Any]], bool]
ValueFn = Callable[[Any], bool]


class PatternNode:
    """A trie node: the fields below one object of the pattern."""

    __slots__ = ("children", "leaf", "ors")

    def __init__(self) -> None:
        self.children: dict[str, PatternNode] = {}
        self.leaf: tuple[P.Pred | None, bool, bool] | None = None
        self.ors: list[list[PatternNode]] = []

    @property
    def is_object(self) -> bool:
        return bool(self.children or self.ors)

    def child(self, segments: list[str]) -> PatternNode:
        node = self
        for segment in segments:
            node = node.children.setdefault(segment, PatternNode())
        return node


def _merge(current: Any, extra: Any) -> Any:
    """Combine two values found at one flattened path (``a`` holding ``{"b": 1}`` and ``a.b``)."""
    if current is MISSING:
        return extra
    if current.__class__ is dict and extra.__class__ is dict:
        merged = dict(current)
        for key, value in extra.items():
            merged[key] = [merged[key], value] if key in merged else value
        return merged
    head = current if current.__class__ is list else [current]
    return [*head, extra]


def _descendant_paths(node: PatternNode) -> list[str]:
    """Every dotted path below ``node`` ("b", "b.c", ...), through $or alternatives too."""
    out: list[str] = []
    for segment, child in node.children.items():
        out.append(segment)
        out += [f"{segment}.{rest}" for rest in _descendant_paths(child)]
    for group in node.ors:
        for alternative in group:
            out += _descendant_paths(alternative)
    return list(dict.fromkeys(out))


def _build_obj(node: PatternNode) -> ObjFn:
    """The matcher of the object pattern held by ``node`` (its fields and $or groups)."""
    simple: list[tuple[str, ValueFn]] = []
    dotted: list[tuple[str, ValueFn, tuple[tuple[str, str], ...]]] = []
    for segment, child in node.children.items():
        fn = _build_value(child)
        # an event key "seg.x" is the same path as seg -> x: look those keys up too
        ext = tuple((f"{segment}.{rest}", rest) for rest in _descendant_paths(child))
        if ext:
            dotted.append((segment, fn, ext))
        else:
            simple.append((segment, fn))
    groups = tuple(tuple(_build_obj(alt) for alt in group) for group in node.ors)
    special = _specialised_obj(simple, dotted, groups)
    return special if special is not None else _generic_obj(tuple(simple), tuple(dotted), groups)


def _specialised_obj(
    simple: list[tuple[str, ValueFn]],
    dotted: list[tuple[str, ValueFn, tuple[tuple[str, str], ...]]],
    groups: tuple[tuple[ObjFn, ...], ...],
) -> ObjFn | None:
    """A closure made for the common small shapes (1-3 plain fields, one nested object, one
    $or), which beats the generic loop on the per-message hot path; None for any other shape."""
    if not dotted and not groups:
        if len(simple) == 1:
            ((k1, f1),) = simple
            return lambda d: f1(d.get(k1, MISSING))
        if len(simple) == 2:
            (k1, f1), (k2, f2) = simple
            return lambda d: f1(d.get(k1, MISSING)) and f2(d.get(k2, MISSING))
        if len(simple) == 3:
            (k1, f1), (k2, f2), (k3, f3) = simple
            return lambda d: f1(d.get(k1, MISSING)) and f2(d.get(k2, MISSING)) and f3(d.get(k3, MISSING))
    if len(dotted) == 1 and not simple and not groups:  # one nested object: {"customer": {...}}
        ((key, fn, ext),) = dotted
        return _one_dotted_field(key, fn, ext)
    if len(groups) == 1 and not simple and not dotted:  # an object holding only a $or
        (alternatives,) = groups

        def only_or(d: dict[str, Any]) -> bool:
            for alternative in alternatives:  # noqa: SIM110 - a plain loop beats any()+genexpr here
                if alternative(d):
                    return True
            return False

        return only_or
    return None


def _generic_obj(
    fields: tuple[tuple[str, ValueFn], ...],
    nested: tuple[tuple[str, ValueFn, tuple[tuple[str, str], ...]], ...],
    groups: tuple[tuple[ObjFn, ...], ...],
) -> ObjFn:
    """Any object pattern: every plain field, every nested one (merged with its dotted keys),
    and one alternative of every $or group must match."""

    def obj(d: dict[str, Any]) -> bool:
        get = d.get
        for key, fn in fields:
            if not fn(get(key, MISSING)):
                return False
        for key, fn, ext in nested:
            value = get(key, MISSING)
            for joined, rest in ext:
                if joined in d:
                    value = _merge(value, {rest: d[joined]})
            if not fn(value):
                return False
        for group in groups:
            for alternative in group:
                if alternative(d):
                    break
            else:
                return False
        return True

    return obj


def _one_dotted_field(key: str, fn: ValueFn, ext: tuple[tuple[str, str], ...]) -> ObjFn:
    if len(ext) == 1:
        ((joined, rest),) = ext

        def one(d: dict[str, Any]) -> bool:
            if joined in d:
                return fn(_merge(d.get(key, MISSING), {rest: d[joined]}))
            return fn(d.get(key, MISSING))

        return one

    def several(d: dict[str, Any]) -> bool:
        value = d.get(key, MISSING)
        for joined, rest in ext:
            if joined in d:
                value = _merge(value, {rest: d[joined]})
        return fn(value)

    return several


def _build_nested(node: PatternNode) -> ValueFn:
    """Matcher of an object pattern applied to whatever value the event has at its path."""
    obj = _build_obj(node)
    on_empty = obj({})  # absent, a scalar or an array without objects: only exists:false can hold

    def nested(v: Any) -> bool:
        kind = v.__class__
        if kind is dict:
            return obj(v)
        if kind is list:
            objects = P.objects_in(v)
            if objects:
                # array consistency: one element must satisfy the whole object
                for item in objects:  # noqa: SIM110 - a plain loop beats any()+genexpr on this hot path
                    if obj(item):
                        return True
                return False
        return on_empty

    return nested


def _build_value(node: PatternNode) -> ValueFn:
    leaf = P.leaf_matcher(*node.leaf) if node.leaf is not None else None
    if not node.is_object:
        assert leaf is not None
        return leaf
    nested = _build_nested(node)
    if leaf is None:
        return nested
    return lambda v: leaf(v) and nested(v)


def _build_body(node: PatternNode) -> ValueFn:
    """The ``body`` field, with Lambda's body-format rules (FLT-7) on top of the usual semantics."""
    leaf = P.leaf_matcher(*node.leaf) if node.leaf is not None else None
    if not node.is_object:
        assert leaf is not None

        def body_leaf(b: Any) -> bool:
            kind = b.__class__
            if kind is PlainBody:
                return leaf(b.text)  # plain body + leaf pattern: filter normally
            if kind is dict:
                return False  # JSON object body + plain-string pattern: drop
            return leaf(b)  # JSON scalar or array body: match the decoded value

        return body_leaf

    obj = _build_obj(node)
    nested = _build_nested(node)
    if leaf is None:

        def body_obj(b: Any) -> bool:
            kind = b.__class__
            if kind is dict:
                return obj(b)
            if kind is PlainBody:
                return False  # plain body + object pattern: drop, even for exists:false
            return nested(b)

        return body_obj

    def body_both(b: Any) -> bool:
        kind = b.__class__
        if kind is PlainBody or kind is dict:
            return False  # one of the two halves is always a format mismatch
        return leaf(b) and nested(b)

    return body_both


def build_root(node: PatternNode) -> FilterFn:
    body_fn: ValueFn | None = None
    fields: list[tuple[str, ValueFn]] = []
    for segment, child in node.children.items():
        if segment == "body":
            body_fn = _build_body(child)
        else:
            fields.append((segment, _build_value(child)))
    groups = tuple(tuple(build_root(alt) for alt in group) for group in node.ors)
    if body_fn is not None and not fields and not groups:
        only_body = body_fn
        return lambda record, body: only_body(body)
    record_fields = tuple(fields)

    def root(record: Any, body: Any) -> bool:
        if body_fn is not None and not body_fn(body):
            return False
        get = record.get
        for key, fn in record_fields:
            if not fn(get(key, MISSING)):
                return False
        for group in groups:
            for alternative in group:
                if alternative(record, body):
                    break
            else:
                return False
        return True

    return root


def top_level(node: PatternNode) -> tuple[frozenset[str], bool]:
    keys = set(node.children)
    for group in node.ors:
        for alternative in group:
            keys |= top_level(alternative)[0]
    return frozenset(keys), "body" in keys

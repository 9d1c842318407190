"""``FilterCriteria``: the compiled set of ``--filter`` patterns of one worker (FLT-1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qworker.errors import ConfigError
from qworker.filters.body import MISSING, UNPARSED, parse_body
from qworker.filters.compiler import FilterFn, compile_pattern
from qworker.filters.errors import InvalidFilterPattern

#: Lambda's default quota of filters per event source mapping (FLT-1)
DEFAULT_MAX_FILTERS = 5
#: the most a quota increase allows (FLT-1)
MAX_FILTERS_QUOTA = 10


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """Lambda's ``FilterCriteria`` for an SQS event source: patterns ORed, each one compiled once.

    Build it with :meth:`compile`; the runtime then calls :meth:`matches` for every received record
    (before ``eventSource``/``eventSourceARN``/``awsRegion`` are added, FLT-5). A record that
    matches no filter is dropped, which on Lambda means *deleted* (FLT-3).
    """

    patterns: tuple[str, ...] = ()
    extensions: bool = False
    #: top-level pattern keys other than ``body``: Lambda documents SQS filtering on ``body`` only
    #: (FLT-6), so the runtime logs a one-time "non-portable filter key" warning for these
    non_portable_keys: tuple[str, ...] = ()
    _matchers: tuple[FilterFn, ...] = field(default=(), repr=False, compare=False)
    _needs_body: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def compile(
        cls,
        patterns: Sequence[str],
        *,
        max_filters: int = DEFAULT_MAX_FILTERS,
        extensions: bool = False,
    ) -> FilterCriteria:
        """Validate and compile ``patterns`` (JSON strings, as in ``Filters[].Pattern``).

        Raises :class:`InvalidFilterPattern` (a ``ConfigError``: exit code 2) with AWS's text and
        the offending filter and path. ``max_filters`` is the quota (Lambda: 5, raisable to 10);
        ``extensions`` admits the EventBridge operators Lambda refuses for SQS (wildcard, cidr,
        anything-but with prefix/suffix/equals-ignore-case/wildcard) as a non-portable superset.
        An empty ``patterns`` gives criteria that match every record, like no FilterCriteria.
        """
        if isinstance(patterns, str | bytes):
            raise TypeError("patterns must be a sequence of pattern strings, not one string")
        if (
            isinstance(max_filters, bool)
            or not isinstance(max_filters, int)
            or not (1 <= max_filters <= MAX_FILTERS_QUOTA)
        ):
            raise ConfigError(
                f"max_filters must be between 1 and {MAX_FILTERS_QUOTA} (Lambda allows {DEFAULT_MAX_FILTERS} "
                f"filters, {MAX_FILTERS_QUOTA} with a quota increase), got {max_filters!r}"
            )
        patterns = tuple(patterns)
        if len(patterns) > max_filters:
            raise InvalidFilterPattern(
                f"{len(patterns)} filters given, the limit is {max_filters} (Lambda allows "
                f"{DEFAULT_MAX_FILTERS} per event source mapping, {MAX_FILTERS_QUOTA} with a quota increase)"
            )
        compiled = [
            compile_pattern(text, filter_index=i, extensions=extensions) for i, text in enumerate(patterns)
        ]
        keys = sorted({key for c in compiled for key in c.top_level_keys} - {"body"})
        return cls(
            patterns=patterns,
            extensions=extensions,
            non_portable_keys=tuple(keys),
            _matchers=tuple(c.matcher for c in compiled),
            _needs_body=any(c.needs_body for c in compiled),
        )

    @property
    def active(self) -> bool:
        """Whether there is any filter at all (without filters every record passes)."""
        return bool(self._matchers)

    @property
    def needs_body(self) -> bool:
        """Whether any filter looks at ``body`` (only then is it worth parsing)."""
        return self._needs_body

    def matches(self, record: Mapping[str, Any], body: Any = UNPARSED) -> bool:
        """Whether ``record`` (a Lambda SQS record) passes at least one filter (FLT-1).

        ``body`` is ``parse_body(record["body"])`` when the caller already has it (parse once per
        record, FLT-7); by default it is parsed here, and only if a filter needs it. Never raises
        for a record made of JSON values.
        """
        matchers = self._matchers
        if not matchers:
            return True
        if body is UNPARSED:
            body = parse_body(record.get("body", MISSING)) if self._needs_body else MISSING
        for matcher in matchers:  # noqa: SIM110 - a plain loop beats any()+genexpr on this hot path
            if matcher(record, body):
                return True
        return False

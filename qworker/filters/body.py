"""How a record's ``body`` string is seen by the filters (FLT-7).

SQS bodies are strings; Lambda parses them as JSON for filtering and falls back to the raw text when
they are not JSON. :func:`parse_body` does that once per record, so a record is parsed at most once
however many filters there are; its result is passed to ``FilterCriteria.matches(record, body)``.
"""

from __future__ import annotations

import json
from typing import Any, Final


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


#: default of ``matches(record, body=UNPARSED)``: parse ``record["body"]`` if a filter needs it
UNPARSED: Final = _Sentinel("UNPARSED")
#: an absent field (distinct from JSON ``null``)
MISSING: Final = _Sentinel("MISSING")


class PlainBody:
    """A body that is not JSON. Only leaf patterns on ``body`` can match it (FLT-7).

    It is a wrapper rather than the bare string so that the body ``"\\"abc\\""`` (JSON for the
    string ``abc``) and the plain body ``abc`` stay distinguishable.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"PlainBody({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainBody) and other.text == self.text

    def __hash__(self) -> int:
        return hash((PlainBody, self.text))


def _reject_constant(name: str) -> Any:
    # AWS's parser (Jackson) refuses NaN/Infinity; a body containing them is not JSON there either.
    raise ValueError(f"{name} is not JSON")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def parse_body(body: Any) -> Any:
    """Parse a record body for filtering: the JSON value it holds, or :class:`PlainBody`.

    Any JSON value counts, not only objects (LocalStack's ESM poller does the same: it replaces the
    body with ``json.loads(body)`` when that succeeds): ``"123"`` becomes the number 123, ``"[1,2]"``
    an array, ``"null"`` JSON null. A value that is not a ``str`` is returned unchanged, so callers
    holding an already-decoded body can pass it straight through.
    """
    if not isinstance(body, str):
        return body
    try:
        return _decode(body)
    except (ValueError, RecursionError):
        return PlainBody(body)

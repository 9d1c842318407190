"""Lambda's ``FilterCriteria`` for SQS event sources: EventBridge pattern syntax, exactly.

A worker started with ``--filter PATTERN`` (repeatable) drops every record that matches none of the
patterns, as Lambda does (FLT-1..FLT-11 in SPEC.md section 2; Lambda deletes dropped messages,
FLT-3). Patterns are validated when ``qworker run`` starts (``InvalidFilterPattern``, exit 2, with
AWS's text "Invalid filter pattern definition." and a hint naming the offending path).

What is matched (the choices, with their evidence)
--------------------------------------------------
* The record as Lambda builds it, before ``eventSource``/``eventSourceARN``/``awsRegion`` are
  added (FLT-5); ``body`` is replaced by its parsed JSON for matching, never in the record passed
  to the handler (FLT-8). Top-level keys other than ``body`` work (``attributes``,
  ``messageAttributes``, ...) but AWS documents body-only filtering for SQS (FLT-6): they are listed
  in ``FilterCriteria.non_portable_keys`` so the runtime can warn.
* Body formats (FLT-7): a body that is a JSON object is matched as a nested object. A plain
  (non-JSON) body matches leaf patterns on ``body`` (``{"body": [{"prefix": "ERROR"}]}``); any
  pattern reaching into ``body``'s fields never matches it (AWS-recorded: the record is dropped),
  not even ``exists: false``. A JSON-object body never matches a leaf pattern on ``body``.
  Bodies that are other JSON values follow LocalStack's ESM poller (``json.loads`` the body, then
  match the value): ``"123"`` is the number 123 (``{"body": [123]}`` matches, ``["123"]`` does
  not), ``"\\"abc\\""`` is the string ``abc``, ``"true"``/``"null"`` are ``true``/``null`` and
  ``"[1,2]"`` is an array (a leaf pattern matches when any element does). ``NaN``/``Infinity``
  are not JSON (as in AWS's parser): such bodies are plain strings.
* Exact values are case-sensitive strings, ``true``/``false``, ``null`` and numbers. Numbers
  compare *by value*: ``[300]`` matches ``300.0``. The AWS guides say "300, 300.0 and 3.0e2 are not
  considered equal" (FLT-9), but AWS itself matched ``300.0`` against ``[300]`` in LocalStack's
  AWS-recorded fixture ``number_comparison_float``; qworker follows what AWS does. A number never
  equals a string (``[5]`` does not match ``"5"``) or a boolean (``[1]`` does not match ``true``).
* Within a leaf list the values are ORed, fields are ANDed (FLT-11), filters are ORed (FLT-1),
  a duplicated key keeps its last value (FLT-10).
* Arrays in the record: a leaf list matches when any element matches; an object pattern on an
  array of objects must be satisfied by one single element (EventBridge's array-consistent
  matching). An empty array counts as an absent field.
* ``exists: true`` needs a leaf value (``null`` counts; an object or an empty array does not),
  ``exists: false`` holds for an absent field only; ``[null]`` matches only an explicit ``null``.
  ``anything-but`` never matches an absent field and does match ``null``.
* Dotted keys: ``{"a.b": [1]}`` equals ``{"a": {"b": [1]}}``, and an event key ``"a.b"`` is seen at
  path ``a`` -> ``b`` (EventBridge's rule compiler joins keys with dots; its README documents both
  directions, LocalStack's AWS-recorded ``dot_joining_pattern`` fixtures confirm).
* ``$or`` (2 or more non-empty objects) works at any object level, including inside ``body`` and
  inside another ``$or``. qworker rejects a ``$or`` that is not such an array instead of reading it
  as a field name (EventBridge's backward-compatibility quirk).
* Operators: those the EventBridge operator table marks supported for Pipes/ESM: exact, empty
  string, ``exists``, ``anything-but`` (a string, a number or a list of either), ``prefix``,
  ``suffix`` (both also with ``{"equals-ignore-case": ...}``), ``equals-ignore-case``, ``numeric``
  (``=``, ``<``, ``<=``, ``>``, ``>=``; one comparison or a ``>``/``>=`` ... ``<``/``<=`` range).
  ``wildcard``, ``cidr`` and ``anything-but`` with ``prefix``/``suffix``/``equals-ignore-case``/
  ``wildcard`` are refused like Lambda refuses them, unless ``extensions=True``
  (``--filter-extensions``), which enables them with EventBridge's semantics.
* Case-insensitive operators compare ``str.lower()`` forms. ``numeric`` compares Python ints and
  floats exactly, without EventBridge's documented range (+-5e9) and 6-decimal precision limits.
* Bodies nested too deeply for Python's JSON decoder (about 1000 levels) are treated as plain
  strings rather than failing the poll.
"""

from __future__ import annotations

from qworker.filters.body import MISSING, UNPARSED, PlainBody, parse_body
from qworker.filters.compiler import MAX_PATTERN_LENGTH, CompiledPattern, compile_pattern
from qworker.filters.criteria import DEFAULT_MAX_FILTERS, MAX_FILTERS_QUOTA, FilterCriteria
from qworker.filters.errors import AWS_INVALID_FILTER_MESSAGE, InvalidFilterPattern

__all__ = [
    "AWS_INVALID_FILTER_MESSAGE",
    "DEFAULT_MAX_FILTERS",
    "MAX_FILTERS_QUOTA",
    "MAX_PATTERN_LENGTH",
    "MISSING",
    "UNPARSED",
    "CompiledPattern",
    "FilterCriteria",
    "InvalidFilterPattern",
    "PlainBody",
    "compile_pattern",
    "parse_body",
]

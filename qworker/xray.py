"""X-Ray trace headers: made from, and read into, the 128-bit trace ids W3C and OpenTelemetry use.

The format (AWS X-Ray developer guide, "Tracing header"): ``Root`` is ``1-`` then 8 hex digits of
epoch seconds, ``-``, then 24 random hex digits; ``Parent`` is a 64-bit span id in 16 hex digits;
``Sampled`` is 0 or 1. A module of its own so that :mod:`qworker.otel` and :mod:`qworker.tracing`
share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


def xray_header(trace_id: int, span_id: int, sampled: bool) -> str:
    """The X-Ray header of a W3C/OpenTelemetry span context (128-bit trace id, 64-bit span id)."""
    text = f"{trace_id:032x}"
    return f"Root=1-{text[:8]}-{text[8:]};Parent={span_id:016x};Sampled={1 if sampled else 0}"


@dataclass(frozen=True, slots=True)
class XRayContext:
    """What an X-Ray trace header says (:func:`parse_xray_header`)."""

    trace_id: int  #: 128 bits: the Root's time and random parts together
    parent_id: int | None  #: the sender's span (``Parent``), when given
    sampled: bool | None  #: ``Sampled=1``/``0``; ``None`` when absent or ``?`` (undecided)


def parse_xray_header(header: str) -> XRayContext | None:
    """The trace of an ``AWSTraceHeader`` / ``X-Amzn-Trace-Id`` value, or ``None`` when it has no
    valid ``Root`` (other fields, such as ``Lineage``, are ignored)."""
    fields: dict[str, str] = {}
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    version, _, rest = fields.get("Root", "").partition("-")
    epoch, _, unique = rest.partition("-")
    if version != "1" or len(epoch) != 8 or len(unique) != 24:
        return None
    try:
        trace_id = int(epoch + unique, 16)
        parent = int(fields["Parent"], 16) if len(fields.get("Parent", "")) == 16 else None
    except ValueError:
        return None
    if trace_id == 0:
        return None
    sampled = {"1": True, "0": False}.get(fields.get("Sampled", ""))
    return XRayContext(trace_id, parent or None, sampled)

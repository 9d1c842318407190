"""Trace ids: the X-Ray header of each invocation, and ``_X_AMZN_TRACE_ID`` as Lambda sets it.

Lambda gives every invocation a trace header (``Root=1-...;Parent=...;Sampled=...``): the
runtime puts it in ``_X_AMZN_TRACE_ID`` before the handler runs, and the AWS SDKs and X-Ray
tooling read it from there (botocore, inside a function, sends it as ``X-Amzn-Trace-Id``, which SQS
turns into the ``AWSTraceHeader`` of the messages the function sends). For an SQS batch the header
is Lambda's own, a new trace per invocation; the producers' traces are *linked* to it, not its
parents, since one batch holds messages of many producers (X-Ray "trace linking").

qworker does the same: each invocation gets a new header (:func:`new_trace_header`), or, when
OpenTelemetry is on (:mod:`qworker.otel`), the header of the invocation's batch span, so what the
handler does joins that span's trace. Where it is found:

* :func:`current_trace_header`, a context variable: right in every handler, async or sync (handler
  threads run in a copy of the invocation's context);
* ``os.environ["_X_AMZN_TRACE_ID"]``. The environment is one per process and invocations run
  concurrently, so a plain variable would show one invocation's header to another. The worker
  therefore makes ``os.environ`` read that one name from the context variable
  (:func:`install_environment_view`): ``os.environ``, ``os.getenv`` and ``os.environ.copy()``
  give each invocation its own header, in its task or handler thread. Code that calls the C
  ``getenv`` directly, or a thread the handler starts itself (contexts do not follow plain
  threads), sees the process's real value (usually none). Handlers in processes of their own
  (``--isolation process``, the Runtime API) get a plain variable set per invocation, as Lambda
  sets it: each of those processes runs one invocation at a time.

The X-Ray header format (AWS X-Ray developer guide, "Tracing header"): ``Root`` is ``1-`` then 8 hex
digits of epoch seconds, ``-``, then 24 random hex digits (together the 128-bit trace id W3C and
OpenTelemetry use); ``Parent`` is a 64-bit span id in 16 hex digits; ``Sampled`` is 0 or 1.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from qworker.errors import ConfigError
from qworker.xray import XRayContext as XRayContext
from qworker.xray import parse_xray_header as parse_xray_header
from qworker.xray import xray_header as xray_header

if TYPE_CHECKING:
    from qworker.otel import BatchTracer

#: the environment variable Lambda's runtimes set per invocation
TRACE_ENV = "_X_AMZN_TRACE_ID"
#: ``QWORKER_OTEL``: ``1`` on, ``0`` off, unset (or ``auto``) on when a tracer provider is set
OTEL_ENV = "QWORKER_OTEL"

_SPAN_MASK = (1 << 64) - 1


_making = threading.Lock()


class _NewHeader:
    """A new trace header made when first read: most handlers never read theirs, and making one
    costs a microsecond per invocation (at a batch of one, a few percent of the worker's cost)."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text: str | None = None

    def get(self) -> str:
        text = self.text
        if text is None:
            with _making:  # threads of one invocation reading it at once must agree
                if self.text is None:
                    self.text = new_trace_header()
                text = self.text
        return text


_current: ContextVar[str | _NewHeader | None] = ContextVar("qworker_trace_header", default=None)


def new_trace_header() -> str:
    """A new, unsampled X-Ray trace header, one per invocation (Lambda sends one with every
    invocation). Not a secret: :mod:`random` is enough, and ``os.urandom`` is a system call."""
    bits = random.getrandbits(160)
    return f"Root=1-{int(time.time()):08x}-{bits >> 64:024x};Parent={bits & _SPAN_MASK:016x};Sampled=0"


def current_trace_header() -> str | None:
    """The trace header of the invocation running in this context (its task or handler thread),
    ``None`` outside invocations. What ``_X_AMZN_TRACE_ID`` holds in Lambda."""
    header = _current.get()
    return header.get() if header.__class__ is _NewHeader else header  # type: ignore[union-attr,return-value]


def set_trace_header(header: str | None = None) -> Token[str | _NewHeader | None]:
    """Make ``header`` the current invocation's (by default a new one, made when first read:
    :func:`new_trace_header`); reset with :func:`reset_trace_header`."""
    return _current.set(_NewHeader() if header is None else header)


def clear_trace_header() -> Token[str | _NewHeader | None]:
    """No trace header in this context (a handler process between invocations)."""
    return _current.set(None)


def reset_trace_header(token: Token[str | _NewHeader | None]) -> None:
    _current.reset(token)


class _InvocationEnviron(os._Environ):  # type: ignore[misc,type-arg]
    """``os.environ`` whose ``_X_AMZN_TRACE_ID`` is the current invocation's (the context
    variable's) where there is one, and the real variable's elsewhere; every other name, and
    every write, is the real environment's."""

    __slots__ = ()

    def __getitem__(self, key: str) -> str:
        if key == TRACE_ENV:
            header = current_trace_header()
            if header is not None:
                return header
        return super().__getitem__(key)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        yield from super().__iter__()
        if self._shadows():
            yield TRACE_ENV

    def __len__(self) -> int:
        return super().__len__() + self._shadows()  # type: ignore[no-any-return]

    def _shadows(self) -> bool:
        """True when the context has a header and the real environment lacks the variable."""
        return _current.get() is not None and self.encodekey(TRACE_ENV) not in self._data


def install_environment_view() -> None:
    """Make ``os.environ`` show each invocation its own ``_X_AMZN_TRACE_ID`` (see the module's
    docstring). The object stays the same (only its class changes), so modules that did
    ``from os import environ`` see it too. Idempotent; undone by :func:`remove_environment_view`."""
    if type(os.environ) is os._Environ:
        os.environ.__class__ = _InvocationEnviron


def remove_environment_view() -> None:
    if type(os.environ) is _InvocationEnviron:
        os.environ.__class__ = os._Environ


def otel_setting(environ: dict[str, str] | os._Environ[str] | None = None) -> bool | None:
    """``QWORKER_OTEL`` read: True (on), False (off) or None (auto: on when a tracer provider is
    configured). Anything else is a configuration error, so a typo does not silently disable."""
    text = (environ if environ is not None else os.environ).get(OTEL_ENV, "").strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{OTEL_ENV}={text!r}: expected 1 (on), 0 (off) or auto.")


def otel_imported() -> bool:
    """True when the program already imported OpenTelemetry's API (checked without importing it:
    a program that never did cannot have configured a tracer provider)."""
    return "opentelemetry.trace" in sys.modules


def batch_tracer(queue: str, function_name: str, event_source_arn: str) -> BatchTracer | None:
    """The tracer of a mapping's batches, or ``None`` when OpenTelemetry is off.

    ``QWORKER_OTEL=1`` turns it on (and fails with the install command when the ``otel`` extra is
    missing); ``0`` turns it off; unset, it is on when the program configured an OpenTelemetry
    tracer provider (``opentelemetry-instrument``, or ``trace.set_tracer_provider`` in the handler's
    module, which the worker imports first). When it is off, qworker never imports OpenTelemetry.
    """
    setting = otel_setting()
    if setting is False or (setting is None and not otel_imported()):
        return None
    try:
        from qworker import otel
    except ImportError as exc:
        if setting:
            raise ConfigError(
                f"{OTEL_ENV}=1 needs OpenTelemetry ({exc}). Install it with: pip install 'qworker[otel]'"
            ) from exc
        return None
    if setting is None and not otel.provider_configured():
        return None
    return otel.BatchTracer(queue, function_name, event_source_arn)

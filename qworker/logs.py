"""Logging: structlog, JSON lines when not on a terminal, readable lines on one.

Every qworker log line is one event with key-value fields (``queue``, ``function``,
``request_id``, ...). Secrets never reach the output: every field (nested values and
exception texts included) goes through :func:`qworker.redaction.redact_text` in the last processor
before rendering (RELIABILITY.md §3.7). The standard ``logging``
module (used by handlers and libraries) is routed through the same renderer.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import MutableMapping
from types import ModuleType
from typing import Any, Literal

from qworker.redaction import redact_text


def _import_structlog() -> ModuleType:
    """``structlog``, imported without the optional libraries it would pull in for nothing.

    structlog's ``dev`` and ``tracebacks`` modules import rich (and through it pygments) and
    colorama whenever they are installed: about 50 ms, a quarter of ``qworker run``'s start-up.
    qworker renders exceptions to text itself (``format_exc_info`` runs before the renderer, so
    the redaction sees the text), which leaves structlog nothing to use rich for, and colorama
    only matters on Windows. greenlet, when installed, is imported only to pick the storage of
    structlog's deprecated ``threadlocal`` module, which qworker does not use. They are hidden
    while structlog imports, and importable as usual afterwards (the CLI's progress bars use
    rich).
    """
    if "structlog" in sys.modules:
        return sys.modules["structlog"]
    hidden = [name for name in ("rich", "colorama", "greenlet") if name not in sys.modules]
    if sys.platform == "win32":
        hidden = [name for name in hidden if name != "colorama"]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
    try:
        return importlib.import_module("structlog")
    finally:
        for name in hidden:
            del sys.modules[name]


structlog = _import_structlog()

LogFormat = Literal["auto", "json", "console"]


def _redacted(value: Any) -> Any:
    """``value`` with every string in it redacted; other objects become their redacted ``repr``
    (what the renderers would print), so an exception or a settings object cannot carry a secret
    past the filter."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    return redact_text(repr(value))


def _redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        event_dict[key] = _redacted(value)
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write (test captures swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


#: the level :func:`configure` set (everything is written until it is called)
_level = logging.NOTSET


def enabled_for(level: int) -> bool:
    """True when records of ``level`` are written: lets hot paths skip building log lines."""
    return level >= _level


def configure(fmt: LogFormat = "auto", level: str = "info", *, cache: bool = True) -> None:
    """Set up structlog and the standard logging module once, at process start.

    ``cache`` makes loggers keep their configuration after first use (fast; what a worker
    wants); tests that reconfigure logging pass ``cache=False``.
    """
    global _level
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    _level = numeric
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_event, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(_CurrentStderr())  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # botocore's DEBUG output carries credentials (RELIABILITY.md §3.4): never below INFO here.
    for noisy in ("botocore", "aiobotocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.INFO))


def reset() -> None:
    """Undo :func:`configure` for structlog (tests that configure logging call it afterwards)."""
    global _level
    _level = logging.NOTSET
    structlog.reset_defaults()

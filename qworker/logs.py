"""Logging: structlog, JSON lines when not on a terminal, readable lines on one.

Every qworker log line is one event with key-value fields (``queue``, ``function``,
``request_id``, ...). Secrets never reach the output: URLs with passwords and AWS key ids are
redacted by the last processor before rendering (RELIABILITY.md §3.7). The standard ``logging``
module (used by handlers and libraries) is routed through the same renderer.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "json", "console"]

_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_AWS_SECRET = re.compile(r"(?i)(aws_secret_access_key|secret_access_key|authorization)(\W+)([^\s'\",]+)")


def redact(text: str) -> str:
    """``text`` without URL passwords, AWS access key ids and secrets."""
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    if "AKIA" in text or "ASIA" in text:
        text = _AWS_KEY_ID.sub(r"\1****************", text)
    lowered = text.lower()
    if "secret" in lowered or "authorization" in lowered:
        text = _AWS_SECRET.sub(r"\1\2***", text)
    return text


def _redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
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
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact_event, renderer],
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

"""``sqs://`` URLs: where the SQS endpoint is and how to talk to it, never who we are.

::

    sqs://                                   the standard AWS chain decides everything
    sqs://?region=eu-west-1                  a region other than the environment's
    sqs://?endpoint_url=http://127.0.0.1:9324 an SQS-compatible server (ElasticMQ, LocalStack, moto)
    sqs://?profile=prod&max_connections=100  a named profile; a bigger connection pool

Options (all optional):

``region``
    AWS region. Default: the standard chain (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile).
``endpoint_url``
    An ``http(s)://`` endpoint. Default: botocore's own resolution, which honours
    ``AWS_ENDPOINT_URL_SQS`` and ``AWS_ENDPOINT_URL`` and the config file's ``endpoint_url``.
``profile``
    A profile of the shared config/credentials files. Default: ``AWS_PROFILE`` or ``default``.
``max_connections``
    Size of the HTTP connection pool (default 64). Every long poll holds a connection for up to
    20 s, so size it above the worker's pollers plus its concurrent deletes.
``retry_mode``, ``max_attempts``
    The SDK's retry policy: ``adaptive`` (default; client-side rate limiting when SQS throttles)
    or ``standard``, and the total attempts per request (default 5). ``AWS_RETRY_MODE`` and
    ``AWS_MAX_ATTEMPTS`` apply when the URL does not say.
``connect_timeout``, ``read_timeout``
    Seconds (defaults 10 and 40). ``read_timeout`` must exceed SQS's 20-second long poll.

Credentials are never taken from the URL (RELIABILITY.md §3.4): a URL with a user, a password or
a key parameter is refused, and the refusal does not repeat the secret. Use the standard chain
(environment, shared files, SSO, web identity, container or instance roles).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from qworker.errors import ConfigError
from qworker.redaction import redact_url, split_userinfo

RetryMode = Literal["adaptive", "standard"]

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 40.0
#: SQS's longest long poll; the read timeout must be longer
LONG_POLL_LIMIT = 20

_OPTIONS = (
    "region",
    "endpoint_url",
    "profile",
    "max_connections",
    "retry_mode",
    "max_attempts",
    "connect_timeout",
    "read_timeout",
)
#: parameter names that look like credentials: refused with a pointer to the credential chain
_SECRET_HINTS = ("key", "secret", "token", "password", "credential", "session")


@dataclass(frozen=True, slots=True)
class SQSSettings:
    """What an ``sqs://`` URL says. ``None`` leaves the choice to botocore's standard chain."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    retry_mode: RetryMode = "adaptive"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT

    @property
    def display_url(self) -> str:
        """The URL again, with the options that differ from the defaults (it holds no secret)."""
        defaults = SQSSettings(
            retry_mode=_env_retry_mode() or "adaptive",
            max_attempts=_env_max_attempts() or DEFAULT_MAX_ATTEMPTS,
        )
        query = {
            name: getattr(self, name) for name in _OPTIONS if getattr(self, name) != getattr(defaults, name)
        }
        return redact_url("sqs://" + (f"?{urlencode(query, safe=':/')}" if query else ""))


def parse_url(url: str) -> SQSSettings:
    """Parse an ``sqs://`` URL; raise :class:`~qworker.errors.ConfigError` saying what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"Invalid sqs:// URL: {exc}") from None
    if parts.scheme.lower() != "sqs":
        raise ConfigError(f"Not an sqs:// URL (scheme {parts.scheme!r}).")
    if "@" in parts.netloc:
        raise ConfigError(
            "sqs:// URLs never carry credentials: remove the user/password part and use the standard "
            "AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, roles)."
        )
    if parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(
            "sqs:// URLs take no host or path: the endpoint comes from the AWS region, "
            "AWS_ENDPOINT_URL_SQS, or sqs://?endpoint_url=http://HOST:PORT for an SQS-compatible server."
        )
    values: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        key = name.lower()
        if key not in _OPTIONS:
            if "@" in key:  # the tail of a raw password, as redact_url reads it: never shown
                raise ConfigError("sqs:// URLs never carry credentials (a parameter with '@' refused).")
            if any(hint in key for hint in _SECRET_HINTS):
                raise ConfigError(
                    f"sqs:// URLs never carry credentials (parameter {name!r} refused; its value is not "
                    "shown). Use the standard AWS credential chain instead."
                )
            raise ConfigError(f"Unknown sqs:// URL option {name!r}. Known options: {', '.join(_OPTIONS)}.")
        if key in values:
            raise ConfigError(f"The sqs:// URL option {name!r} is given twice.")
        values[key] = value
    endpoint = _endpoint(values.get("endpoint_url") or None)
    retry_mode = values.get("retry_mode") or _env_retry_mode() or "adaptive"
    if retry_mode not in ("adaptive", "standard"):
        raise ConfigError(f"retry_mode must be 'adaptive' or 'standard', not {retry_mode!r}.")
    settings = SQSSettings(
        region=values.get("region") or None,
        endpoint_url=endpoint,
        profile=values.get("profile") or None,
        max_connections=_int(values, "max_connections", DEFAULT_MAX_CONNECTIONS, 1, 10_000),
        retry_mode=retry_mode,  # type: ignore[arg-type]
        max_attempts=_int(values, "max_attempts", _env_max_attempts() or DEFAULT_MAX_ATTEMPTS, 1, 50),
        connect_timeout=_float(values, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, 0.1, 600),
        read_timeout=_float(values, "read_timeout", DEFAULT_READ_TIMEOUT, LONG_POLL_LIMIT + 1, 3600),
    )
    return settings


def _endpoint(endpoint: str | None) -> str | None:
    """The ``endpoint_url`` option, checked: an http(s) URL with a host and no credentials."""
    if endpoint is None:
        return None
    if split_userinfo(endpoint)[1] is not None:  # read as redact_url reads it (raw '/' in a password)
        raise ConfigError("endpoint_url must not carry credentials; use the AWS credential chain.")
    try:
        endpoint_parts = urlsplit(endpoint)
        valid = endpoint_parts.scheme in ("http", "https") and bool(endpoint_parts.hostname)
        valid = valid and (endpoint_parts.port or 0) >= 0  # .port raises on a bad port
    except ValueError:  # "Invalid IPv6 URL", a port that is no number
        valid = False
    if not valid:
        raise ConfigError(f"endpoint_url must be an http:// or https:// URL, not {redact_url(endpoint)!r}.")
    return endpoint


def _env_retry_mode() -> str | None:
    return os.environ.get("AWS_RETRY_MODE") or None


def _env_max_attempts() -> int | None:
    text = os.environ.get("AWS_MAX_ATTEMPTS")
    return _whole_number(text, "AWS_MAX_ATTEMPTS", 1, 50) if text else None


def _int(values: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = values.get(name)
    return _whole_number(text, f"The sqs:// option {name}", low, high) if text else default


def _whole_number(text: str, subject: str, low: int, high: int) -> int:
    """``text`` as a whole number from ``low`` to ``high``; the error names ``subject``."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{subject} must be a whole number, not {text!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{subject} must be between {low} and {high}, not {value}.")
    return value


def _float(values: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    text = values.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"The sqs:// option {name} must be a number of seconds, not {text!r}.") from None
    if math.isnan(value) or not low <= value <= high:
        raise ConfigError(
            f"The sqs:// option {name} must be between {low:g} and {high:g} seconds, not {text}."
        )
    return value

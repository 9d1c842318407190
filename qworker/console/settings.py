"""What the console is told at start: who may use it, whether it may change anything, how often
it samples. One frozen object, made by ``qworker serve`` (or ``qworker console``) from its
options, so nothing in the console reads the environment on its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from qworker.errors import ConfigError

#: env var holding the session-signing secret; without it a random one is made at start (every
#: session then ends when the server restarts, which is the safe default)
SECRET_ENV = "QWORKER_CONSOLE_SECRET"
#: the Host names a loopback-bound console answers to (a DNS-rebinding page gets a 421)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def parse_access_keys(values: Iterable[str]) -> dict[str, str]:
    """``ID:SECRET`` strings (``--access-key``, the same as ``qworker serve``'s) -> {id: secret}."""
    keys: dict[str, str] = {}
    for value in values:
        key_id, sep, secret = value.partition(":")
        if not sep or not key_id or not secret:
            raise ConfigError("--access-key takes ID:SECRET, for example --access-key admin:s3cret")
        keys[key_id] = secret
    return keys


def session_secret(explicit: bytes | None = None) -> bytes:
    """The key that signs session cookies and CSRF tokens: given, from the env, or random."""
    if explicit:
        return explicit
    from_env = os.environ.get(SECRET_ENV, "")
    if from_env:
        if len(from_env) < 16:
            raise ConfigError(f"{SECRET_ENV} must be at least 16 characters")
        return from_env.encode()
    return secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The console's configuration."""

    #: access key id -> secret; empty = no login (then keep the console on loopback)
    access_keys: Mapping[str, str] = field(default_factory=dict)
    #: hide and refuse every action (Send, Purge, Delete, Redrive, Cancel, attribute edits)
    read_only: bool = False
    #: signs session cookies and CSRF tokens
    secret: bytes = field(default_factory=session_secret)
    #: seconds between two samples of every queue's counts (the overview and charts read these)
    sample_interval: float = 10.0
    #: seconds of history the charts show
    history_seconds: float = 3600.0
    #: seconds between two live-update requests of an open page (never below 1)
    poll_interval: float = 2.0
    #: messages a queue page shows
    peek_limit: int = 50
    #: Host header names accepted (None: any); a loopback-bound server passes LOOPBACK_HOSTS
    allowed_hosts: frozenset[str] | None = None
    #: seconds a login lasts
    session_seconds: int = 12 * 3600
    #: the backend URL as shown on pages, with its password redacted by the caller
    backend_display: str = ""

    @property
    def login_required(self) -> bool:
        return bool(self.access_keys)

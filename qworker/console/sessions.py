"""Signed session cookies, CSRF tokens and bearer tokens.

A session is a cookie the server signed (HMAC-SHA256 with the console's secret), so the server
keeps no session table and a restart with a random secret ends every session. It names the
access key that logged in (empty when the console needs no login) and a random nonce; the CSRF
token is derived from the nonce, so it is per session, and a token from another session (or
another server secret) never matches. Every comparison of a secret uses
:func:`hmac.compare_digest`.

Every visitor gets a session, logged in or not: an open console (no access keys) still needs a
CSRF token per browser, or any page on the web could make that browser POST a purge to
``127.0.0.1``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

COOKIE_NAME = "qworker_console"


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session."""

    key_id: str  #: the access key that logged in; "" for an open console's anonymous session
    nonce: str
    issued: int  #: epoch seconds

    @property
    def logged_in(self) -> bool:
        return bool(self.key_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def new_session(key_id: str = "") -> Session:
    """A fresh session (a new nonce: logging in changes the CSRF token too)."""
    return Session(key_id, secrets.token_urlsafe(16), int(time.time()))


def encode(secret: bytes, session: Session) -> str:
    """The cookie value: ``payload.signature``."""
    payload = _b64(json.dumps([session.key_id, session.nonce, session.issued]).encode())
    return f"{payload}.{_sign(secret, payload)}"


def decode(secret: bytes, value: str | None, max_age: int) -> Session | None:
    """The session a cookie value holds, or None when it is missing, forged or too old."""
    if not value or "." not in value or len(value) > 512:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature.encode(), _sign(secret, payload).encode()):
        return None
    try:
        key_id, nonce, issued = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(key_id, str) or not isinstance(nonce, str) or not isinstance(issued, int):
        return None
    if time.time() - issued > max_age:
        return None
    return Session(key_id, nonce, issued)


def csrf_token(secret: bytes, session: Session) -> str:
    """The session's CSRF token (derived, so nothing is stored)."""
    return _sign(secret, f"csrf:{session.nonce}")


def csrf_ok(secret: bytes, session: Session | None, token: str | None) -> bool:
    """True when ``token`` is this session's CSRF token."""
    if session is None or not token:
        return False
    return hmac.compare_digest(token.encode(), csrf_token(secret, session).encode())


def key_ok(access_keys: Mapping[str, str], key_id: str, secret: str) -> bool:
    """True when ``key_id:secret`` is a configured access key. The secret is compared in constant
    time, and an unknown id costs the same comparison, so timing tells nothing."""
    expected = access_keys.get(key_id)
    candidate = secret.encode()
    if expected is None:
        hmac.compare_digest(candidate, candidate)
        return False
    return hmac.compare_digest(candidate, expected.encode())


def bearer_key(access_keys: Mapping[str, str], header: str | None) -> str | None:
    """The access key id of a valid ``Authorization: Bearer ID:SECRET`` header, else None."""
    if not header or header[:7].lower() != "bearer ":
        return None
    key_id, sep, secret = header[7:].strip().partition(":")
    if not sep or not key_ok(access_keys, key_id, secret):
        return None
    return key_id

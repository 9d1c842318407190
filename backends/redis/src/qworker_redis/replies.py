"""What an error from Redis means to the backend, in classes of its own.

On a single node every command goes through the lanes (:mod:`qworker_redis.fastlane`), which
raise hiredis's ``ReplyError`` for an error reply and the builtin ``ConnectionError`` /
``TimeoutError`` for a lost or silent connection. On Redis Cluster, redis-py raises its own
exceptions. Both become the classes below, so the transport's policy (retry, refuse, reload a
script) and its callers see one set. They are not redis-py's: importing ``redis.exceptions``
imports all of redis-py (~90 ms of every worker's start-up), which a single node never needs.
"""

from __future__ import annotations

import sys


class ErrorReply(Exception):
    """A command's error reply, its text as Redis sent it (``ERR ...``, ``WRONGTYPE ...``)."""


class ScriptMissing(ErrorReply):
    """``NOSCRIPT``: the server does not have the script (new or restarted): load it, call again."""


class AccessRefused(ErrorReply):
    """The server refuses these credentials or this user (``WRONGPASS``, ``NOAUTH``, ``NOPERM``):
    no retry cures it."""


class ServerLoading(ErrorReply):
    """``LOADING``: the server is reading its data set from disk; a retry a little later works."""


_PREFIXES: tuple[tuple[str, type[ErrorReply]], ...] = (
    ("NOSCRIPT", ScriptMissing),
    ("NOPERM", AccessRefused),
    ("WRONGPASS", AccessRefused),
    ("NOAUTH", AccessRefused),
    ("LOADING", ServerLoading),
)


def from_reply(text: str) -> ErrorReply:
    """The class for an error reply's text, by its leading code."""
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):
            return kind(text)
    return ErrorReply(text)


def from_redis_py(exc: BaseException) -> BaseException:
    """A redis-py exception (Redis Cluster's path) as the lanes would have raised it: one of the
    classes above, or the builtin ``ConnectionError`` / ``TimeoutError``; anything else as is."""
    errors = sys.modules.get("redis.exceptions")
    if errors is None or not isinstance(exc, errors.RedisError):
        return exc
    text = str(exc) or type(exc).__name__
    if isinstance(
        exc,
        errors.AuthenticationError | errors.AuthenticationWrongNumberOfArgsError | errors.NoPermissionError,
    ):
        return AccessRefused(text)
    if isinstance(exc, errors.BusyLoadingError):  # a ConnectionError subclass in redis-py: first
        return ServerLoading(text)
    if isinstance(exc, errors.NoScriptError):
        return ScriptMissing(text)
    if isinstance(exc, errors.TimeoutError):
        return TimeoutError(text)
    if isinstance(exc, errors.ConnectionError):
        return ConnectionError(text)
    if isinstance(exc, errors.ResponseError):
        return ErrorReply(text)
    return exc

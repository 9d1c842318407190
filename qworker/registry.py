"""Find the backend for a URL: entry points in the ``qworker.backends`` group, keyed by scheme.

qworker's own backends (SQLite, ``memory://``, Redis, SQS) ship in the ``qworker`` distribution and
register the same way a third-party backend would, but their schemes are resolved without reading
installed metadata (faster, and a source checkout works); only other schemes look at the entry
points. Redis and SQS need third-party libraries from the
``redis`` and ``sqs`` extras: a URL whose backend cannot import them fails with the exact command
that installs them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from qworker.errors import ConfigError, MissingBackendError
from qworker.redaction import redact_url

if TYPE_CHECKING:
    from qworker.backend import Backend

__all__ = ["open_backend", "redact_url", "resolve_url", "scheme_of"]  # redact_url: re-exported

ENTRY_POINT_GROUP = "qworker.backends"
DEFAULT_BACKEND_URL = "sqlite:///qworker.db"

#: schemes of qworker's backends that need an extra, and the extra that installs their libraries
_EXTRAS = {
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "rediss+cluster": "redis",
    "sqs": "sqs",
}
#: qworker's own backends, found without reading installed metadata: ``importlib.metadata`` and
#: its scan of every installed distribution cost ~20 ms of each command's start-up
_BUILTIN = {
    "sqlite": "qworker_sqlite:SQLiteBackend",
    "memory": "qworker.memory:MemoryBackend",
    "redis": "qworker_redis:RedisBackend",
    "rediss": "qworker_redis:RedisBackend",
    "redis+cluster": "qworker_redis:RedisBackend",
    "rediss+cluster": "qworker_redis:RedisBackend",
    "sqs": "qworker_sqs:SQSBackend",
}


def _entry_points() -> list[Any]:
    """Installed entry points of the ``qworker.backends`` group (third-party backends)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased; raises ``ConfigError`` when there is none."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ConfigError(
            f"Invalid backend URL {redact_url(url)!r}: expected SCHEME://..., for example "
            f"{DEFAULT_BACKEND_URL}, redis://localhost:6379/0 or sqs://"
        )
    return scheme.lower()


def available_schemes() -> dict[str, str]:
    """Scheme -> ``module:attr`` of every installed backend."""
    found = dict(_BUILTIN)
    for ep in _entry_points():
        found[ep.name.lower()] = ep.value
    return found


def backend_class(scheme: str) -> type[Backend]:
    """The backend class registered for ``scheme``.

    Raises :class:`~qworker.errors.MissingBackendError` with the install command when the scheme
    belongs to a backend that is not installed, and lists the installed schemes otherwise.
    """
    if scheme in _BUILTIN:
        return _load(_BUILTIN[scheme], scheme, None)
    for ep in _entry_points():
        if ep.name.lower() == scheme:
            return _load(ep.value, scheme, ep.load)
    if scheme in _EXTRAS:
        extra = _EXTRAS[scheme]
        raise MissingBackendError(
            f"The {scheme}:// backend is not installed. Install it with: pip install 'qworker[{extra}]'"
        )
    known = ", ".join(f"{name}://" for name in sorted(available_schemes()))
    raise MissingBackendError(f"No qworker backend handles {scheme}:// URLs. Installed backends: {known}")


def _load(target: str, scheme: str, loader: Any) -> type[Backend]:
    try:
        if loader is not None:
            return loader()
        module_name, _, attr = target.partition(":")
        module = __import__(module_name, fromlist=[attr])
        return getattr(module, attr)
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        if extra is None:
            raise MissingBackendError(f"The {scheme}:// backend ({target}) failed to import: {exc}") from exc
        raise MissingBackendError(
            f"The {scheme}:// backend needs libraries that are not installed ({exc}). "
            f"Install them with: pip install 'qworker[{extra}]'"
        ) from exc


def resolve_url(url: str | None = None) -> str:
    """``url``, else ``$QWORKER_BACKEND``, else ``sqlite:///qworker.db``."""
    return url or os.environ.get("QWORKER_BACKEND") or DEFAULT_BACKEND_URL


def open_backend(url: str | None = None) -> Backend:
    """Make the backend for ``url`` (default: ``$QWORKER_BACKEND`` or ``sqlite:///qworker.db``).

    The backend is not connected yet: use ``async with open_backend(url) as backend:``.
    """
    url = resolve_url(url)
    return backend_class(scheme_of(url)).from_url(url)

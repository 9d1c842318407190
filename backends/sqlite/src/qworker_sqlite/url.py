"""Parse ``sqlite://`` backend URLs into connection options.

Forms (DESIGN.md, "Backends and URLs"): ``sqlite:///relative/path.db`` (relative to the current
directory, resolved when the URL is parsed so a later ``chdir`` does not move the queue),
``sqlite:////abs/path.db``, and ``sqlite://`` or ``sqlite:///:memory:`` for an in-memory database
(one process only, gone on close). Query options: ``synchronous=normal|full``,
``busy_timeout_ms=N`` and ``wakeup=auto|inotify|poll`` (how a long poll notices other processes'
commits: :mod:`qworker_sqlite.watch`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from qworker.errors import ConfigError
from qworker.redaction import redact_url

DEFAULT_BUSY_TIMEOUT_MS = 5_000
_OPTIONS = ("synchronous", "busy_timeout_ms", "wakeup")
#: the options that take one of a few words (any case), with what each word means (the error
#: for another word lists them)
_CHOICES: dict[str, dict[str, str]] = {
    "synchronous": {
        "normal": "the default: survives a killed process",
        "full": "fsync every commit: survives power loss",
    },
    "wakeup": {
        "auto": "the default: inotify where the kernel offers it, else poll",
        "inotify": "Linux",
        "poll": "read the database's change counter every 10 ms: works everywhere",
    },
}


@dataclass(frozen=True, slots=True)
class SQLiteOptions:
    """Where the database lives and how it commits."""

    #: absolute path of the database file; ``None`` for an in-memory database
    path: str | None
    #: ``normal``: a commit survives the process being killed (even ``kill -9``) but the last
    #: commits can be lost on power failure or an OS crash; ``full``: every commit is fsynced
    synchronous: Literal["normal", "full"] = "normal"
    #: how long a writer waits for another process's transaction before giving up
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    #: how a long poll notices commits by other processes: ``inotify`` (Linux: the kernel reports
    #: each write to the WAL file), ``poll`` (read ``PRAGMA data_version`` every 10 ms: portable)
    #: or ``auto`` (inotify where it works, else poll); see :mod:`qworker_sqlite.watch`
    wakeup: Literal["auto", "inotify", "poll"] = "auto"

    @property
    def in_memory(self) -> bool:
        """True for ``sqlite://`` / ``sqlite:///:memory:``."""
        return self.path is None


def parse_url(url: str) -> SQLiteOptions:
    """The options a ``sqlite://`` URL names; ``ConfigError`` says exactly what is wrong."""
    shown = redact_url(url)  # error messages never repeat a credential
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"Invalid SQLite URL {shown!r}: {exc}") from exc
    if parts.scheme.lower() != "sqlite" or not url.lower().startswith("sqlite://"):
        raise ConfigError(f"Invalid SQLite URL {shown!r}: it must start with sqlite://")
    if parts.netloc:
        raise ConfigError(
            f"Invalid SQLite URL {shown!r}: SQLite URLs have no host. Use sqlite:///relative/path.db "
            "(three slashes), sqlite:////absolute/path.db (four), or sqlite:// (in memory)."
        )
    if parts.fragment:
        raise ConfigError(f"Invalid SQLite URL {shown!r}: a fragment (#...) means nothing here.")
    options = _query_options(shown, parts.query)
    raw_path = unquote(parts.path)
    if raw_path in ("", "/:memory:"):
        path = None
    elif raw_path == "/":
        raise ConfigError(
            f"Invalid SQLite URL {shown!r}: no database file named. Use sqlite:///qworker.db for a file "
            "or sqlite:// for an in-memory database."
        )
    else:
        relative = raw_path[1:]  # the slash after the empty host
        if "\x00" in relative:
            raise ConfigError(f"Invalid SQLite URL {shown!r}: the path contains a NUL character.")
        path = os.path.abspath(relative)
    return SQLiteOptions(path=path, **options)


def url_of(options: SQLiteOptions) -> str:
    """The URL that :func:`parse_url` reads back as ``options`` (defaults left out)."""
    url = "sqlite://" if options.path is None else "sqlite:///" + quote(options.path)
    query = []
    if options.synchronous != "normal":
        query.append(f"synchronous={options.synchronous}")
    if options.busy_timeout_ms != DEFAULT_BUSY_TIMEOUT_MS:
        query.append(f"busy_timeout_ms={options.busy_timeout_ms}")
    if options.wakeup != "auto":
        query.append(f"wakeup={options.wakeup}")
    return url + ("?" + "&".join(query) if query else "")


def _query_options(shown: str, query: str) -> dict[str, object]:
    options: dict[str, object] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigError(f"Invalid SQLite URL {shown!r}: malformed query string.") from exc
    for name, value in pairs:
        if name in options:
            raise ConfigError(f"Invalid SQLite URL {shown!r}: option {name!r} is given twice.")
        if name in _CHOICES:
            options[name] = _choice(shown, name, value)
        elif name == "busy_timeout_ms":
            if not (value.isascii() and value.isdigit()):
                raise ConfigError(
                    f"Invalid SQLite URL {shown!r}: busy_timeout_ms={value!r} must be a whole number of "
                    "milliseconds (0 or more)."
                )
            options[name] = int(value)
        else:
            raise ConfigError(
                f"Invalid SQLite URL {shown!r}: unknown option {name!r}; "
                f"known options: {', '.join(_OPTIONS)}."
            )
    return options


def _choice(shown: str, name: str, value: str) -> str:
    """The word option ``name`` is given, lower-cased, or the error that lists the valid ones."""
    meanings = _CHOICES[name]
    if value.lower() in meanings:
        return value.lower()
    valid = [f"{word} ({meaning})" for word, meaning in meanings.items()]
    listed = f"{', '.join(valid[:-1])} or {valid[-1]}"
    raise ConfigError(f"Invalid SQLite URL {shown!r}: {name}={value!r}; valid values: {listed}.")

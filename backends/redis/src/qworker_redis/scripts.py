"""The Lua scripts: loaded from package data, includes resolved, called by SHA.

Each script lives in ``lua/<command>-<numkeys>.lua`` and opens with a docblock listing its KEYS
and ARGV (BullMQ's convention, STYLE R4). ``--- @include NAME`` lines are replaced by
``lua/includes/NAME.lua``. The explicit name -> file map below catches a typo at import time
instead of at the first call. Scripts answer a negative integer as their first element for an
error of the whole call; :data:`ERROR_CODES` names them.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: script name -> file in ``qworker_redis/lua``
SCRIPT_FILES: dict[str, str] = {
    "register": "register-15.lua",
    "unregister": "unregister-15.lua",
    "create": "create-14.lua",
    "drop": "drop-14.lua",
    "forget": "forget-1.lua",
    "purge": "purge-14.lua",
    "counts": "counts-14.lua",
    "send": "send-14.lua",
    "receive": "receive-28.lua",
    "delete": "delete-14.lua",
    "change_visibility": "change_visibility-14.lua",
    "peek": "peek-14.lua",
    "record_failures": "record_failures-14.lua",
    "quarantine": "quarantine-14.lua",
    "quarantine_list": "quarantine_list-14.lua",
    "unquarantine": "unquarantine-14.lua",
    "redrive": "redrive-28.lua",
    "delete_by_id": "delete_by_id-14.lua",
    "restore": "restore-28.lua",
    "configure": "configure-14.lua",
    "tags": "tags-14.lua",
    "dead_letter": "dead_letter-14.lua",
    "records": "records-2.lua",
}

_INCLUDE = re.compile(r'^--- @include "?([A-Za-z0-9_]+)"?\s*$', re.M)


class ScriptError(enum.IntEnum):
    """Whole-call errors scripts report as a negative first element."""

    QUEUE_DOES_NOT_EXIST = -1  #: meta missing, or another incarnation of the queue
    SOURCE_DOES_NOT_EXIST = -2  #: redrive: the dead-letter queue is gone
    STALE_SPEC = -3  #: the client's cached spec is an older revision: ``{-3, revision, spec}``
    PURGE_IN_PROGRESS = -4  #: purged less than 60 s ago: ``{-4, ms until allowed}``
    TOO_MANY_TAGS = -5  #: TagQueue would leave more than 50 tags: ``{-5, count}``


#: per-entry codes of delete / change_visibility
ENTRY_CODES: dict[int, str] = {
    1: "ReceiptHandleIsInvalid",
    2: "ReceiptHandleIsStale",
    3: "MessageNotInflight",
    4: "InvalidParameterValue",
    5: "InvalidParameterValue",
}


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua script: its name, its source with includes pasted, and the SHA1 Redis knows it by."""

    name: str
    source: bytes
    sha: str
    numkeys: int


def _read(name: str) -> str:
    return resources.files("qworker_redis").joinpath("lua", name).read_text(encoding="utf-8")


def _expand(text: str) -> str:
    return _INCLUDE.sub(lambda m: _read(f"includes/{m.group(1)}.lua"), text)


def load_scripts() -> dict[str, Script]:
    """Every script, keyed by name."""
    scripts = {}
    for name, filename in SCRIPT_FILES.items():
        source = _expand(_read(filename)).encode()
        numkeys = int(filename.rsplit("-", 1)[1].removesuffix(".lua"))
        scripts[name] = Script(name, source, hashlib.sha1(source, usedforsecurity=False).hexdigest(), numkeys)
    return scripts


SCRIPTS = load_scripts()


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_head(script: Script, keys: Sequence[bytes]) -> bytes:
    """The RESP encoding of ``EVALSHA sha numkeys KEYS...``, computed once per queue and script."""
    parts = [_bulk(b"EVALSHA"), _bulk(script.sha.encode()), _bulk(str(len(keys)).encode())]
    parts += [_bulk(key) for key in keys]
    return b"".join(parts)


def pack_args(head: bytes, head_items: int, args: Sequence[Any]) -> bytes:
    """A whole command in RESP: ``head`` (``head_items`` items) followed by ``args``.

    Faster than redis-py's general packer for the hot path: arguments are only str, bytes, int.
    """
    parts = [b"*%d\r\n" % (head_items + len(args)), head]
    append = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            arg = arg.encode()
        elif kind is int:
            arg = b"%d" % arg
        elif kind is not bytes:
            raise TypeError(f"cannot send {kind.__name__} to Redis")
        append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)

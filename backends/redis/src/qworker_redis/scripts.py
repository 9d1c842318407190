"""The Lua scripts: loaded from package data, their KEYS read from their headers.

Each script lives in ``lua/<command>-<numkeys>.lua`` (BullMQ's convention, STYLE R4) and opens
with a docblock that lists every key it takes, one line each, by name::

    KEYS[1]  Q.meta       the queue's attributes
    KEYS[2]  Q.inflight   ...
    KEYS[9]  D.meta       its dead-letter queue's attributes

``Q``, ``D`` and ``S`` are queues (their keys are named by :data:`~qworker_redis.keys.
QUEUE_KEY_SUFFIXES`), ``G.registry`` the global queue registry, ``R.data`` and ``R.exp`` a record
kind's keys. That list is the single definition of a script's keys: the loader checks it
against the file name, the client passes exactly those keys in that order
(:meth:`Script.keys_for`), and the script reaches them through tables the loader generates from
it (``local Q = {meta = KEYS[1], ...}``), which refuse a key the header does not list, so a
script cannot touch a key it was not given. ``backends/redis/tests/test_redis_scripts.py``
checks that each script touches every key it lists. ``--- @include NAME`` lines are replaced by
``lua/includes/NAME.lua``. Scripts answer a negative integer as their first element for an error
of the whole call; :class:`ScriptError` names them.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from qworker_redis.keys import QUEUE_KEY_SUFFIXES, QueueKeys

#: script name -> file in ``qworker_redis/lua``; the number is how many keys its header lists
SCRIPT_FILES: dict[str, str] = {
    "register": "register-15.lua",
    "unregister": "unregister-15.lua",
    "create": "create-14.lua",
    "drop": "drop-14.lua",
    "forget": "forget-1.lua",
    "purge": "purge-11.lua",
    "counts": "counts-11.lua",
    "send": "send-11.lua",
    "receive": "receive-21.lua",
    "delete": "delete-10.lua",
    "change_visibility": "change_visibility-8.lua",
    "peek": "peek-6.lua",
    "record_failures": "record_failures-3.lua",
    "quarantine": "quarantine-11.lua",
    "quarantine_list": "quarantine_list-2.lua",
    "unquarantine": "unquarantine-2.lua",
    "redrive": "redrive-17.lua",
    "delete_by_id": "delete_by_id-10.lua",
    "restore": "restore-10.lua",
    "configure": "configure-2.lua",
    "tags": "tags-1.lua",
    "dead_letter": "dead_letter-9.lua",
    "records": "records-2.lua",
}

#: the key names each kind of role may list: a queue's suffixes, the registry, a record kind's
ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "Q": QUEUE_KEY_SUFFIXES,
    "D": QUEUE_KEY_SUFFIXES,
    "S": QUEUE_KEY_SUFFIXES,
    "G": ("registry",),
    "R": ("data", "exp"),
}

_INCLUDE = re.compile(r'^--- @include "?([A-Za-z0-9_]+)"?\s*$', re.M)
_KEY_LINE = re.compile(r"^\s*KEYS\[(\d+)\]\s+([A-Z])\.([a-z]+)\b", re.M)
_KEY_MENTION = re.compile(r"KEYS\[(\d+)")


class ScriptError(enum.IntEnum):
    """Whole-call errors scripts report as a negative first element."""

    QUEUE_DOES_NOT_EXIST = -1  #: meta missing, or another incarnation of the queue
    SOURCE_DOES_NOT_EXIST = -2  #: redrive, restore: the other queue is gone
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

#: where a script finds a role's keys: a queue's :class:`QueueKeys`, or name -> key
KeySource = QueueKeys | Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua script: its name, its source as sent (generated key tables, includes pasted), the
    SHA1 Redis knows it by, and its keys as ``(role, name)`` pairs in KEYS order."""

    name: str
    source: bytes
    sha: str
    keys: tuple[tuple[str, str], ...]

    @property
    def numkeys(self) -> int:
        return len(self.keys)

    def keys_for(self, **roles: KeySource) -> tuple[bytes, ...]:
        """The KEYS of a call: each listed key taken from its role's keys (``Q=ref.keys``)."""
        out = []
        for role, key in self.keys:
            source = roles[role]
            out.append(source.key(key) if isinstance(source, QueueKeys) else source[key])
        return tuple(out)


def _read(name: str) -> str:
    return resources.files("qworker_redis").joinpath("lua", name).read_text(encoding="utf-8")


def _expand(text: str) -> str:
    return _INCLUDE.sub(lambda m: _read(f"includes/{m.group(1)}.lua"), text)


def declared_keys(filename: str, text: str) -> tuple[tuple[str, str], ...]:
    """The ``KEYS[i] ROLE.name`` lines of a script's header, checked: numbered 1..n in order,
    n as in the file name, names its role can have, no key listed twice."""
    header = text.partition("]]")[0]
    found = [(int(i), role, key) for i, role, key in _KEY_LINE.findall(header)]
    expected = int(filename.rsplit("-", 1)[1].removesuffix(".lua"))
    if [i for i, _, _ in found] != list(range(1, expected + 1)):
        raise ImportError(f"lua/{filename}: its header must list KEYS[1] to KEYS[{expected}], one per line")
    keys = tuple((role, key) for _, role, key in found)
    for role, key in keys:
        if key not in ROLE_KEYS.get(role, ()):
            raise ImportError(f"lua/{filename}: KEYS entry {role}.{key} is not a key of a {role} role")
    if len(set(keys)) != len(keys):
        raise ImportError(f"lua/{filename}: a key is listed twice")
    return keys


def key_tables(keys: tuple[tuple[str, str], ...]) -> str:
    """Lua that names the KEYS by role (``local Q = {meta = KEYS[1], ...}``); reading a key the
    header does not list is an error, not a silent nil."""
    lines = [
        "local STRICT_KEYS = {__index = function(_, k)",
        "  error('key ' .. k .. ' is not in the script header', 2)",
        "end}",
    ]
    for role in dict.fromkeys(role for role, _ in keys):
        fields = ", ".join(f"{key} = KEYS[{i}]" for i, (r, key) in enumerate(keys, 1) if r == role)
        lines.append(f"local {role} = setmetatable({{{fields}}}, STRICT_KEYS)")
    return "\n".join(lines) + "\n"


def load_scripts() -> dict[str, Script]:
    """Every script, keyed by name."""
    scripts = {}
    for name, filename in SCRIPT_FILES.items():
        text = _read(filename)
        keys = declared_keys(filename, text)
        body = text.partition("]]")[2]
        if _KEY_MENTION.search(_INCLUDE.sub("", body)):
            raise ImportError(f"lua/{filename}: use the key tables (Q.meta), not KEYS[i]")
        source = (key_tables(keys) + _expand(text)).encode()
        scripts[name] = Script(name, source, hashlib.sha1(source, usedforsecurity=False).hexdigest(), keys)
    return scripts


SCRIPTS = load_scripts()

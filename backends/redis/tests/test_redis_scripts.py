"""The Lua scripts take exactly the keys they touch, named in their headers (BullMQ's
``<name>-<nkeys>.lua``), and the docs point only to files that exist.

The key check reads each script's Lua (comments stripped): the keys it reaches directly
(``Q.ready``) and through the helpers it calls with a queue table (``refresh_group(D, g)``,
followed transitively through ``lua/includes``), per role, must be exactly the keys its header
lists. At run time, the generated key tables refuse a key the header does not list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from qworker_redis import RedisBackend
from qworker_redis.replies import ErrorReply
from qworker_redis.scripts import SCRIPT_FILES, SCRIPTS, key_tables
from qworker_redis.testing import RedisServer

LUA = Path(str(resources.files("qworker_redis").joinpath("lua")))
PACKAGE = LUA.parent
ROLES = "QDSGR"
_FUNCTION = re.compile(r"^local function (\w+)\(([^)]*)\)\n(.*?)^end\b", re.S | re.M)


def _strip_comments(text: str) -> str:
    text = re.sub(r"--\[\[.*?\]\]", "", text, flags=re.S)
    return re.sub(r"--[^\n]*", "", text)


def _helpers() -> dict[str, tuple[set[str], set[str]]]:
    """Each include helper that takes a queue table first: (keys it reads, helpers it passes
    that table to)."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for path in (LUA / "includes").glob("*.lua"):
        for name, params, body in _FUNCTION.findall(_strip_comments(path.read_text())):
            first = params.split(",")[0].strip()
            if first not in ROLES:
                continue
            keys = set(re.findall(rf"\b{first}\.(\w+)", body))
            calls = set(re.findall(rf"\b(\w+)\(\s*{first}\b", body))
            out[name] = (keys, calls)
    return out


def _closure(helper: str, helpers: dict[str, tuple[set[str], set[str]]], seen: set[str]) -> set[str]:
    if helper not in helpers or helper in seen:
        return set()
    seen.add(helper)
    keys, calls = helpers[helper]
    found = set(keys)
    for call in calls:
        found |= _closure(call, helpers, seen)
    return found


def touched(filename: str) -> set[tuple[str, str]]:
    """The (role, key) pairs a script's Lua reaches, directly or through include helpers."""
    body = _strip_comments((LUA / filename).read_text())
    helpers = _helpers()
    found = {(role, key) for role, key in re.findall(rf"\b([{ROLES}])\.(\w+)", body)}
    for helper, role in re.findall(rf"\b(\w+)\(\s*([{ROLES}])\b", body):
        found |= {(role, key) for key in _closure(helper, helpers, set())}
    return found


@pytest.mark.parametrize("name", sorted(SCRIPT_FILES))
def test_each_script_takes_exactly_the_keys_it_touches(name: str) -> None:
    script = SCRIPTS[name]
    assert touched(SCRIPT_FILES[name]) == set(script.keys), SCRIPT_FILES[name]
    assert SCRIPT_FILES[name] == f"{name}-{script.numkeys}.lua"


def test_the_lua_folder_holds_exactly_the_scripts_and_includes_in_use() -> None:
    shipped = {p.relative_to(LUA).as_posix() for p in LUA.rglob("*.lua")}
    included = {
        f"includes/{name}.lua"
        for filename in SCRIPT_FILES.values()
        for name in re.findall(r'^--- @include "?(\w+)"?', (LUA / filename).read_text(), re.M)
    }
    assert shipped == set(SCRIPT_FILES.values()) | included


def _mentions() -> Iterator[tuple[str, str]]:
    for path in [*PACKAGE.glob("*.py"), *LUA.rglob("*.lua")]:
        for mention in re.findall(r"\b((?:lua/)?(?:includes/)?[a-z_]+-?\d*\.lua)\b", path.read_text()):
            yield path.name, mention


def test_docs_name_only_lua_files_that_exist() -> None:
    """keys.py, the scripts and the modules point to scripts by file name: each must exist."""
    missing = []
    for source, mention in _mentions():
        name = mention.removeprefix("lua/")
        if not ((LUA / name).exists() or (LUA / "includes" / name).exists()):
            missing.append(f"{source}: {mention}")
    assert missing == []


@pytest.fixture
async def backend(redis_server: RedisServer) -> RedisBackend:
    async with RedisBackend(redis_server.url) as backend:
        yield backend  # type: ignore[misc]


async def test_a_key_missing_from_the_header_is_an_error_not_nil(backend: RedisBackend) -> None:
    source = key_tables((("Q", "meta"),)) + "return Q.ready"
    with pytest.raises(ErrorReply, match="ready is not in the script header"):
        await backend._call("EVAL", source, 1, "qworker:{t}:t:meta")

"""The shared record store (``Backend.put_record`` and its siblings: message-move tasks of
``qworker serve --workers N``, worker heartbeats): two keys per record kind, one script
(``lua/records-2.lua``); Redis's clock decides expiry, as it does for messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qworker import limits
from qworker_redis.core import Core
from qworker_redis.keys import record_keys
from qworker_redis.scripts import SCRIPTS


async def _records(core: Core, kind: str, op: str, *args: Any) -> list[Any]:
    data, exp = record_keys(kind, core.prefix)
    keys = SCRIPTS["records"].keys_for(R={"data": data, "exp": exp})
    return await core.eval("records", keys, [op, core.offset_ms(), *args])


async def put_record(
    core: Core, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
) -> None:
    text = limits.check_record(kind, key, value, ttl_seconds)
    ttl = "" if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
    await _records(core, kind, "put", key, text, ttl)


async def get_record(core: Core, kind: str, key: str) -> dict[str, Any] | None:
    limits.check_record(kind, key)
    reply = await _records(core, kind, "get", key)
    return json.loads(reply[1]) if reply[0] == 1 else None


async def list_records(core: Core, kind: str) -> dict[str, dict[str, Any]]:
    limits.check_record(kind, "-")
    reply = await _records(core, kind, "list", "")
    return {reply[i].decode(): json.loads(reply[i + 1]) for i in range(1, len(reply), 2)}


async def delete_record(core: Core, kind: str, key: str) -> bool:
    limits.check_record(kind, key)
    return bool((await _records(core, kind, "del", key))[0] == 1)

"""Damaging stored messages the way each backend's data can be damaged (RELIABILITY T16).

The conformance suite's ``corrupt_message`` hook and the runtime's quarantine tests use these:
SQLite rows get garbage in a column (as a bad disk or another program writing to the file
could leave them), Redis envelopes are overwritten (as a foreign writer could).
"""

from __future__ import annotations

import pytest

from qworker.backend import Backend
from qworker.memory import MemoryBackend
from qworker_sqlite import SQLiteBackend
from qworker_sqlite.store import Store

#: SQLite: garbage where the msgpack'd attributes are, or bytes that are not UTF-8 in the body
#: (inline, or in ``bodies`` for a large message)
_SQL = {
    "attributes": (
        "UPDATE messages SET attrs = x'c1c1' WHERE seq = ?1 AND body IS NOT NULL",
        "UPDATE bodies SET attrs = x'c1c1' WHERE seq = ?1",
    ),
    "body": (
        "UPDATE messages SET body = CAST(x'ff61' AS TEXT) WHERE seq = ?1 AND body IS NOT NULL",
        "UPDATE bodies SET body = CAST(x'ff61' AS TEXT) WHERE seq = ?1",
    ),
}


async def corrupt_row(backend: Backend, queue: str, message_id: str, part: str) -> None:
    """Damage message ``message_id`` of ``queue`` in the SQLite database: ``part`` is
    ``"attributes"`` (the body stays readable) or ``"body"``."""
    assert isinstance(backend, SQLiteBackend)

    def damage(store: Store) -> None:
        with store.write() as conn:
            (seq,) = conn.execute(
                "SELECT seq FROM messages WHERE message_id = ? "
                "AND queue_id = (SELECT id FROM queues WHERE name = ?)",
                (message_id, queue),
            ).fetchone()
            assert sum(conn.execute(sql, (seq,)).rowcount for sql in _SQL[part]) == 1

    await backend._call(damage)


async def corrupt_envelope(backend: Backend, queue: str, message_id: str, part: str) -> None:
    """Overwrite a message's envelope in Redis: ``attributes`` keeps a well-formed envelope whose
    attributes are not a list (its body stays readable); ``body`` writes bytes that are not
    msgpack at all."""
    import msgpack

    from qworker_redis import RedisBackend

    assert isinstance(backend, RedisBackend)
    await backend.get_queue(queue)
    key = backend._refs[queue].keys.key("msgs")
    envelope = await backend._call("HGET", key, message_id)
    assert envelope is not None, message_id
    if part == "attributes":
        items = msgpack.unpackb(envelope)
        items[2] = "not a list of attributes"
        damaged = msgpack.packb(items, use_bin_type=True)
    else:
        damaged = b"\xc1\xc1 not msgpack"
    await backend._call("HSET", key, message_id, damaged)


async def corrupt_message(backend: Backend, queue: str, message_id: str, part: str = "attributes") -> None:
    """Damage a stored message on whichever backend this is (SQLite, Redis or memory://)."""
    if isinstance(backend, MemoryBackend):
        backend.corrupt(queue, message_id, part)
    elif isinstance(backend, SQLiteBackend):
        await corrupt_row(backend, queue, message_id, part)
    else:
        await corrupt_envelope(backend, queue, message_id, part)


async def overwrite_raw(backend: Backend, queue: str, message_id: str, data: bytes) -> None:
    """Replace what the backend stores as the message's raw data with ``data``: SQLite's body
    column (as TEXT, whatever the bytes), Redis's envelope. memory:// keeps Python objects, no
    bytes: the test is skipped there."""
    if isinstance(backend, MemoryBackend):
        pytest.skip("memory:// keeps Python objects, not bytes: there is no raw data to overwrite")
    if isinstance(backend, SQLiteBackend):

        def write(store: Store) -> None:
            with store.write() as conn:
                changed = conn.execute(
                    "UPDATE messages SET body = CAST(? AS TEXT) WHERE message_id = ? "
                    "AND queue_id = (SELECT id FROM queues WHERE name = ?)",
                    (data, message_id, queue),
                ).rowcount
                assert changed == 1

        await backend._call(write)
        return
    from qworker_redis import RedisBackend

    assert isinstance(backend, RedisBackend)
    await backend.get_queue(queue)
    await backend._call("HSET", backend._refs[queue].keys.key("msgs"), message_id, data)

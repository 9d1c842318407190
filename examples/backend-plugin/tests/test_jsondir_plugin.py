"""The plugin is found the way qworker finds every backend: by its URL scheme, through the
``qworker.backends`` entry points of the installed package."""

from __future__ import annotations

from pathlib import Path

from qworker.backend import QueueSpec, SendEntry
from qworker.registry import open_backend

from qworker_jsondir import JsonDirBackend


async def test_open_backend_finds_the_scheme(tmp_path: Path) -> None:
    url = f"jsondir://{tmp_path}/queues"
    async with open_backend(url) as backend:
        assert isinstance(backend, JsonDirBackend)
        await backend.create_queue(QueueSpec("orders"))
        await backend.send("orders", [SendEntry('{"order_id": 1}')])
    async with open_backend(url) as again:  # another client: the queue is in the directory
        [message] = await again.receive("orders")
        assert message.body == '{"order_id": 1}'
    assert (tmp_path / "queues" / "orders.json").is_file()

"""Fixtures for the Runtime API tests: real runtime processes (Node.js, shell, Python) end to end.

Functions live in ``tests/runtime_api/apps`` and append one line per invocation to the ledger
file named by ``QW_TEST_LEDGER`` (the runtime processes inherit the worker's environment), as
the runtime tests do (``tests/runtime/conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Backend, QueueSpec, SendEntry
from qworker.runtime.config import MappingConfig
from qworker.runtime.worker import Worker, WorkerOptions
from tests.runtime.conftest import (  # noqa: F401 - fixtures shared with the runtime tests
    Ledger,
    _restore_environment,
    ledger,
)

APPS = Path(__file__).parent / "apps"
NODE_DIR = APPS / "node"

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def node_mapping(handler: str, queue: str, **kwargs: Any) -> MappingConfig:
    return MappingConfig(handler=handler, queue=queue, runtime="nodejs20.x", code_dir=str(NODE_DIR), **kwargs)


async def make_queue(backend: Backend, name: str, **attrs: Any) -> str:
    await backend.create_queue(QueueSpec(name, **attrs))
    return name


async def send(backend: Backend, queue: str, bodies: list[Any]) -> list[str]:
    entries = [SendEntry(b if isinstance(b, str) else json.dumps(b)) for b in bodies]
    result = await backend.send(queue, entries)
    assert not result.failed, result.failed
    return [r.message_id for r in result.successful]


def worker(backend_url: str, *configs: MappingConfig, **options: Any) -> Worker:
    opts = WorkerOptions(backend_url=backend_url, app_dir=str(APPS), **options)
    return Worker(list(configs), opts)


async def run_until_empty(
    backend_url: str, *configs: MappingConfig, timeout: float = 60, **options: Any
) -> int:
    """Run a worker in this process until its queues are empty; returns its exit code."""
    async with asyncio.timeout(timeout):
        return await worker(backend_url, *configs, until_empty=True, **options).serve()


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)

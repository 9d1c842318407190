"""qworker: run AWS-Lambda-style SQS handlers anywhere.

A handler written for Lambda's SQS event source mapping (``def handler(event, context)``) runs
unchanged under ``qworker run app:handler``, against a queue kept in embedded SQLite (the default),
Redis, or Amazon SQS. Programs send to those queues with :class:`Client` (blocking,
thread-safe) or :class:`AsyncClient` (asyncio).
"""

from __future__ import annotations

from qworker.version import __version__

TYPE_CHECKING = False  # not typing's: `import qworker` imports nothing (start-up time matters)
if TYPE_CHECKING:
    from typing import Any

    from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy
    from qworker.client import AsyncClient, Client, Message

__all__ = [
    "AsyncClient",
    "Client",
    "Message",
    "MessageAttributeValue",
    "QueueSpec",
    "RedrivePolicy",
    "__version__",
]

#: names imported on first use: ``import qworker`` (every CLI command, every handler process)
#: must not pay for the client's imports
_LAZY = {
    "Client": "qworker.client",
    "AsyncClient": "qworker.client",
    "Message": "qworker.client",
    "MessageAttributeValue": "qworker.backend",
    "QueueSpec": "qworker.backend",
    "RedrivePolicy": "qworker.backend",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qworker' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

"""Send messages from Python code: :class:`Client` (blocking, thread-safe) and
:class:`AsyncClient` (asyncio, task-safe), over any backend URL.

``qworker.Client`` and ``qworker.AsyncClient`` are these; the README's "Sending messages from
your code" shows them at work. Modules: ``messages`` (bodies and attributes, converted the one
documented way), ``queues`` (``create_queue``'s attributes), ``results`` (``send_batch``'s
results), ``aio`` (the async client), ``sync`` (the thread that runs it for blocking code).
"""

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy
from qworker.client.aio import AsyncClient
from qworker.client.messages import Message
from qworker.client.results import BatchResult
from qworker.client.sync import Client
from qworker.errors import QWorkerError, SendFailed

__all__ = [
    "AsyncClient",
    "BatchResult",
    "Client",
    "Message",
    "MessageAttributeValue",
    "QWorkerError",
    "QueueSpec",
    "RedrivePolicy",
    "SendFailed",
]

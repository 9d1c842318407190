"""What the SQS actions call: the backend, and the little state a server process keeps itself.

Everything about queues and messages goes to the backend protocol and nothing else (DESIGN.md),
so ``qworker run``, ``qworker send`` and ``qworker queue stats`` see the same queues, tags,
attributes and purges as the API. The process keeps only what is about its own requests: the
answers of FIFO receives by ``ReceiveRequestAttemptId``
(:class:`~qworker.serve.attempts.AttemptCache`), the batches of single sends and deletes it is
gathering (:class:`~qworker.serve.batcher.Batcher`), and the move
tasks it runs (:class:`~qworker.serve.tasks.TaskBook`, whose records are shared through the
backend's record store when it has one).
"""

from __future__ import annotations

from collections.abc import Mapping

from qworker.backend import Backend, QueueInfo, QueueSpec


class Service:
    """The backend and the server's per-process state; one per server process."""

    def __init__(self, backend: Backend) -> None:
        from qworker.serve.attempts import AttemptCache
        from qworker.serve.batcher import Batcher
        from qworker.serve.tasks import TaskBook

        self.backend = backend
        self.batcher = Batcher(backend)
        self.attempts = AttemptCache()
        self.tasks = TaskBook(backend)

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str]) -> None:
        """CreateQueue: idempotent with the same attributes, ``QueueNameExists`` otherwise."""
        await self.backend.create_queue(spec, tags=dict(tags) or None)

    async def get_queue(self, name: str) -> QueueInfo:
        return await self.backend.get_queue(name)

    async def set_queue_attributes(self, name: str, spec: QueueSpec) -> None:
        await self.backend.set_queue_attributes(name, spec)

    async def delete_queue(self, name: str) -> None:
        await self.backend.delete_queue(name)
        self.attempts.forget_queue(name)

    async def purge_queue(self, name: str) -> None:
        """PurgeQueue; the backend refuses a second purge within 60 s (``PurgeQueueInProgress``)."""
        await self.backend.purge_queue(name)
        self.attempts.forget_queue(name)

    async def close(self) -> None:
        """Finish the batches under way; stop this process's move tasks (their messages stay where
        they are)."""
        await self.batcher.close()
        await self.tasks.close()

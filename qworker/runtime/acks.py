"""Deleting processed messages: batched, retried, never lost.

:class:`Deleter` merges the deletes of every batch that finishes in the same event-loop turn into
one backend call (so a busy worker deletes in large batches without waiting for a timer) and
retries transient failures with the shared capped, jittered back-off (:mod:`qworker.retry`). A
delete that still fails is logged: the message reappears after its visibility timeout and is
processed again, never lost (at-least-once, ESM-F-2, SQS-RH-2).

The visibility heartbeat is in :mod:`qworker.runtime.heartbeat`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from qworker.backend import Backend, BatchEntryError
from qworker.errors import BackendError
from qworker.retry import backoff_delay

log = structlog.get_logger("qworker")

DELETE_ATTEMPTS = 6


class Deleter:
    """Batched, retried deletes for one queue."""

    def __init__(self, backend: Backend, queue: str, max_batch: int = 1000) -> None:
        self.backend = backend
        self.queue = queue
        self.max_batch = max_batch
        self._pending: list[tuple[list[str], asyncio.Future[list[BatchEntryError]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def delete(self, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        """Delete these messages; returns the entries that could not be deleted."""
        if not receipt_handles:
            return []
        future: asyncio.Future[list[BatchEntryError]] = asyncio.get_running_loop().create_future()
        self._pending.append((list(receipt_handles), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future  # our own future: cancelling the caller cancels only it

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let every batch finishing in this loop turn join the call
        while self._pending:
            requests, self._pending = self._pending, []
            try:
                handles = [h for hs, _ in requests for h in hs]
                failures: dict[str, BatchEntryError] = {}
                for start in range(0, len(handles), self.max_batch):
                    for failure in await self._delete_with_retries(handles[start : start + self.max_batch]):
                        failures[failure.id] = failure
            except BaseException as exc:  # never leave a batch waiting forever
                for _, future in requests:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for hs, future in requests:
                if not future.done():
                    future.set_result([failures[h] for h in hs if h in failures])

    async def _delete_with_retries(self, handles: list[str]) -> list[BatchEntryError]:
        final: list[BatchEntryError] = []
        for attempt in range(DELETE_ATTEMPTS):
            try:
                failed = await self.backend.delete(self.queue, handles)
            except BackendError as exc:
                failed = [BatchEntryError(h, exc.code, str(exc), sender_fault=False) for h in handles]
            final.extend(f for f in failed if f.sender_fault)
            transient = [f for f in failed if not f.sender_fault]
            if not transient:
                break
            if attempt == DELETE_ATTEMPTS - 1:
                final.extend(transient)
                break
            await asyncio.sleep(backoff_delay(attempt))
            handles = [f.id for f in transient]
        return final

    async def close(self) -> None:
        """Wait for deletes already asked for."""
        if self._flusher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

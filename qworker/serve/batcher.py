"""One backend call for the SendMessage (and DeleteMessage) requests of one event-loop turn.

Each SendMessage is one message, but the backend protocol is batch-first: a backend ``send`` of
ten entries costs little more than one of one entry (one script, one round trip, one write).
When many clients send at once, the requests that reach the server in the same turn of the
event loop are gathered per queue and sent with one ``send``; each request gets its own entry's
result (a per-entry failure is that request's error, a failure of the whole call every
request's). A lone request waits for nothing: the batch goes out at the end of the turn that
queued it, after the other requests already ready to run. Entries keep their arrival order, so a
FIFO queue enqueues concurrent requests in the order the server read them (SQS orders concurrent
senders no more than that).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from qworker.backend import Backend, BatchEntryError, SendEntry, SendResult
from qworker.futures import fail_pending

#: the most entries one backend call carries, and (sends) about the most body bytes; more go
#: in the next call
MAX_BATCH = 100
MAX_BATCH_BYTES = 1_048_576


class _Batch:
    __slots__ = ("futures", "items", "size")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.size = 0


class Batcher:
    """Gathers single sends and deletes per queue and runs them as backend batch calls."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._sends: dict[str, _Batch] = {}
        self._deletes: dict[str, _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def send(self, queue: str, entry: SendEntry) -> SendResult | BatchEntryError:
        """The result of sending ``entry`` (its ``id`` is ignored: within the batch it is its position)."""
        return await self._join(self._sends, queue, entry, self._run_sends, len(entry.body))

    async def delete(self, queue: str, handle: str) -> BatchEntryError | None:
        """The failure of deleting ``handle``, or ``None``."""
        return await self._join(self._deletes, queue, handle, self._run_deletes, 0)

    def _join(
        self, pending: dict[str, _Batch], queue: str, item: Any, run: Any, size: int
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        batch = pending.get(queue)
        if batch is None or len(batch.items) >= MAX_BATCH or batch.size + size > MAX_BATCH_BYTES:
            batch = pending[queue] = _Batch()
            loop.call_soon(self._start, pending, queue, batch, run)
        future: asyncio.Future[Any] = loop.create_future()
        batch.items.append(item)
        batch.futures.append(future)
        batch.size += size
        return future

    def _start(self, pending: dict[str, _Batch], queue: str, batch: _Batch, run: Any) -> None:
        if pending.get(queue) is batch:
            del pending[queue]
        task = asyncio.ensure_future(self._settle(run(queue, batch.items), batch.futures))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _settle(self, work: Any, futures: list[asyncio.Future[Any]]) -> None:
        try:
            results: Sequence[Any] = await work
        except BaseException as exc:  # the whole call failed: every request gets the error
            fail_pending(futures, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _run_sends(self, queue: str, entries: list[SendEntry]) -> list[SendResult | BatchEntryError]:
        # an entry without an id is known by its position (the backend protocol's rule): the
        # single sends' entries have none, and copying each one to number it costs more than
        # the rest of the batch's bookkeeping
        if any(entry.id is not None for entry in entries):
            entries = [dataclasses.replace(entry, id=None) for entry in entries]
        result = await self.backend.send(queue, entries)
        by_id: dict[str, SendResult | BatchEntryError] = {ok.id: ok for ok in result.successful}
        by_id.update({failed.id: failed for failed in result.failed})
        return [by_id[str(index)] for index in range(len(entries))]

    async def _run_deletes(self, queue: str, handles: list[str]) -> list[BatchEntryError | None]:
        failed = {f.id: f for f in await self.backend.delete(queue, list(dict.fromkeys(handles)))}
        return [failed.get(handle) for handle in handles]

    async def close(self) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=5)

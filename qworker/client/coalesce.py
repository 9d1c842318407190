"""Concurrent single sends to one queue, coalesced into batch calls only when they would wait.

A backend ``send`` of many entries costs little more than one of one entry (one transaction,
one script, one round trip). :mod:`qworker.serve.batcher` gathers the sends of one event-loop
turn, which costs every send an extra turn and a task, even a lone one (measured: +30-40 µs a
send, a quarter of a SQLite or Redis send; ``benchmarks/bench_client.py``). Here a send goes
straight to the backend while the queue has fewer than :data:`MAX_IN_FLIGHT` calls running and
nobody is waiting; otherwise it waits, and when a call ends the waiting sends leave together, up
to :data:`MAX_BATCH` entries a call. A lone sender pays nothing; many senders share round trips.
Waiting sends leave in arrival order (a FIFO queue enqueues them in that order); a failure of a
whole call is the error of every send in it, a failed entry the error of its own send.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque

from qworker.backend import Backend, BatchEntryError, SendEntry, SendResult
from qworker.futures import fail_pending

#: backend calls running at once per queue before further sends wait (and then go as batches);
#: measured with 50 senders on SQLite and Redis, 1 and 2 gave the most messages a second (8: a
#: third fewer), and 2 keeps a slow backend (SQS) from sending one batch per round trip
MAX_IN_FLIGHT = 2
#: the most entries, and about the most body bytes, of one coalesced call
MAX_BATCH = 100
MAX_BATCH_BYTES = 1_048_576

Outcome = SendResult | BatchEntryError


class _Lane:
    """One queue's calls in flight and sends waiting."""

    __slots__ = ("in_flight", "waiting")

    def __init__(self) -> None:
        self.in_flight = 0
        self.waiting: deque[tuple[SendEntry, asyncio.Future[Outcome]]] = deque()


class SendCoalescer:
    """Sends single entries, batching the ones that would otherwise wait for a free call."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, queue: str, entry: SendEntry) -> Outcome:
        """The result of sending ``entry`` (its ``id`` is replaced within a batch)."""
        lane = self._lanes.get(queue)
        if lane is None:
            lane = self._lanes[queue] = _Lane()
        if lane.in_flight < MAX_IN_FLIGHT and not lane.waiting:
            lane.in_flight += 1
            try:
                result = await self.backend.send(queue, [entry])
            finally:
                self._call_ended(queue, lane)
            return result.successful[0] if result.successful else result.failed[0]
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        lane.waiting.append((entry, future))
        return await future

    def _call_ended(self, queue: str, lane: _Lane) -> None:
        lane.in_flight -= 1
        while lane.waiting and lane.in_flight < MAX_IN_FLIGHT:
            lane.in_flight += 1
            task = asyncio.ensure_future(self._send_waiting(queue, lane, self._take(lane)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _take(lane: _Lane) -> list[tuple[SendEntry, asyncio.Future[Outcome]]]:
        batch: list[tuple[SendEntry, asyncio.Future[Outcome]]] = []
        size = 0
        while lane.waiting and len(batch) < MAX_BATCH:
            entry, future = lane.waiting[0]
            if batch and size + len(entry.body) > MAX_BATCH_BYTES:
                break
            lane.waiting.popleft()
            if not future.done():  # a cancelled sender's message is not sent
                batch.append((entry, future))
                size += len(entry.body)
        return batch

    async def _send_waiting(
        self, queue: str, lane: _Lane, batch: list[tuple[SendEntry, asyncio.Future[Outcome]]]
    ) -> None:
        try:
            if not batch:
                return
            entries = [dataclasses.replace(entry, id=str(i)) for i, (entry, _) in enumerate(batch)]
            try:
                result = await self.backend.send(queue, entries)
            except BaseException as exc:  # the whole call failed: every send in it fails with it
                fail_pending((future for _, future in batch), exc)
                if not isinstance(exc, Exception):
                    raise
                return
            outcomes: dict[str, Outcome] = {ok.id: ok for ok in result.successful}
            outcomes.update((failed.id, failed) for failed in result.failed)
            for index, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(outcomes[str(index)])
        finally:
            self._call_ended(queue, lane)

    async def close(self) -> None:
        """Wait (a few seconds at most) for the batches still being sent."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

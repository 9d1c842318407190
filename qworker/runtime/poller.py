"""The receive stage: a poller takes free concurrency slots, then receives batches for them.

One poller per :class:`~qworker.runtime.batcher.Batcher` (ESM-B-6). Each turn it waits for a
free slot *before* receiving, and on a standard queue without a batch window it also takes every
other free slot, so one receive can feed several invocations; slots that get no batch are given
back. Batches go forward to the :class:`~qworker.runtime.schedule.Dispatcher`. While the backend
is unreachable it retries with the shared back-off (:func:`qworker.retry.backoff_delay`) and
reports itself not ready. With ``--until-empty`` it stops the mapping once the queue is empty
and nothing is in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

from qworker.backend import Backend
from qworker.errors import BackendError, BackendUnavailable
from qworker.retry import backoff_delay
from qworker.runtime.batcher import Batcher
from qworker.runtime.scaling import ScalingController
from qworker.runtime.schedule import Dispatcher, Slots

#: how long an idle poller long-polls before it looks at its stop flag and counts again
IDLE_POLL_SECONDS = 10.0
#: with --until-empty, how long a poll waits before checking whether the queue is empty
UNTIL_EMPTY_POLL_SECONDS = 0.25


class Poller:
    """Receives batches into free slots until ``stopping`` is set."""

    def __init__(
        self,
        batcher: Batcher,
        *,
        backend: Backend,
        slots: Slots,
        dispatcher: Dispatcher,
        scaler: ScalingController,
        stopping: asyncio.Event,
        until_empty: asyncio.Event | None,
        idle_batchers: list[Batcher],
        log: Any,
    ) -> None:
        self.batcher = batcher
        self.backend = backend
        self.slots = slots
        self.dispatcher = dispatcher
        self.scaler = scaler
        self.stopping = stopping
        #: set when the queue was found empty (``--until-empty``); None: poll for ever
        self.until_empty = until_empty
        #: every poller's batcher of the mapping (their carried records count as in flight)
        self.idle_batchers = idle_batchers
        self.backend_ok = True  #: False while receives fail with BackendUnavailable
        self._log = log

    async def run(self) -> None:
        batcher, slots = self.batcher, self.slots
        failures = 0
        wait = UNTIL_EMPTY_POLL_SECONDS if self.until_empty is not None else IDLE_POLL_SECONDS
        while not self.stopping.is_set():
            await slots.acquire()
            # every free slot can take a batch from the same receive (standard queues, no window)
            held = 1 + (slots.try_acquire(slots.limit) if batcher.split_receives else 0)
            try:
                batches = await batcher.next_batches(wait, held)
            except BackendUnavailable as exc:
                self.backend_ok = False
                slots.release(held)
                delay = backoff_delay(failures, base=0.2, cap=10.0)
                failures += 1
                self._log.warning("backend unavailable; retrying", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            except BaseException:
                slots.release(held)
                raise
            failures = 0
            self.backend_ok = True
            if len(batches) < held:
                slots.release(held - len(batches))
            if not batches:
                if self.until_empty is not None:
                    await self._stop_if_empty()
                continue
            if slots.busy and any(b.cut in ("count", "payload") for b in batches):
                self.scaler.saw_backlog()
            for batch in batches:
                self.dispatcher.start(batch)
            if all(batch.cut == "available" for batch in batches):
                # the queue had no more: the next receive will wait, so start the handlers
                # first (an idle worker's latency); with a backlog, receive again at once
                await asyncio.sleep(0)

    async def _stop_if_empty(self) -> None:
        """``--until-empty``: stop once the queue has nothing visible, in flight or delayed."""
        assert self.until_empty is not None
        if self.dispatcher.tasks or any(b.carried for b in self.idle_batchers):
            return
        try:
            counts = (await self.backend.get_queue(self.batcher.queue)).counts
        except BackendError as exc:
            self._log.warning("could not count the queue's messages", error=str(exc))
            return
        if counts.visible == counts.in_flight == counts.delayed == 0 and not self.dispatcher.tasks:
            self._log.info("queue is empty and nothing is in flight: stopping (--until-empty)")
            self.until_empty.set()
            self.stopping.set()

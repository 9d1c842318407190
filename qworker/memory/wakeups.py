"""Wake-ups for long polls: a receiver sleeps until a change it could care about, not in a loop.

A long-polling receive that finds nothing registers a :class:`Waiter` on its queue and sleeps on
it. Every change that can make a message receivable (a send, a visibility change, a delete that
unlocks a FIFO group, a dead-letter move or a redrive into the queue, ...) calls
:meth:`Wakeups.notify` for that queue, which wakes every waiter at once; each one looks again,
and those that find nothing go back to sleep. A message that becomes visible by itself (a delay
or a visibility timeout running out) needs no notification: the receiver sleeps at most until
the next such moment (:func:`qworker.memory.receiving.next_visible_ms`).

A store outlives event loops (pytest makes a new loop per test; a sync caller may run its own),
and may be used from several threads. So a waiter's future is created on the loop of the
receiver that waits, and is resolved through that loop's ``call_soon_threadsafe``: never from
another loop's thread directly. A waiter whose loop has closed is dropped silently.

Registration and notification both happen under the store's lock, together with the look at the
queue that found nothing, so no wake-up falls between a receiver's look and its sleep.
"""

from __future__ import annotations

import asyncio


class Waiter:
    """One sleeping receiver: a future on the receiver's own loop."""

    __slots__ = ("future", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[None] = self.loop.create_future()

    def wake(self) -> None:
        """Resolve the future on its own loop (from any thread)."""
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its loop is closed: nobody is waiting on it any more
            pass

    async def sleep(self, timeout: float) -> bool:
        """Wait until woken or ``timeout`` seconds pass; True when woken."""
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await self.future
        except TimeoutError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Wakeups:
    """The waiters of each queue of one store. Call every method under the store's lock."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[Waiter]] = {}

    def register(self, queue: str) -> Waiter:
        """A new waiter for ``queue``, on the running loop."""
        waiter = Waiter()
        self._waiting.setdefault(queue, set()).add(waiter)
        return waiter

    def discard(self, queue: str, waiter: Waiter) -> None:
        """Forget ``waiter`` (it woke, timed out or was cancelled)."""
        waiters = self._waiting.get(queue)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiting[queue]

    def notify(self, queue: str) -> None:
        """Wake every receiver waiting on ``queue``: something in it changed."""
        for waiter in self._waiting.pop(queue, ()):
            waiter.wake()

    def waiting(self, queue: str) -> int:
        """How many receivers are waiting on ``queue`` (for tests and diagnostics)."""
        return len(self._waiting.get(queue, ()))

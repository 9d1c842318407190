"""Long-poll wake-ups: in-process notifications plus a watcher for commits by other processes.

A receive that found nothing waits here until one of:

* a call of this backend made messages of that queue receivable (send, visibility 0, a
  dead-letter move, an unlocked FIFO group): :meth:`Wakeups.notify` wakes its waiters at once;
* another connection (another process, or another backend object) committed. While anyone
  waits, the backend's worker thread runs a probe that reads ``PRAGMA data_version`` and, only
  when the value changed, calls :meth:`Wakeups.changed` on the event loop. The probe runs as
  soon as inotify reports a write to the WAL file, or every 10 ms where inotify is not used
  (:mod:`qworker_sqlite.watch`); it never wakes the event loop unless something changed;
* the earliest delayed or in-flight message becomes visible (the waiter's own timeout);
* the wait ends.

Readings are ``(version, stamp)``: the stamp orders every reading made on the worker thread, so
a watcher reading taken *after* a waiter's own reading, and different from it, proves a commit
the waiter has not seen, even when that reading reaches the loop before the waiter starts
waiting. A woken waiter just tries its receive again: spurious wake-ups are harmless.

A waiter may leave its receive attempt with its wait (``attempt``). The probe, on the worker
thread, then makes that attempt itself as soon as it proves such a commit, and the waiter wakes
with the outcome (:class:`Prefetched`) instead of asking the thread for it: one round trip
between the event loop and the thread fewer on every cross-process wake-up (they cost tens of
microseconds each when the process was idle). An outcome that finds its waiter gone (woken
otherwise, timed out, cancelled) goes to ``orphaned``, which gives its messages back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Prefetched:
    """A receive attempt the worker thread made for a waiter when a commit showed."""

    started: float  #: ``time.monotonic()`` when the attempt began
    outcome: Any = None  #: what the attempt returned
    error: BaseException | None = None  #: or what it raised


@dataclass(slots=True, eq=False)
class Waiter:
    """One waiting receive; the worker thread reads ``data_version`` and ``attempt`` only."""

    queue: str
    future: asyncio.Future[Prefetched | None]
    data_version: tuple[int, int]
    #: the caller's receive attempt, for the worker thread to make when a commit shows (given
    #: the ``data_version`` reading that showed it)
    attempt: Callable[[tuple[int, int]], Any] | None = None


class Wakeups:
    """Per-queue waiters of one backend (all on its event loop).

    ``start_watch``/``stop_watch`` switch the cross-process watcher on when the first waiter
    arrives and off when the last one leaves; ``orphaned(queue, prefetched)`` receives outcomes
    whose waiter was gone.
    """

    def __init__(
        self,
        start_watch: Callable[[], None],
        stop_watch: Callable[[], None],
        orphaned: Callable[[str, Prefetched], None] | None = None,
    ) -> None:
        self._start_watch = start_watch
        self._stop_watch = stop_watch
        self._orphaned = orphaned
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, list[Waiter]] = {}
        #: every waiter, as a tuple the worker thread may read at any time (replaced, never changed)
        self.waiting: tuple[Waiter, ...] = ()
        self._latest: tuple[int, int] = (0, 0)
        self._closed = False

    def version(self, queue: str) -> int:
        """A counter :meth:`notify` bumps: read it before a receive, pass it to :meth:`wait`."""
        return self._versions.get(queue, 0)

    def notify(self, queue: str) -> None:
        """Messages of ``queue`` may have become receivable: wake its waiters now."""
        self._versions[queue] = self._versions.get(queue, 0) + 1
        for waiter in self._waiters.get(queue, ()):
            if not waiter.future.done():
                waiter.future.set_result(None)

    def changed(
        self, version: int, stamp: int, prefetched: list[tuple[Waiter, Prefetched]] | None = None
    ) -> None:
        """The watcher read a new ``data_version``: hand the attempts it made to their waiters,
        and wake the other waiters whose own reading is older."""
        self._latest = (version, stamp)
        orphans = []
        for waiter, result in prefetched or ():
            if waiter.future.done():
                orphans.append((waiter.queue, result))
            else:
                waiter.future.set_result(result)
        for waiter in self.waiting:
            seen, seen_stamp = waiter.data_version
            if seen_stamp < stamp and seen != version and not waiter.future.done():
                waiter.future.set_result(None)
        for queue, result in orphans:
            self._orphan(queue, result)

    def close(self) -> None:
        """Wake everyone (their next call reports the backend closed)."""
        self._closed = True
        for queue in list(self._waiters):
            self.notify(queue)

    async def wait(
        self,
        queue: str,
        version: int,
        data_version: tuple[int, int],
        *,
        within: float,
        attempt: Callable[[tuple[int, int]], Any] | None = None,
    ) -> Prefetched | None:
        """Wait up to ``within`` s for a reason to try ``queue`` again (see the module doc); the
        result is the attempt the worker thread made (``attempt``), or None: try yourself.

        ``version`` and ``data_version`` are what the caller read before its failed receive, so
        nothing that happened since is missed.
        """
        if self._closed or self._versions.get(queue, 0) != version or within <= 0:
            return None
        latest, latest_stamp = self._latest
        if latest_stamp > data_version[1] and latest != data_version[0]:
            return None  # the watcher already saw a commit this waiter has not
        waiter = Waiter(queue, asyncio.get_running_loop().create_future(), data_version, attempt)
        self._add(waiter)
        try:
            async with asyncio.timeout(within):
                return await waiter.future
        except TimeoutError:  # an outcome that came with the timeout is still this caller's
            return waiter.future.result() if waiter.future.done() and not waiter.future.cancelled() else None
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.result() is not None:
                self._orphan(queue, waiter.future.result())  # type: ignore[arg-type]
            raise
        finally:
            self._remove(waiter)

    def _add(self, waiter: Waiter) -> None:
        self._waiters.setdefault(waiter.queue, []).append(waiter)
        self.waiting += (waiter,)
        if len(self.waiting) == 1:
            self._start_watch()

    def _remove(self, waiter: Waiter) -> None:
        waiters = self._waiters[waiter.queue]
        waiters.remove(waiter)
        if not waiters:
            del self._waiters[waiter.queue]
        self.waiting = tuple(w for w in self.waiting if w is not waiter)
        if not self.waiting and not self._closed:
            self._stop_watch()

    def _orphan(self, queue: str, result: Prefetched) -> None:
        if self._orphaned is not None:
            self._orphaned(queue, result)

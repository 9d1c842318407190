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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class _Waiter:
    future: asyncio.Future[None]
    data_version: tuple[int, int]


class Wakeups:
    """Per-queue waiters of one backend (all on its event loop).

    ``start_watch``/``stop_watch`` switch the cross-process watcher on when the first waiter
    arrives and off when the last one leaves.
    """

    def __init__(self, start_watch: Callable[[], None], stop_watch: Callable[[], None]) -> None:
        self._start_watch = start_watch
        self._stop_watch = stop_watch
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._count = 0
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

    def changed(self, version: int, stamp: int) -> None:
        """The watcher read a new ``data_version``: wake waiters whose own reading is older."""
        self._latest = (version, stamp)
        for waiters in self._waiters.values():
            for waiter in waiters:
                seen, seen_stamp = waiter.data_version
                if seen_stamp < stamp and seen != version and not waiter.future.done():
                    waiter.future.set_result(None)

    def close(self) -> None:
        """Wake everyone (their next call reports the backend closed)."""
        self._closed = True
        for queue in list(self._waiters):
            self.notify(queue)

    async def wait(self, queue: str, version: int, data_version: tuple[int, int], *, within: float) -> None:
        """Wait up to ``within`` s for a reason to try ``queue`` again (see the module doc).

        ``version`` and ``data_version`` are what the caller read before its failed receive, so
        nothing that happened since is missed.
        """
        if self._closed or self._versions.get(queue, 0) != version or within <= 0:
            return
        latest, latest_stamp = self._latest
        if latest_stamp > data_version[1] and latest != data_version[0]:
            return  # the watcher already saw a commit this waiter has not
        waiter = _Waiter(asyncio.get_running_loop().create_future(), data_version)
        waiters = self._waiters.setdefault(queue, [])
        waiters.append(waiter)
        self._count += 1
        if self._count == 1:
            self._start_watch()
        try:
            async with asyncio.timeout(within):
                await waiter.future
        except TimeoutError:
            pass
        finally:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[queue]
            self._count -= 1
            if self._count == 0 and not self._closed:
                self._stop_watch()

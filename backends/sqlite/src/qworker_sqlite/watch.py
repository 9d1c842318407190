"""How a long poll notices commits by other processes: inotify on the WAL file, or polling.

While anyone long-polls, the backend's worker thread runs a *probe*: it reads ``PRAGMA
data_version`` (which changes when another connection commits) and, only when the value changed,
hands the reading to :meth:`Wakeups.changed <qworker_sqlite.wakeups.Wakeups.changed>` on the event
loop. The modes differ in *when* the probe runs (``?wakeup=`` in the URL):

``inotify`` (Linux)
    The backend's inotify instance (:mod:`qworker_sqlite.inotify`) reports every write to
    ``<db>-wal``, by any process; the worker thread waits on it and runs the probe at once: a
    send from another process wakes the waiter within microseconds. A write is not yet a visible
    commit (the writer publishes it in the WAL index after its last ``write()``, and
    ``synchronous=full`` fsyncs in between), so after a write the probe runs again
    :data:`SETTLE_DELAYS` later. Between writes it runs every :data:`BACKSTOP_INTERVAL`
    (100 ms), the bound on any wake-up that inotify could not deliver; if the watch cannot be
    set up or ends (the WAL file is deleted or moved), the probe polls every 10 ms until the next
    wait sets up a new one.
``poll``
    The probe runs every ``poll_interval`` (10 ms): works on any OS and file system; a send from
    another process is noticed 5 ms late on average.
``auto`` (the default)
    ``inotify`` where the kernel offers it and the file is on a local file system, else ``poll``.
    On a network file system (NFS, SMB, 9p, virtiofs, ...) inotify does not see writes made by
    other machines; SQLite's WAL mode does not support those anyway, but a poll is the safe choice.

Either way a woken waiter just tries its receive again, and spurious wake-ups (this process's own
writes, writes to other queues) cost one probe or one receive attempt; a missed one would cost a
whole long poll, so every path above ends in a probe that runs again.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import Literal

import structlog

from qworker.errors import ConfigError
from qworker_sqlite import inotify
from qworker_sqlite.store import Store
from qworker_sqlite.url import SQLiteOptions
from qworker_sqlite.wakeups import Prefetched, Waiter, Wakeups
from qworker_sqlite.worker import WorkerThread

log = structlog.get_logger("qworker.sqlite")

#: poll mode: how often a long poll looks for commits by other processes (seconds)
DEFAULT_POLL_INTERVAL = 0.01
#: inotify mode: how often the probe runs when no write was reported (the bound on a wake-up
#: that inotify could not deliver)
BACKSTOP_INTERVAL = 0.1
#: inotify mode: after a reported write, probe again this long after each probe (seconds)
#: before falling back to :data:`BACKSTOP_INTERVAL`: a commit becomes visible microseconds after
#: its last write, or when the writer runs again if it was preempted in between (a busy host:
#: milliseconds), or an fsync later with ``synchronous=full``; the probes go on even when a
#: commit showed, since the writes of the next writer may have been reported with it
SETTLE_DELAYS = (0.0001, 0.0005, 0.002, 0.005, 0.01, 0.05)
#: file systems (``/proc/self/mountinfo`` names) on which ``auto`` polls
REMOTE_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "virtiofs", "afs", "ceph", "glusterfs", "lustre"}
    | {"gpfs", "beegfs", "davfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.glusterfs"}
)

Mode = Literal["inotify", "poll"]


def choose_mode(options: SQLiteOptions) -> tuple[Mode, str]:
    """The mode for ``options`` and why; ``ConfigError`` if ``wakeup=inotify`` cannot work here."""
    if options.path is None:
        return "poll", "in-memory database"
    if options.wakeup == "poll":
        return "poll", "wakeup=poll"
    reason = inotify.unavailable_reason()
    if options.wakeup == "inotify":
        if reason is not None:
            raise ConfigError(
                f"SQLite wakeup=inotify is not possible here: {reason}. Use wakeup=auto or wakeup=poll."
            )
        return "inotify", "wakeup=inotify"
    if reason is not None:
        return "poll", reason
    filesystem = filesystem_type(options.path)
    if filesystem in REMOTE_FILESYSTEMS or (filesystem or "").startswith(("nfs", "fuse.nfs")):
        return "poll", f"the database is on a {filesystem} file system"
    return "inotify", "auto"


def filesystem_type(path: str) -> str | None:
    """The type of the file system holding ``path`` (from ``/proc/self/mountinfo``), if known."""
    try:
        device = os.stat(path if os.path.exists(path) else os.path.dirname(path)).st_dev
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    key = f"{os.major(device)}:{os.minor(device)}"
    found = None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == key and "-" in fields[6:]:
            found = fields[fields.index("-", 6) + 1]  # the last mount of the device wins
    return found


class Probe:
    """The worker thread's idle task: read ``data_version``, report a change to the loop, and say
    when to run next (see the module doc). With a ``watch``, also the thread's wake source."""

    def __init__(
        self,
        store: Store,
        wakeups: Wakeups,
        loop: asyncio.AbstractEventLoop,
        interval: float,
        watch: inotify.FileWatch | None = None,
        last: list[int | None] | None = None,
        fallback: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._store = store
        self._wakeups = wakeups
        self._loop = loop
        self.interval = interval  #: seconds between probes when nothing was written
        self._watch = watch
        self._fallback = fallback  # the interval once the watch is lost
        #: the last reading, kept from one wait to the next (one box, used on the worker thread
        #: only): ``data_version`` never goes back, so a reading equal to it wakes no one
        self._last = last if last is not None else [None]
        self._settle = len(SETTLE_DELAYS)  # the next SETTLE_DELAYS index; len: not settling
        self._written = False

    def fileno(self) -> int:
        assert self._watch is not None
        return self._watch.fileno()

    def woken(self) -> None:
        """The watch reported writes (worker thread): the next probe, at once, restarts the
        settle delays; a watch that ended leaves this wait to polling."""
        assert self._watch is not None
        if self._watch.drain():
            self._written = True
        if self._watch.lost:
            self.interval = min(self.interval, self._fallback)

    def settle(self) -> None:
        """Run the next probes :data:`SETTLE_DELAYS` apart (a write may be reported before its
        commit shows), then every :attr:`interval`."""
        self._settle = 0

    def __call__(self) -> float:
        written, self._written = self._written, False
        try:
            version, stamp = self._store.data_version()
        except sqlite3.Error:
            version, stamp = -1, 1 << 62  # let every waiter retry and meet the error
        if written:  # even if a commit shows: another writer's may be written, not yet visible
            self._settle = 0
        if version != self._last[0]:
            self._last[0] = version
            made = self._attempts(version, stamp) if version >= 0 else []
            try:
                self._loop.call_soon_threadsafe(self._wakeups.changed, version, stamp, made)
            except RuntimeError:  # loop closed
                pass
        if self._settle < len(SETTLE_DELAYS):
            self._settle += 1
            return SETTLE_DELAYS[self._settle - 1]
        return self.interval

    def _attempts(self, version: int, stamp: int) -> list[tuple[Waiter, Prefetched]]:
        """Make the receive attempt of every waiter this reading would wake (see
        :mod:`~qworker_sqlite.wakeups`), here on the worker thread, before waking the loop."""
        made = []
        for waiter in self._wakeups.waiting:
            seen, seen_stamp = waiter.data_version
            if waiter.attempt is None or seen_stamp >= stamp or seen == version:
                continue
            started = time.monotonic()
            try:
                made.append((waiter, Prefetched(started, waiter.attempt((version, stamp)))))
            except BaseException as exc:  # handed to the waiter, raised there
                made.append((waiter, Prefetched(started, error=exc)))
        return made


class CommitWatch:
    """Starts and stops the probe as long polls come and go, and owns the backend's inotify watch
    (set up at the first long poll, kept until the backend closes)."""

    def __init__(self, options: SQLiteOptions, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        self.mode, self.reason = choose_mode(options)
        self._wal = None if options.path is None else options.path + "-wal"
        self._poll_interval = poll_interval
        self._file: inotify.FileWatch | None = None
        self._last: list[int | None] = [None]  # the probes' last reading (see Probe)
        self._warned = False

    def start(self, worker: WorkerThread, store: Store, wakeups: Wakeups) -> None:
        """Run the probe on ``worker`` until :meth:`stop` (on the event loop)."""
        loop = asyncio.get_running_loop()
        watch = self._file_watch(worker) if self.mode == "inotify" else None
        if watch is None:
            probe = Probe(store, wakeups, loop, self._poll_interval, last=self._last)
            worker.set_idle_task(probe, self._poll_interval)
            return
        probe = Probe(store, wakeups, loop, BACKSTOP_INTERVAL, watch, self._last, self._poll_interval)
        # Watched since the watch was set up: a commit written before shows in the first probe,
        # now, or in one of the settle probes if it was not visible yet.
        probe.settle()
        worker.set_idle_task(probe, 0.0, wake=probe)

    def _file_watch(self, worker: WorkerThread) -> inotify.FileWatch | None:
        """The backend's watch of the WAL file: the one in place, or a new one (None: poll)."""
        current = self._file
        if current is not None and not current.lost:
            return current
        if current is not None:
            worker.submit(current.close)  # on the thread that may still be waiting on it
        assert self._wal is not None
        try:
            self._file = inotify.FileWatch(self._wal)
        except OSError as exc:
            self._file = None
            if not self._warned:  # say so once; every wait tries again
                self._warned = True
                log.warning(
                    "sqlite.wakeup_polling",
                    reason=str(exc),
                    poll_interval_s=self._poll_interval,
                    wal=self._wal,
                )
        return self._file

    def stop(self, worker: WorkerThread | None) -> None:
        """The last waiter left: stop the probe (the watch stays, for the next wait)."""
        if worker is not None:
            worker.set_idle_task(None)

    def release(self) -> None:
        """Close the watch; on the worker thread, once the probe is stopped (backend close)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

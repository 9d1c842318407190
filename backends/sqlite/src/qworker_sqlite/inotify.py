"""Linux inotify through ctypes: one watcher thread per process that reports writes to WAL files.

Why inotify: in WAL mode every commit appends frames to ``<db>-wal`` with ``write()``, and the
kernel turns each such write, by any process on this host, into an ``IN_MODIFY`` event within
microseconds. A long poll that waits on these events notices another process's send at once,
where reading ``PRAGMA data_version`` every 10 ms notices it 5 ms late on average and costs a
thread wake-up per tick while idle. No dependency: the three libc calls are in every Linux libc.

Why one watcher per process, not per backend: the kernel allows each user 128 inotify instances
by default (``fs.inotify.max_user_instances``), shared with editors, systemd and the like; a
process holds at most one here however many backends it opens. An inotify watch holds no file
descriptor on the watched file, so adding or removing one never touches SQLite's POSIX locks
(closing any descriptor of a locked file would drop them: honker issue #80).

The watcher only says *something was written*: the write may be this process's own, a transaction
that is not committed yet, or one whose commit is not visible yet (the writer updates the WAL
index after its last ``write()``). What a write means is decided by whoever is called back
(:mod:`qworker_sqlite.watch` reads ``PRAGMA data_version``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable

IN_MODIFY = 0x00000002
IN_MOVE_SELF = 0x00000800
IN_DELETE_SELF = 0x00000400
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
#: what a WAL file is watched for: writes, and the file going away (the watch then ends)
WATCH_MASK = IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF
#: the watch no longer sees this file's writes (the kernel removed it, or the file moved away)
_LOST = IN_IGNORED | IN_UNMOUNT | IN_MOVE_SELF | IN_DELETE_SELF
#: a watch paused this long (seconds) is removed at its next event (see :class:`Watch`)
LINGER = 2.0
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)

#: ``callback(lost)``: called on the watcher thread after writes to the watched file; ``lost``:
#: the watch ended (the file was deleted or moved, or the kernel dropped events), so no further
#: call can be relied on. Must be quick and must not raise.
Callback = Callable[[bool], None]


def unavailable_reason() -> str | None:
    """Why inotify cannot be used in this process (``None``: it can)."""
    if not sys.platform.startswith("linux"):
        return f"inotify is Linux-only (this is {sys.platform})"
    if _libc() is None:
        return "the C library has no inotify_init1"
    return None


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        except (OSError, AttributeError):
            return None
        _LIBC = libc
    return _LIBC


def _os_error(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


class Watch:
    """One subscription to a file's writes, kept between long polls.

    :meth:`pause` stops the calls back at once but leaves the kernel's watch in place, so the next
    :meth:`resume` (the next long poll) costs no system call; the watcher thread removes a watch
    paused for :data:`LINGER` seconds when its next event comes, so a busy process that no longer
    waits is not woken by every commit. :meth:`close` ends it.
    """

    def __init__(self, watcher: WalWatcher, path: str, callback: Callback) -> None:
        self._watcher = watcher
        self.path = path
        self.callback = callback
        self.wd: int | None = None  #: the kernel's watch, None once removed
        self.active = True
        self.paused_at = 0.0

    def pause(self) -> None:
        """No calls back until :meth:`resume`."""
        with self._watcher._lock:
            self.active = False
            self.paused_at = time.monotonic()

    def resume(self, callback: Callback) -> None:
        """Call ``callback`` from now on (adding the kernel's watch again if it was removed);
        ``OSError`` if the kernel refuses it (the watch then stays paused)."""
        with self._watcher._lock:
            if self.wd is None:
                self._watcher._add(self)
            self.callback = callback
            self.active = True

    def close(self) -> None:
        """End the subscription (idempotent)."""
        with self._watcher._lock:
            self.active = False
            self._watcher._remove(self)


class WalWatcher:
    """One inotify instance and a daemon thread that calls subscribers back on writes.

    Several subscriptions to one file share the kernel's watch (``inotify_add_watch`` returns
    the same descriptor for the same inode); the watch is removed with its last subscriber.
    """

    def __init__(self) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, unavailable_reason() or "inotify is unavailable")
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _os_error("inotify_init1")
        self._libc = libc
        self._fd = fd
        self._lock = threading.Lock()
        self._subscribers: dict[int, list[Watch]] = {}
        self._thread = threading.Thread(target=self._run, name="qworker-sqlite inotify", daemon=True)
        self._thread.start()

    def watch(self, path: str, callback: Callback) -> Watch:
        """Call ``callback`` after every write to ``path`` (from now on); raises ``OSError`` when
        the kernel refuses the watch (no such file, no permission, ``max_user_watches`` reached)."""
        watch = Watch(self, path, callback)
        with self._lock:
            self._add(watch)
        return watch

    def _add(self, watch: Watch) -> None:
        """Register ``watch`` with the kernel (under the lock)."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(watch.path), WATCH_MASK)
        if wd < 0:
            raise _os_error(f"inotify_add_watch({watch.path!r})")
        watch.wd = wd
        self._subscribers.setdefault(wd, []).append(watch)

    def _remove(self, watch: Watch) -> None:
        """Unregister ``watch``; the kernel's watch goes with its last subscriber (under the lock)."""
        wd, watch.wd = watch.wd, None
        subscribers = self._subscribers.get(wd) if wd is not None else None
        if wd is None or subscribers is None or watch not in subscribers:
            return
        subscribers.remove(watch)
        if not subscribers:
            del self._subscribers[wd]
            self._libc.inotify_rm_watch(self._fd, wd)  # EINVAL if the kernel removed it: fine

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while True:
            poller.poll()
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            except OSError:  # the descriptor is gone (closed after a fork): nothing to watch
                return
            for callback, lost in self._callbacks(data):
                callback(lost)

    def _callbacks(self, data: bytes) -> list[tuple[Callback, bool]]:
        """Who to call for a buffer of events: each active subscriber once, ``lost`` if its watch
        ended (it is then removed: the caller must resume to watch again)."""
        fired: dict[int, bool] = {}
        overflow = False
        for wd, mask in _parse(data):
            if mask & IN_Q_OVERFLOW:
                overflow = True
            elif wd >= 0:
                fired[wd] = fired.get(wd, False) or bool(mask & _LOST)
        calls = []
        now = time.monotonic()
        with self._lock:
            if overflow:  # events were dropped: everyone must look; the watches still work
                fired = dict.fromkeys(self._subscribers, False)
            for wd, lost in fired.items():
                for watch in list(self._subscribers.get(wd, ())):
                    if watch.active:
                        calls.append((watch.callback, lost))
                    if lost or (not watch.active and now - watch.paused_at > LINGER):
                        self._remove(watch)
        return calls

    def _forget_after_fork(self) -> None:
        """In a forked child: the thread did not survive the fork, and a shared inotify
        descriptor would split events between parent and child. Close ours."""
        try:
            os.close(self._fd)
        except OSError:
            pass


def _parse(data: bytes) -> list[tuple[int, int]]:
    """``(wd, mask)`` of each event in a buffer read from an inotify descriptor."""
    events = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        events.append((wd, mask))
        offset += _EVENT.size + length
    return events


_shared: WalWatcher | None = None
_shared_lock = threading.Lock()


def shared_watcher() -> WalWatcher:
    """This process's watcher, started on first use; raises ``OSError`` when inotify cannot be
    set up (not Linux, or the user's ``max_user_instances`` is reached: tried again next call)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = WalWatcher()
        return _shared


def _after_fork_in_child() -> None:
    global _shared, _shared_lock
    if _shared is not None:
        _shared._forget_after_fork()
    _shared = None
    _shared_lock = threading.Lock()  # it may have been held by another thread at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

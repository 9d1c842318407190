"""Linux inotify through ctypes: a descriptor that becomes readable when a WAL file is written.

Why inotify: in WAL mode every commit appends frames to ``<db>-wal`` with ``write()``, and the
kernel turns each such write, by any process on this host, into an ``IN_MODIFY`` event within
microseconds. A long poll that waits on these events notices another process's send at once,
where reading ``PRAGMA data_version`` every 10 ms notices it 5 ms late on average and costs a
thread wake-up per tick while idle. No dependency: the three libc calls are in every Linux libc.

Each backend that long-polls owns one instance, read only by its worker thread while it waits
(:class:`~qworker_sqlite.worker.WorkerThread`): the event wakes the very thread that then reads
``data_version`` and receives, with no hand-over between threads. When nobody waits, nobody reads
it: the kernel merges each write's event with the identical unread one before it, so an
unread instance holds one event, whatever the traffic. An inotify watch holds no descriptor of
the watched file, so it never touches SQLite's POSIX locks (closing any descriptor of a locked
file would drop them: honker issue #80). The kernel allows each user 128 instances by default
(``fs.inotify.max_user_instances``); a backend that cannot have one polls instead.

An event only says *something was written*: maybe this process's own write, a transaction not
committed yet, or a commit not visible yet (the writer updates the WAL index after its last
``write()``). What it means is for the reader to find out (:mod:`qworker_sqlite.watch`).
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

IN_MODIFY = 0x00000002
IN_MOVE_SELF = 0x00000800
IN_DELETE_SELF = 0x00000400
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
#: what a WAL file is watched for: writes, and the file going away (the watch then ends)
WATCH_MASK = IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF
#: the watch no longer sees the file's writes: the file was deleted or moved, or the kernel
#: dropped events (the queue overflowed)
_LOST = IN_IGNORED | IN_UNMOUNT | IN_MOVE_SELF | IN_DELETE_SELF | IN_Q_OVERFLOW
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)

_LIBC: ctypes.CDLL | None = None


def unavailable_reason() -> str | None:
    """Why inotify cannot be used in this process (``None``: it can)."""
    if not sys.platform.startswith("linux"):
        return f"inotify is Linux-only (this is {sys.platform})"
    if _libc() is None:
        return "the C library has no inotify_init1"
    return None


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is None:
        try:
            # the process's own symbols, libc's among them: ctypes.util.find_library would run
            # ldconfig in a subprocess and import shutil, tempfile, bz2 and lzma (~10 ms)
            libc = ctypes.CDLL(None, use_errno=True)
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


class FileWatch:
    """One inotify instance watching one file; :meth:`fileno` is readable after a write.

    Not thread-safe: one thread reads it (the backend's worker thread).
    """

    def __init__(self, path: str) -> None:
        """Watch ``path`` from now on; ``OSError`` if the kernel refuses (not Linux, no such file,
        no permission, the user's ``max_user_instances`` or ``max_user_watches`` reached)."""
        libc = _libc()
        if libc is None:
            raise OSError(0, unavailable_reason() or "inotify is unavailable")
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _os_error("inotify_init1")
        if libc.inotify_add_watch(fd, os.fsencode(path), WATCH_MASK) < 0:
            error = _os_error(f"inotify_add_watch({path!r})")
            os.close(fd)
            raise error
        self.path = path
        self._fd = fd
        self.lost = False  #: the watch ended: writes to the file may go unreported

    def fileno(self) -> int:
        return self._fd

    def drain(self) -> bool:
        """Consume the pending events; True if there were any. Sets :attr:`lost` if the watch
        ended (the file was deleted or moved, or events were dropped)."""
        seen = False
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return seen
            except OSError:  # closed: nothing will be reported any more
                self.lost = True
                return True
            seen = True
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                if mask & _LOST:
                    self.lost = True
                offset += _EVENT.size + length

    def close(self) -> None:
        """Release the instance (and its watch). Idempotent."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

"""Random bytes from ``os.urandom``, read a few kilobytes at a time.

Message ids, receipt-handle tokens and request ids take 8 or 16 random bytes each, several per
request; one ``os.urandom`` call each is a system call (``getrandom``), a few microseconds on
a virtual machine, more than the rest of making an id. :func:`take` hands out slices of one
buffer refilled from ``os.urandom`` every :data:`CHUNK` bytes: the bytes are the kernel's
cryptographically secure ones either way, each handed out once.

Fork-safe: the buffer is emptied in a forked child (``os.register_at_fork``), so parent and
child never hand out the same bytes (which is why this is not a seeded PRNG). Thread-safe:
one lock around the slice.
"""

from __future__ import annotations

import os
import threading

#: bytes read from the kernel per refill
CHUNK = 4096

_lock = threading.Lock()
_buffer = b""
_offset = 0


def take(size: int) -> bytes:
    """``size`` random bytes, never handed out before."""
    global _buffer, _offset
    if size > CHUNK:
        return os.urandom(size)
    with _lock:
        start = _offset
        end = start + size
        if end > len(_buffer):
            _buffer = os.urandom(CHUNK)
            start, end = 0, size
        _offset = end
        return _buffer[start:end]


def _forget() -> None:
    """In a forked child: drop the parent's bytes (and a lock a parent's thread may hold)."""
    global _buffer, _offset, _lock
    _lock = threading.Lock()
    _buffer, _offset = b"", 0


os.register_at_fork(after_in_child=_forget)

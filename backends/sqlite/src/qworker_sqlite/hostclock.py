"""The SQLite backend's clock: epoch time that a step of the wall clock does not move (T14).

Every deadline in a SQLite queue (a lease's end, a delay, retention) is an epoch millisecond that
each process compares with its own clock. With the wall clock, a step of the host's time (an NTP
correction after a suspend, an operator's ``date -s``, a VM restored from a snapshot) moves every
deadline at once: a step forward of an hour ends every lease early, so messages still being
processed are delivered again; a step back of an hour keeps every message whose lease ended
hidden for an hour longer.

So the clock is ``wall time at an anchor + time elapsed since``, where the elapsed time comes
from ``CLOCK_BOOTTIME`` (Linux: it runs at the rate NTP keeps, counts a suspend, and is never
stepped). The anchor is stored in the database (table ``clock_anchor``, one row) with the boot it
belongs to (``/proc/sys/kernel/random/boot_id``), so every process of that boot, containers on
the host included, reads the same clock. The first process opened after a reboot sets a new
anchor from the wall clock then.

The price is the offset: a step of the wall clock after the anchor was made is not followed, so
``SentTimestamp`` and the other times of the queue differ from the wall clock by the sum of such
steps until the host reboots; opening the database logs that offset when it is over a second.
Where there is no boot clock or boot id (not Linux), the clock is the wall clock and a step moves
deadlines as described.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from qworker.errors import BackendUnavailable

log = structlog.get_logger("qworker.sqlite")

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's id, or None where the OS does not say (not Linux)."""
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _boot_ns() -> int | None:
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return None if clock is None else time.clock_gettime_ns(clock)


class HostClock:
    """Epoch seconds from an anchor and the boot clock (see the module docstring)."""

    __slots__ = ("anchor_boot_ns", "anchor_wall_ms")

    def __init__(self, anchor_wall_ms: int, anchor_boot_ns: int) -> None:
        self.anchor_wall_ms = anchor_wall_ms
        self.anchor_boot_ns = anchor_boot_ns

    def __call__(self) -> float:
        return (
            self.anchor_wall_ms + (time.clock_gettime_ns(time.CLOCK_BOOTTIME) - self.anchor_boot_ns) / 1e6
        ) / 1000

    def offset_seconds(self) -> float:
        """How far this clock is ahead of the wall clock now (negative: behind)."""
        return self() - time.time()


def load(conn: sqlite3.Connection) -> HostClock | None:
    """The database's clock for this boot, made now if the anchor is missing or from another
    boot; None where there is no boot clock (the caller uses the wall clock). The caller holds
    no transaction: this takes the write lock only to set a new anchor."""
    current = boot_id()
    now_boot = _boot_ns()
    if current is None or now_boot is None:
        return None
    row = conn.execute("SELECT boot_id, wall_ms, boot_ns FROM clock_anchor WHERE id = 1").fetchone()
    if row is not None and row[0] == current:
        return HostClock(int(row[1]), int(row[2]))
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT boot_id, wall_ms, boot_ns FROM clock_anchor WHERE id = 1").fetchone()
        if row is None or row[0] != current:  # another process of this boot may have set it meanwhile
            row = (current, int(time.time() * 1000), _boot_ns())
            conn.execute(
                "INSERT OR REPLACE INTO clock_anchor (id, boot_id, wall_ms, boot_ns) VALUES (1, ?, ?, ?)", row
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return HostClock(int(row[1]), int(row[2]))


def clock_of(conn: sqlite3.Connection) -> Callable[[], float]:
    """The database's host clock, or the wall clock where the OS has no boot clock; logs the
    offset from the wall clock when it is over a second. ``BackendUnavailable`` (and ``conn``
    closed) if the anchor cannot be read."""
    try:
        clock = load(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise BackendUnavailable(f"Cannot read the SQLite database's clock anchor: {exc}") from exc
    if clock is None:
        return time.time
    offset = clock.offset_seconds()
    if abs(offset) > 1:
        log.warning(
            "sqlite.clock_offset",
            offset_seconds=round(offset, 3),
            advice="the wall clock was stepped since this boot's first open of the database; leases and "
            "delays are unaffected (T14), SentTimestamp and the like follow the queue's clock until a reboot",
        )
    return clock

"""A receive whose reply is read late keeps only the messages it still holds (T11).

A worker frozen (SIGSTOP, VM pause, long GC) after sending a receive reads the reply after the
server put the messages in flight; their visibility may have ended meanwhile and another worker
may hold them. :func:`qworker.safe_receive.still_held` renews such leases, fenced, and drops the
messages whose renewal fails, so the stale copy never reaches the handler. These tests drive it
against the real backends with real expired leases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from qworker.backend import Backend, BatchEntryError, QueueSpec, SendEntry, VisibilityChange
from qworker.safe_receive import still_held


class Renewals:
    """The backend's fenced change_visibility, counting the calls."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.calls = 0

    async def __call__(self, changes: Sequence[VisibilityChange]) -> list[BatchEntryError]:
        self.calls += 1
        return await self.backend.change_visibility("q", changes)


async def _one(backend: Backend, visibility: float) -> None:
    await backend.create_queue(QueueSpec("q", visibility_timeout=visibility))
    assert not (await backend.send("q", [SendEntry("m")])).failed


async def test_a_prompt_reply_is_kept_without_a_round_trip(backend: Backend) -> None:
    await _one(backend, 30)
    got = await backend.receive("q", wait_seconds=0)
    renew = Renewals(backend)
    assert await still_held(got, 0.01, 30, renew) == got
    assert renew.calls == 0


async def test_a_late_reply_whose_lease_is_over_is_dropped(backend: Backend) -> None:
    await _one(backend, 1)
    stale = await backend.receive("q", wait_seconds=0)
    await asyncio.sleep(1.2)  # the lease ends while the "frozen" receiver has not read its reply
    renew = Renewals(backend)
    assert await still_held(stale, 1.3, 1, renew) == []
    assert renew.calls == 1
    again = await backend.receive("q", wait_seconds=0)  # nobody else took it: visible again
    assert [m.attributes["ApproximateReceiveCount"] for m in again] == ["2"]


async def test_a_late_reply_does_not_take_the_next_holders_copy(backend: Backend) -> None:
    await _one(backend, 1)
    stale = await backend.receive("q", wait_seconds=0)
    await asyncio.sleep(1.2)
    newer = await backend.receive("q", wait_seconds=0, visibility_timeout=30)
    assert len(newer) == 1
    assert await still_held(stale, 1.3, 1, Renewals(backend)) == []
    counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight) == (0, 1), "the newer holder's copy must stay hidden"
    assert await backend.delete("q", [newer[0].receipt_handle]) == []


async def test_a_late_reply_still_in_its_lease_is_kept_and_renewed(backend: Backend) -> None:
    await _one(backend, 2)
    got = await backend.receive("q", wait_seconds=0)
    await asyncio.sleep(1.2)  # more than half the lease gone, not all of it
    renew = Renewals(backend)
    assert await still_held(got, 1.3, 2, renew) == got
    assert renew.calls == 1
    await asyncio.sleep(1.2)  # past the original deadline: the renewal keeps it hidden
    assert await backend.receive("q", wait_seconds=0) == []
    assert await backend.delete("q", [got[0].receipt_handle]) == []

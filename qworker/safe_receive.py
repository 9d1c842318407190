"""Receiving safely, for backend authors: no message stranded by a cancelled or late receive.

Two hazards of a receive that puts messages in flight, which every backend that leases messages
(SQLite, Redis) guards against with these helpers:

* **Cancelled while taking** (a worker shutting down): the step that took the messages still
  completes, and its messages would stay hidden until their visibility timeout with nobody
  processing them. :meth:`GiveBacks.take` lets the step finish in the background and makes what
  it took visible again at once. Each backend owns one :class:`GiveBacks` and waits for it in
  ``close()``, so nothing is given back to a closed connection.
* **Read late** (a worker paused while its reply travelled): :func:`still_held` renews the leases,
  fenced, before any handler sees them, and drops the ones another receiver holds by now
  (RELIABILITY.md T11).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from qworker.backend import BatchEntryError, ReceivedMessage, VisibilityChange

T = TypeVar("T")


class GiveBacks:
    """One backend's receives that were cancelled while taking messages and are giving them back."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[None]] = set()

    async def take(
        self,
        take: Awaitable[T],
        handles_of: Callable[[T], Sequence[str]],
        release: Callable[[Sequence[str]], Awaitable[object]],
        interrupt: Callable[[], Awaitable[object]] | None = None,
    ) -> T:
        """Await ``take``, a step that puts messages in flight, so that cancelling the caller cannot
        strand what it took: if the caller is cancelled, the step finishes in the background and
        ``release`` gets the receipt handles of what it took (to make them visible again at once,
        visibility 0); the caller's cancellation goes on unchanged. ``interrupt``, when given, asks
        a step that may still wait (a long poll) to finish early, so a shutdown does not wait for
        the poll's timeout; what it takes is given back all the same."""
        task = asyncio.ensure_future(take)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            giving_back = asyncio.ensure_future(_finish_and_give_back(task, handles_of, release, interrupt))
            self._pending.add(giving_back)
            giving_back.add_done_callback(self._pending.discard)
            raise

    def give_back(
        self, handles: Sequence[str], release: Callable[[Sequence[str]], Awaitable[object]]
    ) -> None:
        """Messages taken for a caller that is gone (a backend that takes messages ahead of a
        long poll's own call): ``release`` them in the background, tracked like the others."""
        if handles:
            giving_back = asyncio.ensure_future(_release(handles, release))
            self._pending.add(giving_back)
            giving_back.add_done_callback(self._pending.discard)

    async def wait(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout``) for the messages being given back; backends call it first
        thing in ``close()``."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)


async def _finish_and_give_back(
    task: asyncio.Future[T],
    handles_of: Callable[[T], Sequence[str]],
    release: Callable[[Sequence[str]], Awaitable[object]],
    interrupt: Callable[[], Awaitable[object]] | None,
) -> None:
    if interrupt is not None and not task.done():
        with contextlib.suppress(Exception):
            await interrupt()
    try:
        handles = handles_of(await task)
    except Exception:  # the step failed: it took nothing
        return
    await _release(handles, release)


async def _release(handles: Sequence[str], release: Callable[[Sequence[str]], Awaitable[object]]) -> None:
    if handles:
        with contextlib.suppress(Exception):  # else they come back after their timeout
            await release(handles)


async def still_held(
    messages: list[ReceivedMessage],
    took_seconds: float,
    visibility_seconds: float,
    renew: Callable[[Sequence[VisibilityChange]], Awaitable[list[BatchEntryError]]],
) -> list[ReceivedMessage]:
    """The received ``messages`` this receiver still holds, when its reply may have come late.

    A receive puts messages in flight when the server runs it, and their visibility timeout
    starts then. A worker paused after sending the request (SIGSTOP, a VM pause, a long GC, a
    starved container) reads the reply later: by then the messages' visibility may have ended
    and another worker may be running them with a newer receipt handle. Handing them to the
    handler would start a stale copy after the newer one (RELIABILITY.md T11). So when the call
    took more than half the visibility timeout (``took_seconds``, measured on the caller's
    monotonic clock around the request that took the messages), the leases are renewed, fenced,
    with the same timeout; the messages whose renewal fails (``MessageNotInflight``: expired or
    received again) are dropped here, and the queue delivers them again with a higher receive
    count. Replies that came back promptly cost nothing.
    """
    if not messages or took_seconds <= visibility_seconds / 2 or visibility_seconds <= 0:
        return messages
    failed = await renew([VisibilityChange(m.receipt_handle, visibility_seconds) for m in messages])
    if not failed:
        return messages
    lost = {f.id for f in failed}
    return [m for m in messages if m.receipt_handle not in lost]

"""One back-off for every caller of a backend while Redis cannot be reached.

Each call that fails to reach Redis retries with capped, jittered exponential back-off
(:func:`qworker.retry.backoff_delay`). Were that back-off a call's own, every new call during an
outage would start again at the base delay: a worker's poller, its deletes and a producer's
sends would each open a burst of connections, and a long outage would see connections at a
steady rate instead of fewer and fewer (the T7 fault test counts them). So the count of failed
round trips belongs to the backend object: a call made during an outage waits for the shared
next turn before it tries, and the first round trip that succeeds ends the outage for all.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from qworker.retry import backoff_delay

log = structlog.get_logger("qworker.redis")

#: the back-off between reconnects: base and cap of :func:`qworker.retry.backoff_delay` (s)
BACKOFF_BASE, BACKOFF_CAP = 0.05, 2.0


class Outage:
    """The shared state of an outage: failed round trips in a row and when to try next."""

    def __init__(self, display_url: str) -> None:
        self.display_url = display_url
        self.failures = 0  #: failed round trips since the last that succeeded (all callers)
        self.retry_at = 0.0  #: monotonic time before which no call should try again
        self.last_error = ""  #: the last failure's redacted text, for BackendUnavailable

    def failed(self, error: str) -> None:
        """A round trip could not reach Redis: push the next turn back (``error`` is redacted)."""
        if not self.failures:
            log.warning("redis.reconnecting", url=self.display_url, error=error)
        delay = backoff_delay(self.failures, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        self.retry_at = max(self.retry_at, time.monotonic() + delay)
        self.failures += 1
        self.last_error = error

    def succeeded(self) -> None:
        """A round trip reached Redis: the outage, if there was one, is over."""
        if self.failures:
            self.failures = 0
            self.retry_at = 0.0
            log.info("redis.reconnected", url=self.display_url)

    async def wait_turn(self, deadline: float) -> bool:
        """During an outage, sleep until the next turn; False (after sleeping until
        ``deadline``) when the turn comes after ``deadline``: the caller gives up."""
        if not self.failures:
            return True
        now = time.monotonic()
        if self.retry_at <= now:
            return True
        if self.retry_at >= deadline:
            await asyncio.sleep(max(0.0, deadline - now))
            return False
        await asyncio.sleep(self.retry_at - now)
        return True

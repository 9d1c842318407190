"""Scaling: the controller that sizes the concurrency slots (:class:`qworker.runtime.schedule.Slots`).

The controller (ESM-S-1, -2, -6) moves the slot limit between a floor and ``max_concurrency``:

* it starts at 5 concurrent batches (or the maximum, if lower), as Lambda does;
* while a backlog exists (a poller filled a whole batch while every slot was busy) it steps up:
  ``aws`` mode adds 5 per second (Lambda's "up to 300 more instances per minute"); ``fast``
  mode, the default for self-hosting, doubles every 100 ms;
* on function errors (not partial batch failures, ESM-P-6) it steps down: by a quarter of the
  limit in ``aws`` mode, by half in ``fast`` mode, never below the floor;
* when no backlog is seen for 10 seconds it returns to the floor (ESM-S-2, without Lambda's
  optional drop to 2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from qworker.runtime.schedule import Slots

INITIAL_CONCURRENCY = 5  #: ESM-S-1: "five batches at a time with five concurrent invocations"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """How fast the controller moves; see the module docstring for the two presets."""

    interval: float  #: seconds between decisions
    step_up: Callable[[int], int]  #: new limit from the current one, while a backlog exists
    step_down: Callable[[int], int]  #: new limit after an interval with function errors
    idle_after: float = 10.0  #: seconds without backlog before returning to the floor

    @classmethod
    def preset(cls, mode: str) -> ScalingPolicy:
        if mode == "aws":
            return cls(1.0, lambda n: n + 5, lambda n: n - max(1, n // 4))
        return cls(0.1, lambda n: n * 2, lambda n: n // 2)


class ScalingController:
    """Adjusts ``slots.limit`` from the signals pollers and invocations report."""

    def __init__(
        self, slots: Slots, maximum: int, policy: ScalingPolicy, on_change: Callable[[int, str], None]
    ) -> None:
        self.slots = slots
        self.maximum = maximum
        self.floor = min(INITIAL_CONCURRENCY, maximum)
        self.policy = policy
        self.on_change = on_change
        self._backlog = False
        self._errors = 0
        self._last_backlog = time.monotonic()
        slots.set_limit(self.floor)

    def saw_backlog(self) -> None:
        """A poller filled a whole batch while every slot was busy."""
        self._backlog = True
        self._last_backlog = time.monotonic()

    def saw_function_error(self) -> None:
        """An invocation failed (error or timeout); partial batch failures do not count (ESM-P-6)."""
        self._errors += 1

    def decide(self) -> None:
        """One decision; run every ``policy.interval`` seconds."""
        limit = self.slots.limit
        if self._errors:
            new, reason = max(self.floor, self.policy.step_down(limit)), "function errors"
        elif self._backlog:
            new, reason = min(self.maximum, self.policy.step_up(limit)), "backlog"
        elif time.monotonic() - self._last_backlog > self.policy.idle_after:
            new, reason = self.floor, "idle"
        else:
            new, reason = limit, ""
        self._errors = 0
        self._backlog = False
        if new != limit:
            self.slots.set_limit(new)
            self.on_change(new, reason)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.policy.interval)
            self.decide()

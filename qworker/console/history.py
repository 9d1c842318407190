"""Fixed-size history of one queue's samples, for the depth and throughput charts.

A ring buffer (``collections.deque`` with ``maxlen``): an hour at one sample every 10 s is 360
points per queue, so 1,000 queues keep about a megabyte of numbers, and adding a sample never
allocates more.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Point:
    """One sample: time (epoch s), messages waiting (visible + delayed), in flight, and the
    throughput since the previous sample (messages/s; None when unknown)."""

    at: float
    waiting: int
    in_flight: int
    throughput: float | None


class History:
    """The last ``size`` points of one queue."""

    __slots__ = ("points",)

    def __init__(self, size: int) -> None:
        self.points: deque[Point] = deque(maxlen=max(2, size))

    def add(self, point: Point) -> None:
        self.points.append(point)

    def last(self) -> Point | None:
        return self.points[-1] if self.points else None

    def since(self, after: float) -> list[Point]:
        """Points newer than ``after`` (epoch s), oldest first; cheap when few are new."""
        out: list[Point] = []
        for point in reversed(self.points):
            if point.at <= after:
                break
            out.append(point)
        out.reverse()
        return out

    def columns(self, after: float = 0.0) -> list[list[float | int | None]]:
        """uPlot's data layout: ``[times, waiting, in_flight, throughput]``."""
        points = self.since(after)
        return [
            [round(p.at, 3) for p in points],
            [p.waiting for p in points],
            [p.in_flight for p in points],
            [None if p.throughput is None else round(p.throughput, 3) for p in points],
        ]

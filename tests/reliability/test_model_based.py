"""Model-based tests: a real backend and the reference model, driven by the same random operations,
must agree at every step (RELIABILITY.md T13 / issue 9 item 4).

Hypothesis generates sequences of send / receive / delete (with current and stale handles) /
change-visibility / time jumps / redrive over a standard queue and a FIFO queue, each with a
dead-letter queue. Both backends read one shared fake clock that only the test moves, so
visibility timeouts, delays, retention and the 5-minute deduplication window are exercised
without sleeping. Message ids differ between backends, so messages are matched by their bodies
(each send has a unique body) and receipt handles are kept in pairs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from qworker.backend import Backend, QueueSpec, RedrivePolicy, SendEntry, VisibilityChange
from qworker.memory import MemoryBackend
from qworker_sqlite import SQLiteBackend

QUEUES = ("std", "jobs.fifo")
DLQS = {"std": "std-dlq", "jobs.fifo": "jobs-dlq.fifo"}


class FrozenClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ShiftedClock:
    """Real time plus an offset the test moves: for backends whose clock is a server's (Redis
    reads TIME; the test can only add an offset to it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def _summary(messages: list[Any]) -> list[tuple[str, int, str | None]]:
    return [(m.body, m.receive_count, m.attributes.get("MessageGroupId")) for m in messages]


class BackendAgreesWithModel(RuleBasedStateMachine):
    """Subclasses set ``make_backend(clock, tmp) -> Backend``."""

    make_backend: Callable[[Any, Path], Backend]
    make_clock: Callable[[], Any] = FrozenClock
    tmp_root: Path

    handles = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = type(self).make_clock()
        self.bodies = itertools.count()
        self.directory = self.tmp_root / f"run-{id(self)}-{next(_runs)}"
        self.directory.mkdir(parents=True)
        self.model = MemoryBackend(clock=self.clock)
        self.real = type(self).make_backend(self.clock, self.directory)
        self.run(self.real.connect())

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def both(self, call: Callable[[Backend], Any]) -> tuple[Any, Any]:
        return self.run(call(self.model)), self.run(call(self.real))

    def teardown(self) -> None:
        self.run(self.real.close())
        self.runner.close()

    @initialize()
    def create_queues(self) -> None:
        for queue, dlq in DLQS.items():
            for backend in (self.model, self.real):
                self.run(backend.create_queue(QueueSpec(dlq, visibility_timeout=5)))
                self.run(
                    backend.create_queue(
                        QueueSpec(
                            queue,
                            visibility_timeout=5,
                            message_retention_period=600,
                            redrive_policy=RedrivePolicy(dlq, 2),
                        )
                    )
                )

    @rule(
        queue=st.sampled_from(QUEUES),
        count=st.integers(1, 4),
        group=st.sampled_from(["a", "b", "c"]),
        dedup=st.sampled_from([None, "same", "other"]),
        delay=st.sampled_from([None, 0, 3]),
    )
    def send(self, queue: str, count: int, group: str, dedup: str | None, delay: int | None) -> None:
        fifo = queue.endswith(".fifo")
        entries = [
            SendEntry(
                f"m{next(self.bodies)}",
                message_group_id=group if fifo else None,
                message_deduplication_id=(dedup or f"u{next(self.bodies)}-{i}") if fifo else None,
                delay_seconds=None if fifo else delay,
            )
            for i in range(count)
        ]
        expected, actual = self.both(lambda b: b.send(queue, entries))
        assert [r.id for r in expected.successful] == [r.id for r in actual.successful]
        assert [f.code for f in expected.failed] == [f.code for f in actual.failed]

    @rule(
        target=handles,
        queue=st.sampled_from(QUEUES + tuple(DLQS.values())),
        most=st.integers(1, 6),
        visibility=st.sampled_from([None, 0, 2, 10]),
    )
    def receive(self, queue: str, most: int, visibility: int | None) -> Any:
        if not queue.endswith(".fifo"):
            # A standard queue's order is best effort (SQS-R-1): which of the visible messages a
            # partial receive picks is not specified, so standard receives take them all.
            most = 100
        expected, actual = self.both(
            lambda b: b.receive(queue, max_messages=most, wait_seconds=0, visibility_timeout=visibility)
        )
        if queue.endswith(".fifo"):
            assert _summary(expected) == _summary(actual), "FIFO receive differs"
        else:
            assert sorted(_summary(expected)) == sorted(_summary(actual)), "receive differs"
        by_body = {m.body: m for m in actual}
        pairs = [(queue, m.receipt_handle, by_body[m.body].receipt_handle) for m in expected]
        return pairs

    @rule(pairs=handles)
    def delete(self, pairs: list[tuple[str, str, str]]) -> None:
        for queue, model_handle, real_handle in pairs:
            expected = self.run(self.model.delete(queue, [model_handle]))
            actual = self.run(self.real.delete(queue, [real_handle]))
            assert [f.code for f in expected] == [f.code for f in actual], "delete outcome differs"

    @rule(pairs=handles, timeout=st.sampled_from([0, 1, 4, 43_201]))
    def change_visibility(self, pairs: list[tuple[str, str, str]], timeout: int) -> None:
        for queue, model_handle, real_handle in pairs:
            expected = self.run(
                self.model.change_visibility(queue, [VisibilityChange(model_handle, timeout)])
            )
            actual = self.run(self.real.change_visibility(queue, [VisibilityChange(real_handle, timeout)]))
            assert [f.code for f in expected] == [f.code for f in actual], "change_visibility outcome differs"

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 6, 301, 700]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(dlq=st.sampled_from(tuple(DLQS.values())))
    def redrive(self, dlq: str) -> None:
        expected, actual = self.both(lambda b: b.redrive(dlq))
        assert (expected.moved, expected.failed) == (actual.moved, actual.failed)

    @invariant()
    def counts_agree(self) -> None:
        for queue in QUEUES + tuple(DLQS.values()):
            expected, actual = self.both(lambda b, q=queue: b.get_queue(q))
            assert expected.counts == actual.counts, f"{queue}: {expected.counts} != {actual.counts}"


_runs = itertools.count()


def _machine(
    make: Callable[[Any, Path], Backend], tmp: Path, clock: Callable[[], Any] = FrozenClock
) -> type[BackendAgreesWithModel]:
    machine = type(
        "Machine",
        (BackendAgreesWithModel,),
        {"make_backend": staticmethod(make), "make_clock": staticmethod(clock), "tmp_root": tmp},
    )
    machine.TestCase.settings = settings(
        max_examples=60, stateful_step_count=50, deadline=None, suppress_health_check=list(HealthCheck)
    )
    return machine


@pytest.mark.timeout(300)
def test_sqlite_agrees_with_the_model(tmp_path: Path) -> None:
    machine = _machine(lambda clock, d: SQLiteBackend.from_url(f"sqlite:///{d}/q.db", clock=clock), tmp_path)
    machine.TestCase().runTest()


@pytest.mark.timeout(300)
def test_redis_agrees_with_the_model(tmp_path: Path) -> None:
    from qworker_redis import RedisBackend
    from qworker_redis.testing import RedisServer

    server = RedisServer().start()
    try:
        machine = _machine(
            lambda clock, d: RedisBackend(
                f"{server.url}?prefix=m{uuid.uuid4().hex[:10]}", clock_offset=lambda: clock.offset
            ),
            tmp_path,
            ShiftedClock,
        )
        machine.TestCase().runTest()
    finally:
        server.stop()

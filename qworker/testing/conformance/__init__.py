"""The backend conformance suite: one pytest class every backend subclasses.

A backend proves it gives SQS's semantics by passing this suite::

    from qworker.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        timing_unit = 0.5          # a visibility timeout short enough for quick tests
        controls_clock = True      # the backend fixture builds the backend on `clock`

        @pytest.fixture
        async def backend(self, clock):
            async with MyBackend(..., clock=clock) as backend:
                yield backend

        @pytest.fixture
        async def other_backend(self, clock):   # a second client of the same store
            async with MyBackend(..., clock=clock) as other:
                yield other

Every test names the SPEC statements it checks. Changes every client must see at once
(SetQueueAttributes, tags, PurgeQueue's 60 s, the record store) are made through ``backend``
and checked through ``other_backend``; without that fixture those tests are skipped.
Tests use real timing with short visibility timeouts (``timing_unit`` seconds); the few that
need minutes to pass (the 5-minute deduplication window, retention, the 12-hour visibility cap)
move the ``clock`` instead and are skipped, with the reason, for backends whose clock cannot be
moved (``controls_clock = False``).
Each test makes its own uniquely named queues, so a backend may share one server between tests.

The quarantine tests (RELIABILITY T16) run on backends with ``capabilities.quarantine`` and need
the test class to damage a stored message the way that backend's data can be damaged: override
:meth:`BackendConformance.corrupt_message` (SQLite: update a column; Redis: overwrite the
envelope; ``memory://``: ``MemoryBackend.corrupt``). Without the hook they are skipped.
"""

from __future__ import annotations

from qworker.testing.conformance.attributes import AttributeTests
from qworker.testing.conformance.base import OffsetClock, SuiteBase, bodies, comparable, unique_name
from qworker.testing.conformance.capabilities import CapabilityTests
from qworker.testing.conformance.fifo import FifoTests
from qworker.testing.conformance.messages import MessageTests
from qworker.testing.conformance.queues import QueueTests
from qworker.testing.conformance.receipts import ReceiptTests

__all__ = ["BackendConformance", "OffsetClock", "SuiteBase", "bodies", "comparable", "unique_name"]


class BackendConformance(
    QueueTests, AttributeTests, MessageTests, ReceiptTests, FifoTests, CapabilityTests, SuiteBase
):
    """SQS semantics every qworker backend must have. Subclass it and override ``backend``.

    Its tests live in one module per concern (:mod:`.queues`, :mod:`.attributes`,
    :mod:`.messages`, :mod:`.receipts`, :mod:`.fifo`, :mod:`.capabilities`); the fixtures and
    helpers in :class:`~qworker.testing.conformance.base.SuiteBase`.
    """

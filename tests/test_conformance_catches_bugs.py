"""The conformance suite fails a backend with each classic queue bug.

Each case runs the suite, in a separate pytest session, against the reference model with one
decision broken. The suite must fail, and in the tests named for that bug. A suite that a broken
backend passes would prove nothing about the backends that pass it.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

_MODULE = """
from collections.abc import AsyncIterator

import pytest

from qworker.testing.conformance import BackendConformance, OffsetClock
from qworker.memory import MemoryBackend


class BrokenBackend(MemoryBackend):
{override}


class TestBroken(BackendConformance):
    timing_unit = 0.3
    controls_clock = True

    @pytest.fixture
    async def backend(self, clock: OffsetClock) -> AsyncIterator[BrokenBackend]:
        async with BrokenBackend(clock=clock) as backend:
            yield backend
"""

BUGS = {
    "deletes-with-stale-receipt-handle": (
        "def is_current_holder(self, message, token):\n    return True",
        ["test_stale_receipt_handle_never_deletes"],
    ),
    "fifo-returns-second-message-of-a-group-in-flight": (
        "def group_is_locked(self, members, now):\n    return False",
        [
            "test_fifo_group_is_locked_while_a_message_is_in_flight",
            "test_fifo_lock_holds_while_any_message_of_the_group_is_in_flight",
        ],
    ),
    "dlq-move-one-receive-early": (
        "def should_dead_letter(self, q, message):\n"
        "    p = q.spec.redrive_policy\n"
        "    return p is not None and message.receive_count >= p.max_receive_count - 1",
        ["test_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count", "test_max_receive_count_one"],
    ),
    "dlq-move-one-receive-late": (
        "def should_dead_letter(self, q, message):\n"
        "    p = q.spec.redrive_policy\n"
        "    return p is not None and message.receive_count > p.max_receive_count",
        ["test_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count", "test_max_receive_count_one"],
    ),
    "loses-message-attributes": (
        "def stored_attributes(self, message):\n    return {}",
        ["test_message_attributes_round_trip", "test_send_returns_ids_and_sqs_md5s"],
    ),
    "keeps-message-hidden-after-its-visibility-timeout": (
        "def visibility_ms(self, timeout):\n    return round(timeout * 1000 * 20)",
        ["test_visibility_timeout_hides_then_message_reappears", "test_receive_visibility_timeout_override"],
    ),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_suite_fails_a_backend_with(pytester: pytest.Pytester, bug: str) -> None:
    override, must_fail = BUGS[bug]
    pytester.makepyfile(test_broken=_MODULE.format(override=textwrap.indent(override, "    ")))
    result = pytester.runpytest_subprocess(
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-k",
        " or ".join(must_fail),
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == len(must_fail), result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) == 0


def test_unbroken_model_passes_the_same_selection(pytester: pytest.Pytester) -> None:
    """Control: with nothing broken, the tests selected above pass."""
    pytester.makepyfile(test_broken=_MODULE.format(override="    pass"))
    selected = sorted({name for _, names in BUGS.values() for name in names})
    result = pytester.runpytest_subprocess(
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-k",
        " or ".join(selected),
    )
    assert result.parseoutcomes().get("passed", 0) == len(selected), result.stdout.str()[-3000:]

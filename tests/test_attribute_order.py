"""Lambda's order of a record's system attributes is defined once,
:data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER` (SPEC EVT-4), and every builder follows it: the
core's :func:`qworker.backend.system_attributes`, the Redis backend's inline builders (checked
at import), the SQS backend's conversion (``backends/sqs/tests/test_sqs_attribute_order.py``)."""

from __future__ import annotations

import itertools

import pytest

from qworker.backend import system_attributes
from qworker.events import SYSTEM_ATTRIBUTE_ORDER


@pytest.mark.parametrize(("fifo", "trace", "source"), list(itertools.product([False, True], repeat=3)))
def test_system_attributes_follow_the_one_order(fifo: bool, trace: bool, source: bool) -> None:
    attrs = system_attributes(
        receive_count=1,
        sent_ms=2,
        first_receive_ms=3,
        sender_id="S",
        sequence_number="7" if fifo else None,
        group_id="g" if fifo else None,
        dedup_id="d" if fifo else None,
        trace_header="Root=1" if trace else None,
        dead_letter_source_arn="arn:aws:sqs:us-east-1:000000000000:q" if source else None,
    )
    assert list(attrs) == [name for name in SYSTEM_ATTRIBUTE_ORDER if name in attrs]
    assert len(attrs) == 4 + 3 * fifo + trace + source


def test_redis_builders_are_checked_against_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis receive path spells attribute names out for speed; its import-time check fails
    when they drift from the definition (here: the definition changes under them)."""
    pytest.importorskip("redis")
    from qworker_redis import messages

    messages._check_order()  # as at import
    swapped = list(SYSTEM_ATTRIBUTE_ORDER)
    swapped[3], swapped[6] = swapped[6], swapped[3]  # SentTimestamp <-> SenderId
    monkeypatch.setattr(messages, "SYSTEM_ATTRIBUTE_ORDER", tuple(swapped))
    with pytest.raises(ImportError, match="out of Lambda's order"):
        messages._check_order()

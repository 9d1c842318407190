"""check_send_entry: a plain entry (a body alone, to a standard queue) takes a short path; it must
answer exactly as the full set of checks, and entries that are not plain must not take it."""

from __future__ import annotations

import pytest

from qworker import limits
from qworker.backend import MessageAttributeValue, QueueSpec, SendEntry

STANDARD = QueueSpec("q", maximum_message_size=1024)
FIFO = QueueSpec("q.fifo")


@pytest.mark.parametrize(
    ("entry", "spec", "code"),
    [
        (SendEntry("hello"), STANDARD, None),
        (SendEntry(""), STANDARD, "MissingParameter"),
        (SendEntry("bad \x00 char"), STANDARD, "InvalidMessageContents"),
        (SendEntry("x" * 1025), STANDARD, "InvalidParameterValue"),
        (SendEntry("\x01" + "x" * 2000), STANDARD, "InvalidMessageContents"),  # body before size
        (SendEntry("é" * 600), STANDARD, "InvalidParameterValue"),  # 1200 bytes of UTF-8
        (SendEntry("hello"), FIFO, "MissingParameter"),  # no group id: not plain
        (SendEntry("hello", message_deduplication_id="d"), STANDARD, "InvalidParameterValue"),
        (SendEntry("hello", delay_seconds=901), STANDARD, "InvalidParameterValue"),
        (SendEntry("hello", delay_seconds=5), STANDARD, None),
        (SendEntry("hi", message_attributes={"a": MessageAttributeValue("String", "")}), STANDARD,
         "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_check_send_entry(entry: SendEntry, spec: QueueSpec, code: str | None) -> None:
    error = limits.check_send_entry(entry, "7", spec)
    assert (error.code if error else None) == code
    if error is not None:
        assert error.id == "7"


def test_a_plain_entry_gets_the_same_answer_as_the_full_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from qworker import entry_limits

    entries = [SendEntry(""), SendEntry("ok"), SendEntry("\x02"), SendEntry("y" * 2048)]
    short = [limits.check_send_entry(e, "0", STANDARD) for e in entries]
    monkeypatch.setattr(entry_limits, "_plain", lambda entry, spec: False)
    full = [limits.check_send_entry(e, "0", STANDARD) for e in entries]
    assert short == full

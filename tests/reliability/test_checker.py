"""The checker on crafted histories: it must pass clean ones and catch every kind of violation.

A checker that cannot fail proves nothing, so each category (lost, recovered, unexpected,
duplicated, FIFO order, group and message overlaps, receive counts, early redelivery, kills) gets
a history that shows it and one that must not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reliability.checker import (
    Invocation,
    Kill,
    Record,
    Sent,
    check,
    invocations_from_ledger,
    kill_impacts,
    quantile,
)


def rec(key: str, count: int = 1, mid: str | None = None, group: str | None = None) -> Record:
    return Record(key, mid or f"id-{key}", count, group)


def inv(
    rid: str, records: list[Record], start: float, end: float | None, outcome: Any = "ok", pid: int = 1
) -> Invocation:
    return Invocation(rid, pid, tuple(records), start, end, outcome if end is not None else None)


def ok(*keys: str) -> list[Sent]:
    return [Sent(k, "ok") for k in keys]


def fifo_sent(group: str, n: int, status: Any = "ok") -> list[Sent]:
    return [Sent(f"{group}{i}", status, group, i) for i in range(n)]


def frec(group: str, seq: int, count: int = 1) -> Record:
    return rec(f"{group}{seq}", count, group=group)


# -- classification ----------------------------------------------------------------------------


def test_clean_history_has_no_problems() -> None:
    report = check(ok("a", "b"), [inv("r1", [rec("a"), rec("b")], 0, 1)])
    assert report.problems() == []
    assert report.ok == {"a", "b"} and report.summary()["ok"] == 2
    assert (report.sent_ok, report.deliveries, report.duplicate_count) == (2, 2, 0)


def test_lost_is_acknowledged_but_never_completed() -> None:
    report = check(
        ok("done", "failed-only", "never", "dead"),
        [inv("r1", [rec("done")], 0, 1), inv("r2", [rec("failed-only")], 0, 1, "error")],
        dead_letters=["dead"],
    )
    assert report.lost == {"failed-only", "never"}
    assert report.dead_lettered == {"dead"}
    assert any(p.startswith("lost 2") for p in report.problems())


def test_recovered_and_unknown_sends() -> None:
    sent = [Sent("u1", "unknown"), Sent("u2", "unknown"), *ok("a")]
    report = check(sent, [inv("r1", [rec("u1"), rec("a")], 0, 1)])
    assert report.recovered == {"u1"}
    assert report.never_seen_unknown == {"u2"}
    assert report.lost == set() and report.problems() == []


def test_a_retried_send_keeps_its_best_status() -> None:
    report = check([Sent("a", "unknown"), Sent("a", "ok")], [])
    assert report.lost == {"a"} and report.sent_ok == 1 and report.sent_unknown == 0


def test_unexpected_is_delivered_but_never_sent() -> None:
    report = check(
        [*ok("a"), Sent("refused", "failed")],
        [inv("r1", [rec("a"), rec("ghost")], 0, 1), inv("r2", [rec("refused")], 2, 3, "error")],
    )
    assert report.unexpected == {"ghost", "refused"}
    assert any(p.startswith("unexpected 2") for p in report.problems())


def test_duplicates_split_into_redeliveries_and_send_copies() -> None:
    report = check(
        ok("a", "b", "c"),
        [
            inv("r1", [rec("a", 1), rec("b", 1, "b-1")], 0, 1),
            inv("r2", [rec("a", 2), rec("b", 1, "b-2")], 2, 3),  # a redelivered; b sent twice
            inv("r3", [rec("c", 1)], 0, 1, "error"),
            inv("r4", [rec("c", 2)], 2, 3),  # a retry after a failure is not a duplicate
        ],
    )
    assert report.duplicated == {"a": 2, "b": 2}
    assert report.redelivery_duplicates == {"a": 1}
    assert report.send_duplicates == {"b": 2}
    assert report.duplicate_count == 2
    assert report.redelivered == {"a": [1, 2], "b": [1, 1], "c": [1, 2]}
    assert report.problems() == []  # at-least-once allows duplicates


# -- per-message rules ---------------------------------------------------------------------------


def test_receive_count_must_grow_with_each_delivery() -> None:
    good = check(ok("a"), [inv("r1", [rec("a", 1)], 0, 1, "error"), inv("r2", [rec("a", 2)], 2, 3)])
    assert good.count_regressions == []
    bad = check(ok("a"), [inv("r1", [rec("a", 2)], 0, 1, "error"), inv("r2", [rec("a", 2)], 2, 3)])
    assert [(c.previous, c.count, c.request_id) for c in bad.count_regressions] == [(2, 2, "r2")]
    assert any("receive count" in p for p in bad.problems())


def test_one_message_running_twice_at_once_is_an_overlap() -> None:
    apart = check(ok("a"), [inv("r1", [rec("a", 1)], 0, 1, "error"), inv("r2", [rec("a", 2)], 1.5, 2)])
    assert apart.message_overlaps == []
    together = check(ok("a"), [inv("r1", [rec("a", 1)], 0, 3), inv("r2", [rec("a", 2)], 1, 2)])
    (overlap,) = together.message_overlaps
    assert (overlap.subject, overlap.first, overlap.second, overlap.seconds) == ("id-a", "r1", "r2", 1)
    assert together.problems() == []  # allowed (the lease ran out); tests bound it themselves


def test_early_redelivery_against_the_visibility_timeout() -> None:
    history = [inv("r1", [rec("a", 1)], 0, 0.1, "error"), inv("r2", [rec("a", 2)], 0.3, 0.6)]
    assert check(ok("a"), history).early_redeliveries == []  # not asked
    (early,) = check(ok("a"), history, visibility_timeout=1.0).early_redeliveries
    assert (early.message_id, early.gap, early.request_id) == ("id-a", 0.3, "r2")
    late = [inv("r1", [rec("a", 1)], 0, 0.1, "error"), inv("r2", [rec("a", 2)], 0.9, 1)]
    assert check(ok("a"), late, visibility_timeout=1.0).early_redeliveries == []  # within the slack


def test_a_killed_invocation_holds_its_message_until_its_process_died() -> None:
    history = [inv("r1", [rec("a", 1)], 0, None, pid=7), inv("r2", [rec("a", 2)], 2, 3, pid=8)]
    assert check(ok("a"), history, deaths={7: 1.0}).message_overlaps == []
    report = check(ok("a"), history)  # not known dead: it may still hold it
    assert [i.request_id for i in report.unfinished] == ["r1"]
    assert len(report.message_overlaps) == 1


# -- FIFO ----------------------------------------------------------------------------------------


def test_fifo_in_order_history_is_clean() -> None:
    history = [
        inv("r1", [frec("g", 0), frec("g", 1)], 0, 1),
        inv("r2", [frec("h", 0)], 0.5, 1.5),  # other groups run concurrently
        inv("r3", [frec("g", 2)], 1, 2),
        inv("r4", [frec("h", 1)], 1.5, 2),
    ]
    report = check([*fifo_sent("g", 3), *fifo_sent("h", 2)], history, fifo=True)
    assert report.problems() == [] and len(report.ok) == 5


def test_fifo_skipping_ahead_of_an_unfinished_message() -> None:
    report = check(
        fifo_sent("g", 2), [inv("r1", [frec("g", 1)], 0, 1), inv("r2", [frec("g", 0)], 2, 3)], fifo=True
    )
    kinds = [(v.kind, v.seq) for v in report.fifo_violations]
    assert ("skipped_ahead", 1) in kinds
    assert ("regressed", 0) in kinds  # and 0 came back after 1 went out without it
    assert any("FIFO" in p for p in report.problems())


def test_fifo_batch_order_matters() -> None:
    good = check(fifo_sent("g", 2), [inv("r1", [frec("g", 0), frec("g", 1)], 0, 1)], fifo=True)
    assert good.fifo_violations == []
    bad = check(fifo_sent("g", 2), [inv("r1", [frec("g", 1), frec("g", 0)], 0, 1)], fifo=True)
    assert [(v.kind, v.seq) for v in bad.fifo_violations] == [
        ("skipped_ahead", 1),
        ("completed_out_of_order", 0),  # a batch completes in its own order
    ]


def test_fifo_a_failing_head_blocks_its_group() -> None:
    history = [
        inv("r1", [frec("g", 0)], 0, 1, "error"),
        inv("r2", [frec("g", 1)], 1.5, 2),  # went past a head that had not succeeded
        inv("r3", [frec("g", 0, 2)], 3, 4),
    ]
    report = check(fifo_sent("g", 2), history, fifo=True)
    assert ("skipped_ahead", 1) in [(v.kind, v.seq) for v in report.fifo_violations]
    retried = [
        inv("r1", [frec("g", 0)], 0, 1, "error"),
        inv("r3", [frec("g", 0, 2)], 3, 4),
        inv("r4", [frec("g", 1)], 4, 5),
    ]
    assert check(fifo_sent("g", 2), retried, fifo=True).fifo_violations == []


def test_fifo_a_batch_redelivered_after_a_kill_is_legal() -> None:
    """Completed but not deleted (killed before the delete): the whole batch comes back."""
    history = [
        inv("r1", [frec("g", 0), frec("g", 1)], 0, 0.5, pid=7),
        inv("r2", [frec("g", 0, 2), frec("g", 1, 2)], 2, 2.5, pid=8),
        inv("r3", [frec("g", 2)], 3, 3.5, pid=8),
    ]
    report = check(fifo_sent("g", 3), history, fifo=True, deaths={7: 0.6})
    assert report.problems() == [] and report.duplicated == {"g0": 2, "g1": 2}


def test_fifo_regression_after_the_group_moved_on() -> None:
    history = [
        inv("r1", [frec("g", 0)], 0, 1),
        inv("r2", [frec("g", 1)], 1, 2),
        inv("r3", [frec("g", 0, 2)], 3, 4),  # 0 was deleted when 1 went out: it cannot come back
    ]
    report = check(fifo_sent("g", 2), history, fifo=True)
    assert [(v.kind, v.seq) for v in report.fifo_violations] == [("regressed", 0)]


def test_fifo_completions_out_of_order() -> None:
    history = [inv("r1", [frec("g", 0)], 0, 3), inv("r2", [frec("g", 1)], 1, 2)]
    report = check(fifo_sent("g", 2), history, fifo=True)
    kinds = {v.kind for v in report.fifo_violations}
    assert {"skipped_ahead", "completed_out_of_order"} <= kinds
    assert len(report.group_overlaps) == 1


def test_fifo_dead_letters_and_unknown_sends_do_not_block() -> None:
    sent = [Sent("g0", "ok", "g", 0), Sent("g1", "unknown", "g", 1), Sent("g2", "ok", "g", 2)]
    history = [inv("r1", [frec("g", 0)], 0, 1, "error"), inv("r2", [frec("g", 2)], 2, 3)]
    report = check(sent, history, fifo=True, dead_letters=["g0"])
    assert report.fifo_violations == [] and report.never_seen_unknown == {"g1"}
    recovered = check(sent, [*history, inv("r3", [frec("g", 1)], 4, 5)], fifo=True, dead_letters=["g0"])
    assert ("regressed", 1) in [(v.kind, v.seq) for v in recovered.fifo_violations]


def test_group_held_by_two_invocations_at_once() -> None:
    history = [
        inv("r1", [frec("g", 0), frec("h", 0)], 0, 2),
        inv("r2", [frec("h", 1)], 2, 3),  # touching is not overlapping
        inv("r3", [frec("g", 1)], 1, 1.5),
    ]
    report = check([*fifo_sent("g", 2), *fifo_sent("h", 2)], history, fifo=True)
    assert [(o.subject, o.first, o.second, o.seconds) for o in report.group_overlaps] == [
        ("g", "r1", "r3", 0.5)
    ]
    assert any("group held twice" in p for p in report.problems())
    assert check(fifo_sent("g", 2), history[:1] + history[2:], fifo=False).group_overlaps == []


def test_group_lease_of_a_killed_invocation_ends_with_its_process() -> None:
    history = [inv("r1", [frec("g", 0)], 0, None, pid=7), inv("r2", [frec("g", 0, 2)], 2, 3, pid=8)]
    assert check(fifo_sent("g", 1), history, fifo=True, deaths={7: 1}).group_overlaps == []
    assert len(check(fifo_sent("g", 1), history, fifo=True, deaths={7: 2.5}).group_overlaps) == 1


# -- ledger formats ------------------------------------------------------------------------------


def test_two_phase_ledger_lines() -> None:
    def line(phase: str, rid: str, t: float, **extra: Any) -> dict[str, Any]:
        return {
            "phase": phase,
            "pid": 5,
            "request_id": rid,
            "ids": ["m1"],
            "bodies": [json.dumps({"k": "a", "g": "g", "s": 0})],
            "counts": [1],
            "groups": ["g"],
            "time": t,
            **extra,
        }

    lines = [line("start", "r1", 1.0), line("start", "r2", 2.0), line("end", "r1", 1.5, outcome="cancelled")]
    first, second = invocations_from_ledger(lines)
    assert (first.request_id, first.start, first.end, first.outcome, first.completed) == (
        "r1",
        1.0,
        1.5,
        "cancelled",
        False,
    )
    assert (second.start, second.end, second.outcome) == (2.0, None, None)
    assert first.records == (Record("a", "m1", 1, "g"),)


def test_one_line_ledger_format_of_the_runtime_tests() -> None:
    line = {
        "kind": "async",
        "pid": 3,
        "request_id": "r",
        "ids": ["m1", "m2"],
        "bodies": ['{"n": 1}', "plain"],
        "counts": [1, 2],
        "groups": [None, None],
        "time": 9.0,
        "start": 8.0,
        "failed": True,
    }
    (only,) = invocations_from_ledger([line])
    assert (only.start, only.end, only.outcome) == (8.0, 9.0, "error")
    assert [r.key for r in only.records] == ['{"n": 1}', "plain"]  # no "k": the body is the key


# -- kills ---------------------------------------------------------------------------------------


def test_kill_impacts_attribute_duplicates_and_redeliveries() -> None:
    kill = Kill(7, 10.0)
    history = [
        inv("old", [rec("x")], 1, 2, pid=7),  # finished long before the kill: not in flight
        inv("r1", [rec("a"), rec("b")], 9.5, 9.6, pid=7),  # done, delete not made: duplicate
        inv("r2", [rec("c")], 9.8, None, pid=7),  # running at the kill: redelivered, no duplicate
        inv("r3", [rec("a", 2), rec("b", 2)], 11, 11.1, pid=8),
        inv("r4", [rec("c", 2)], 11.5, 11.6, pid=8),
    ]
    impacts = kill_impacts(history, [kill])
    (impact,) = impacts.impacts
    assert (impact.running, impact.settling) == ({"c"}, {"a", "b"})
    assert impact.in_flight == {"a", "b", "c"}
    assert impact.duplicates == {"a", "b"}
    assert impact.redelivery_latency == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.5})
    assert impacts.unexplained_duplicates == set() and impacts.low_count_duplicates == set()
    assert impacts.summary()["duplicates_per_kill_max"] == 2
    assert impacts.summary()["redelivery_max"] == 1.5


def test_redelivery_latency_is_timed_only_up_to_the_next_kill() -> None:
    history = [
        inv("r1", [rec("a"), rec("b")], 9, None, pid=7),
        inv("r2", [rec("a", 2)], 11, 11.1, pid=8),
        inv("r3", [rec("b", 3)], 14, 14.1, pid=9),  # after pid 8 died: it may have held b unstarted
    ]
    impacts = kill_impacts(history, [Kill(7, 10.0), Kill(8, 12.0)])
    first, second = impacts.impacts
    assert first.redelivery_latency == pytest.approx({"a": 1.0})
    assert first.redelivered_after_later_kill == {"b"}
    assert second.in_flight == set() and impacts.latencies() == pytest.approx([1.0])


def test_kill_impacts_flag_duplicates_no_kill_explains() -> None:
    history = [
        inv("r1", [rec("a")], 1, 2, pid=7),
        inv("r2", [rec("a", 1)], 5, 6, pid=8),  # redelivered with count 1, and nobody was killed
    ]
    impacts = kill_impacts(history, [Kill(7, 9.0)], ack_grace=1.0)
    assert impacts.unexplained_duplicates == {"a"}
    assert impacts.low_count_duplicates == {"a"}
    assert impacts.in_flight_total == 0


def test_quantile() -> None:
    assert quantile([3, 1, 2, 4], 0.5) == 2 and quantile([5], 0.99) == 5
    with pytest.raises(ValueError):
        quantile([], 0.5)

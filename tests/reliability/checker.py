"""A Jepsen-style checker for queue histories (RELIABILITY.md §2.0, item 2).

Two histories are recorded *outside* the system under test and fed to :func:`check`:

* the sender's record: every message the test tried to send (:class:`Sent`), with the outcome the
  send call reported (``ok``: acknowledged; ``unknown``: the call raised, so the message may or may
  not exist; ``failed``: the backend refused that entry), and for FIFO tests its group and its
  sequence number within the group (the order the sender sent it in);
* the ledger: what each handler invocation saw (:class:`Invocation`): the records it was given
  (message id, receive count, group) and when it started and ended, and how it ended.

The checker classifies every message the way the rabbitmq/jepsen checker does:

* ``lost``: acknowledged by the send, never completed by a handler, not in the dead-letter queue;
* ``recovered``: send outcome unknown, but completed;
* ``unexpected``: delivered to a handler but never sent (or its send was refused);
* ``duplicated``: completed more than once (split into redeliveries of one message and copies
  that a retried send created under a new message id).

It also checks what queues promise beyond that: per-group FIFO order (no message of a group is
delivered before the earlier ones completed, and none comes back after a later one went out
without it), that no two invocations held one group at once, that one message never ran in two
invocations at once, that receive counts grow with every delivery, and (given the visibility
timeout) that nothing was redelivered before its lease could have ended. :func:`kill_impacts`
attributes duplicates and redeliveries to the ``kill -9``s a test made.

Everything here is pure Python over plain data, so ``test_checker.py`` can prove with crafted
histories that each violation is caught: a checker that cannot fail proves nothing.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SendStatus = Literal["ok", "unknown", "failed"]
#: how an invocation ended: ``ok`` (the handler returned), ``error`` (it raised), ``cancelled``
#: (the runtime cancelled it: timeout, grace period), ``None`` (no end recorded: killed)
Outcome = Literal["ok", "error", "cancelled"] | None


@dataclass(frozen=True, slots=True)
class Sent:
    """One message the sender tried to send, and what the send call said."""

    key: str  #: the sender's unique name for the message, carried in the body (``"k"``)
    status: SendStatus
    group: str | None = None
    seq: int | None = None  #: position within its group, in send order
    message_id: str | None = None
    time: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sent:
        return cls(
            key=str(data["k"]),
            status=data["status"],
            group=data.get("g"),
            seq=data.get("s"),
            message_id=data.get("id"),
            time=data.get("t"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.key,
            "status": self.status,
            "g": self.group,
            "s": self.seq,
            "id": self.message_id,
            "t": self.time,
        }


@dataclass(frozen=True, slots=True)
class Record:
    """One message as a handler received it."""

    key: str
    message_id: str
    receive_count: int
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """One handler invocation: its records in event order, its pid, when it ran, how it ended."""

    request_id: str
    pid: int
    records: tuple[Record, ...]
    start: float | None
    end: float | None = None
    outcome: Outcome = None

    @property
    def completed(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two invocations that held the same group (or the same message) at the same time."""

    subject: str  #: the group, or the message id
    first: str  #: request ids
    second: str
    seconds: float  #: how long they overlapped


@dataclass(frozen=True, slots=True)
class FifoViolation:
    kind: Literal["skipped_ahead", "regressed", "completed_out_of_order"]
    group: str
    seq: int
    request_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class CountRegression:
    """A message delivered again with a receive count that did not grow."""

    message_id: str
    previous: int
    count: int
    request_id: str


@dataclass(frozen=True, slots=True)
class EarlyRedelivery:
    """A message started again sooner after its previous start than its lease allows."""

    message_id: str
    gap: float
    request_id: str


@dataclass
class Report:
    """What :func:`check` found. ``problems()`` lists the violations that fail any test."""

    sent_ok: int = 0
    sent_unknown: int = 0
    sent_failed: int = 0
    invocations: int = 0
    deliveries: int = 0  #: records handed to handlers, counting every redelivery
    ok: set[str] = field(default_factory=set)  #: acknowledged and completed exactly once
    lost: set[str] = field(default_factory=set)
    recovered: set[str] = field(default_factory=set)
    unexpected: set[str] = field(default_factory=set)
    duplicated: dict[str, int] = field(default_factory=dict)  #: key -> completions (> 1)
    #: of ``duplicated``: key -> extra completions of one message id (redeliveries)
    redelivery_duplicates: dict[str, int] = field(default_factory=dict)
    #: of ``duplicated``: key -> completions under more than one message id (a retried send)
    send_duplicates: dict[str, int] = field(default_factory=dict)
    dead_lettered: set[str] = field(default_factory=set)
    #: of ``dead_lettered``: keys whose handler never started on them (the promise says never)
    dead_lettered_unrun: set[str] = field(default_factory=set)
    never_seen_unknown: set[str] = field(default_factory=set)  #: unknown sends never delivered
    redelivered: dict[str, list[int]] = field(default_factory=dict)  #: key -> receive counts seen
    count_regressions: list[CountRegression] = field(default_factory=list)
    fifo_violations: list[FifoViolation] = field(default_factory=list)
    group_overlaps: list[Overlap] = field(default_factory=list)
    message_overlaps: list[Overlap] = field(default_factory=list)
    early_redeliveries: list[EarlyRedelivery] = field(default_factory=list)
    #: started, never ended, and their process is not known to have died
    unfinished: list[Invocation] = field(default_factory=list)

    @property
    def duplicate_count(self) -> int:
        """Completions beyond the first, summed over messages."""
        return sum(n - 1 for n in self.duplicated.values())

    def problems(self) -> list[str]:
        """Violations no at-least-once queue may show. Duplicates and message overlaps are not
        among them (at-least-once allows both); tests bound those themselves."""
        out = []
        if self.lost:
            out.append(f"lost {len(self.lost)}: {sorted(self.lost)[:10]}")
        if self.unexpected:
            out.append(f"unexpected {len(self.unexpected)}: {sorted(self.unexpected)[:10]}")
        if self.dead_lettered_unrun:
            out.append(
                f"dead-lettered without their handler having started {len(self.dead_lettered_unrun)}: "
                f"{sorted(self.dead_lettered_unrun)[:10]}"
            )
        if self.fifo_violations:
            out.append(f"FIFO violations {len(self.fifo_violations)}: {self.fifo_violations[:5]}")
        if self.group_overlaps:
            out.append(f"group held twice at once {len(self.group_overlaps)}: {self.group_overlaps[:5]}")
        if self.count_regressions:
            out.append(
                f"receive count did not grow {len(self.count_regressions)}: {self.count_regressions[:5]}"
            )
        if self.early_redeliveries:
            out.append(f"redelivered before the lease ended: {self.early_redeliveries[:5]}")
        return out

    def summary(self) -> dict[str, Any]:
        """Figures for reports and assertion messages."""
        return {
            "sent_ok": self.sent_ok,
            "sent_unknown": self.sent_unknown,
            "sent_failed": self.sent_failed,
            "invocations": self.invocations,
            "deliveries": self.deliveries,
            "ok": len(self.ok),
            "lost": len(self.lost),
            "recovered": len(self.recovered),
            "unexpected": len(self.unexpected),
            "duplicated": len(self.duplicated),
            "duplicate_completions": self.duplicate_count,
            "send_duplicates": len(self.send_duplicates),
            "dead_lettered": len(self.dead_lettered),
            "dead_lettered_unrun": len(self.dead_lettered_unrun),
            "redelivered": len(self.redelivered),
            "fifo_violations": len(self.fifo_violations),
            "group_overlaps": len(self.group_overlaps),
            "message_overlaps": len(self.message_overlaps),
            "count_regressions": len(self.count_regressions),
            "early_redeliveries": len(self.early_redeliveries),
            "unfinished": len(self.unfinished),
        }


# -- reading the ledger --------------------------------------------------------------------------


def body_key(body: str) -> str:
    """The sender's key of a body: its JSON ``"k"``, or the body itself when it has none."""
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, dict) and "k" in value:
        return str(value["k"])
    return body


def invocations_from_ledger(
    lines: Iterable[Mapping[str, Any]], key_of: Callable[[str], str] = body_key
) -> list[Invocation]:
    """Invocations from ledger lines, in either of two formats.

    * Two-phase lines (``tests/reliability`` handlers): a ``"phase": "start"`` line when the
      handler begins and a ``"phase": "end"`` line with its ``"outcome"`` when it returns, raises
      or is cancelled, paired by request id and pid. A start without an end is an invocation that
      never finished (its process was killed).
    * One line per finished invocation (``tests/runtime/apps/ledger.py``): ``"time"`` is the end,
      ``"start"`` the start when recorded, ``"failed"`` says whether it raised.
    """
    starts: dict[tuple[str, int], Mapping[str, Any]] = {}
    ends: dict[tuple[str, int], Mapping[str, Any]] = {}
    single: list[Invocation] = []
    order: list[tuple[str, int]] = []
    for line in lines:
        phase = line.get("phase")
        ident = (str(line["request_id"]), int(line["pid"]))
        if phase == "start":
            if ident not in starts:
                order.append(ident)
            starts[ident] = line
        elif phase == "end":
            if ident not in starts and ident not in ends:
                order.append(ident)
            ends[ident] = line
        else:
            single.append(
                Invocation(
                    request_id=ident[0],
                    pid=ident[1],
                    records=_records(line, key_of),
                    start=line.get("start"),
                    end=line.get("time"),
                    outcome="error" if line.get("failed") else "ok",
                )
            )
    paired = []
    for ident in order:
        start, end = starts.get(ident), ends.get(ident)
        source = start if start is not None else end
        assert source is not None
        paired.append(
            Invocation(
                request_id=ident[0],
                pid=ident[1],
                records=_records(source, key_of),
                start=start["time"] if start is not None else None,
                end=end["time"] if end is not None else None,
                outcome=end.get("outcome", "ok") if end is not None else None,
            )
        )
    return paired + single


def _records(line: Mapping[str, Any], key_of: Callable[[str], str]) -> tuple[Record, ...]:
    groups = line.get("groups") or [None] * len(line["ids"])
    return tuple(
        Record(key_of(body), message_id, int(count), group)
        for message_id, body, count, group in zip(
            line["ids"], line["bodies"], line["counts"], groups, strict=True
        )
    )


# -- the check -----------------------------------------------------------------------------------


def check(
    sent: Iterable[Sent],
    invocations: Iterable[Invocation],
    *,
    dead_letters: Iterable[str] = (),
    deaths: Mapping[int, float] | None = None,
    fifo: bool = False,
    visibility_timeout: float | None = None,
    tolerance: float = 0.005,
    start_slack: float = 0.5,
) -> Report:
    """Classify every message and check the ordering and exclusivity rules.

    Args:
        sent: the sender's record. A key sent twice keeps its best status (ok > unknown > failed).
        invocations: what handlers saw (see :func:`invocations_from_ledger`).
        dead_letters: keys found in the dead-letter queue (not lost).
        deaths: pid -> time the test killed it; an invocation of that pid that never ended is
            taken to have ended then (a dead process holds nothing).
        fifo: check per-group order and group exclusivity (FIFO queues).
        visibility_timeout: when given, a message started again less than this long after its
            previous start (minus ``start_slack`` for the time between receive and start) is an
            early redelivery: its first lease could not have ended. Leave it out for tests that
            extend or shorten leases (heartbeats, retry back-off) or pause processes.
        tolerance: seconds of overlap forgiven (the handlers' clocks are one host's clock, but a
            line's time is taken a moment before or after the event it marks).
    """
    deaths = dict(deaths or {})
    invocations = list(invocations)
    report = Report(invocations=len(invocations))
    status: dict[str, Sent] = {}
    rank = {"ok": 2, "unknown": 1, "failed": 0}
    for item in sent:
        known = status.get(item.key)
        if known is None or rank[item.status] > rank[known.status]:
            status[item.key] = item
    report.sent_ok = sum(1 for s in status.values() if s.status == "ok")
    report.sent_unknown = sum(1 for s in status.values() if s.status == "unknown")
    report.sent_failed = sum(1 for s in status.values() if s.status == "failed")
    report.dead_lettered = set(dead_letters)

    completions: dict[str, list[str]] = defaultdict(list)  # key -> message ids of completions
    delivered: set[str] = set()
    for invocation in invocations:
        report.deliveries += len(invocation.records)
        for record in invocation.records:
            delivered.add(record.key)
            known = status.get(record.key)
            if known is None or known.status == "failed":
                report.unexpected.add(record.key)
            if invocation.completed:
                completions[record.key].append(record.message_id)
        if invocation.start is not None and invocation.end is None and invocation.pid not in deaths:
            report.unfinished.append(invocation)

    report.dead_lettered_unrun = report.dead_lettered - delivered
    for key, item in status.items():
        done = completions.get(key, [])
        if item.status == "ok" and not done and key not in report.dead_lettered:
            report.lost.add(key)
        elif item.status == "unknown" and done:
            report.recovered.add(key)
        elif item.status == "unknown" and key not in delivered:
            report.never_seen_unknown.add(key)
        if item.status == "ok" and len(done) == 1:
            report.ok.add(key)
    for key, ids in completions.items():
        if len(ids) > 1:
            report.duplicated[key] = len(ids)
            distinct = len(set(ids))
            if distinct > 1:
                report.send_duplicates[key] = distinct
            if len(ids) > distinct:
                report.redelivery_duplicates[key] = len(ids) - distinct

    spans = [(inv, _span(inv, deaths)) for inv in invocations]
    _check_messages(report, spans, visibility_timeout, tolerance, start_slack)
    if fifo:
        _check_groups(report, spans, tolerance)
        _check_fifo_order(report, status, spans)
    return report


def _span(invocation: Invocation, deaths: Mapping[int, float]) -> tuple[float, float] | None:
    """When the invocation held its records: start to end (or its process's death)."""
    if invocation.start is None:
        return None
    if invocation.end is not None:
        return invocation.start, invocation.end
    if invocation.pid in deaths:
        return invocation.start, max(invocation.start, deaths[invocation.pid])
    return invocation.start, math.inf


def _check_messages(
    report: Report,
    spans: list[tuple[Invocation, tuple[float, float] | None]],
    visibility_timeout: float | None,
    tolerance: float,
    start_slack: float,
) -> None:
    """Receive counts grow, one message never runs twice at once, no early redelivery."""
    by_message: dict[str, list[tuple[float, float, Invocation, Record]]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    for invocation, span in spans:
        for record in invocation.records:
            counts[record.key].append(record.receive_count)
            if span is not None:
                by_message[record.message_id].append((span[0], span[1], invocation, record))
    report.redelivered = {key: sorted(seen) for key, seen in counts.items() if len(seen) > 1}
    for message_id, runs in by_message.items():
        runs.sort(key=lambda run: (run[0], run[3].receive_count))
        for (start_a, end_a, inv_a, rec_a), (start_b, end_b, inv_b, rec_b) in itertools.pairwise(runs):
            if rec_b.receive_count <= rec_a.receive_count:
                report.count_regressions.append(
                    CountRegression(message_id, rec_a.receive_count, rec_b.receive_count, inv_b.request_id)
                )
            if start_b < end_a - tolerance:
                seconds = min(end_a, end_b) - start_b
                report.message_overlaps.append(
                    Overlap(message_id, inv_a.request_id, inv_b.request_id, seconds)
                )
            if visibility_timeout is not None and start_b - start_a < visibility_timeout - start_slack:
                report.early_redeliveries.append(
                    EarlyRedelivery(message_id, round(start_b - start_a, 4), inv_b.request_id)
                )


def _check_groups(
    report: Report, spans: list[tuple[Invocation, tuple[float, float] | None]], tolerance: float
) -> None:
    """No two invocations hold one message group at the same time (ESM-FIFO-3)."""
    by_group: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for invocation, span in spans:
        if span is None:
            continue
        for group in {r.group for r in invocation.records if r.group is not None}:
            by_group[group].append((span[0], span[1], invocation.request_id))
    for group, intervals in by_group.items():
        intervals.sort()
        holder_end, holder = intervals[0][1], intervals[0][2]
        for start, end, request_id in intervals[1:]:
            if start < holder_end - tolerance:
                report.group_overlaps.append(Overlap(group, holder, request_id, min(holder_end, end) - start))
            if end > holder_end:
                holder_end, holder = end, request_id


def _check_fifo_order(
    report: Report, status: Mapping[str, Sent], spans: list[tuple[Invocation, tuple[float, float] | None]]
) -> None:
    """Per group, in time order (ESM-FIFO-2, SQS-F-*):

    * ``skipped_ahead``: a message was delivered while an earlier message of its group (sent, not
      dead-lettered) had not yet completed and was not ahead of it in the same batch;
    * ``regressed``: a message came back after a later message of its group had been delivered
      without it (so it must have been deleted, and cannot come back);
    * ``completed_out_of_order``: first completions of a group's messages are not in send order.
    """
    seq_of = {key: s.seq for key, s in status.items() if s.group is not None and s.seq is not None}
    delivered_keys = {r.key for inv, _ in spans for r in inv.records}
    required: dict[str, list[int]] = defaultdict(list)
    for key, sent in status.items():
        if sent.group is None or sent.seq is None or key in report.dead_lettered:
            continue
        if sent.status == "ok" or (sent.status == "unknown" and key in delivered_keys):
            required[sent.group].append(sent.seq)
    for seqs in required.values():
        seqs.sort()

    events: list[tuple[float, int, int, Invocation]] = []  # (time, 0=end 1=start, index, inv)
    for index, (invocation, span) in enumerate(spans):
        if span is None:
            continue
        events.append((span[0], 1, index, invocation))
        if invocation.completed and math.isfinite(span[1]):
            events.append((span[1], 0, index, invocation))
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    done: dict[str, set[int]] = defaultdict(set)
    frontier: dict[str, int] = defaultdict(int)  # index into required[group] of the first not done
    passed_below: dict[str, int] = {}
    passed_holes: dict[str, set[int]] = defaultdict(set)
    last_completed: dict[str, int] = {}
    for _, kind, _, invocation in events:
        in_group: dict[str, list[int]] = defaultdict(list)
        for record in invocation.records:
            seq = seq_of.get(record.key)
            if record.group is not None and seq is not None:
                in_group[record.group].append(seq)
        for group, seqs in in_group.items():
            if kind == 0:  # a completion
                for seq in seqs:
                    if seq in done[group]:
                        continue
                    if group in last_completed and seq < last_completed[group]:
                        report.fifo_violations.append(
                            FifoViolation(
                                "completed_out_of_order",
                                group,
                                seq,
                                invocation.request_id,
                                f"first completed after seq {last_completed[group]}",
                            )
                        )
                    last_completed[group] = max(seq, last_completed.get(group, seq))
                    done[group].add(seq)
                continue
            needed = required.get(group, [])
            position = frontier[group]
            while position < len(needed) and needed[position] in done[group]:
                position += 1
            frontier[group] = position
            ahead: set[int] = set()  # earlier in this batch
            for seq in seqs:
                if seq < passed_below.get(group, -math.inf) or seq in passed_holes[group]:
                    report.fifo_violations.append(
                        FifoViolation(
                            "regressed",
                            group,
                            seq,
                            invocation.request_id,
                            "delivered again after a later message of its group went out without it",
                        )
                    )
                missing = _first_missing(needed, position, seq, done[group], ahead)
                if missing is not None:
                    report.fifo_violations.append(
                        FifoViolation(
                            "skipped_ahead",
                            group,
                            seq,
                            invocation.request_id,
                            f"delivered while seq {missing} of its group had not completed",
                        )
                    )
                ahead.add(seq)
            low, high = min(seqs), max(seqs)
            passed_below[group] = max(passed_below.get(group, low), low)
            passed_holes[group].update(
                s
                for s in needed[bisect.bisect_right(needed, low) : bisect.bisect_left(needed, high)]
                if s not in ahead
            )


def _first_missing(
    needed: Sequence[int], position: int, seq: int, done: set[int], ahead: set[int]
) -> int | None:
    for index in range(position, len(needed)):
        earlier = needed[index]
        if earlier >= seq:
            return None
        if earlier not in done and earlier not in ahead:
            return earlier
    return None


# -- kills -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kill:
    """A ``kill -9`` the test sent: which pid, and when (after the process was reaped)."""

    pid: int
    time: float


@dataclass
class KillImpact:
    """What one kill left behind."""

    kill: Kill
    #: keys the killed process was running (started, no end) when it died
    running: set[str] = field(default_factory=set)
    #: keys it had finished less than ``ack_grace`` before it died (the delete may not be done)
    settling: set[str] = field(default_factory=set)
    #: in-flight keys started again before the next kill -> seconds from this kill to that start
    redelivery_latency: dict[str, float] = field(default_factory=dict)
    #: in-flight keys started again only after a later kill (that worker may have received them
    #: and died before starting them), so their latency is not this kill's
    redelivered_after_later_kill: set[str] = field(default_factory=set)
    #: in-flight keys whose killed execution had completed and that were completed again
    duplicates: set[str] = field(default_factory=set)

    @property
    def in_flight(self) -> set[str]:
        return self.running | self.settling


@dataclass
class KillReport:
    impacts: list[KillImpact]
    #: duplicated keys no kill explains (their earlier completion was not in flight at a kill)
    unexplained_duplicates: set[str]
    #: later deliveries of a duplicated key with receive count < 2 (must be >= 2)
    low_count_duplicates: set[str]

    @property
    def in_flight_total(self) -> int:
        return sum(len(i.in_flight) for i in self.impacts)

    @property
    def duplicates_total(self) -> int:
        return sum(len(i.duplicates) for i in self.impacts)

    def latencies(self) -> list[float]:
        return sorted(v for i in self.impacts for v in i.redelivery_latency.values())

    def summary(self) -> dict[str, Any]:
        latencies = self.latencies()
        per_kill = [len(i.duplicates) for i in self.impacts]
        return {
            "kills": len(self.impacts),
            "running_at_kills": sum(len(i.running) for i in self.impacts),
            "settling_at_kills": sum(len(i.settling) for i in self.impacts),
            "duplicates_total": self.duplicates_total,
            "duplicates_per_kill_mean": round(statistics.fmean(per_kill), 2) if per_kill else 0.0,
            "duplicates_per_kill_max": max(per_kill, default=0),
            "redeliveries_timed": len(latencies),
            "redelivery_p50": round(_quantile(latencies, 0.5), 3) if latencies else None,
            "redelivery_p99": round(_quantile(latencies, 0.99), 3) if latencies else None,
            "redelivery_max": round(latencies[-1], 3) if latencies else None,
            "unexplained_duplicates": len(self.unexplained_duplicates),
        }


def kill_impacts(
    invocations: Iterable[Invocation], kills: Sequence[Kill], *, ack_grace: float = 0.5
) -> KillReport:
    """Attribute redeliveries and duplicates to kills (RELIABILITY T2).

    A message is in flight at a kill if the killed pid was running it, or had finished it less
    than ``ack_grace`` seconds before (the delete follows the handler's return within
    milliseconds; the grace only loosens the bound). Every duplicate must be explained by a kill
    that caught its earlier completion in flight, and every redelivered copy must carry a receive
    count of at least 2. A redelivery's latency is timed from the kill to the next start, when
    that start comes before the next kill.
    """
    invocations = sorted((i for i in invocations if i.start is not None), key=lambda i: i.start or 0.0)
    ordered = sorted(kills, key=lambda k: k.time)
    next_kill = {
        k.pid: (later.time if later else math.inf)
        for k, later in zip(ordered, [*ordered[1:], None], strict=True)
    }
    killed = {k.pid: k for k in kills}
    runs: dict[str, list[tuple[Invocation, Record]]] = defaultdict(list)
    for invocation in invocations:
        for record in invocation.records:
            runs[record.message_id].append((invocation, record))
    impacts = {k.pid: KillImpact(k) for k in kills}
    explained: set[str] = set()
    completed_keys: dict[str, int] = defaultdict(int)
    for invocation in invocations:
        if invocation.completed:
            for record in invocation.records:
                completed_keys[record.key] += 1
    low_counts: set[str] = set()
    for chain in runs.values():
        for index, (invocation, record) in enumerate(chain):
            if index > 0 and record.receive_count < 2:
                low_counts.add(record.key)
            kill = killed.get(invocation.pid)
            if kill is None or invocation.start is None or invocation.start > kill.time:
                continue
            impact = impacts[kill.pid]
            if invocation.end is None or invocation.end > kill.time:
                impact.running.add(record.key)
            elif invocation.end >= kill.time - ack_grace:
                impact.settling.add(record.key)
            else:
                continue
            later = [inv for inv, _ in chain[index + 1 :] if inv.start is not None and inv.start >= kill.time]
            if not later:
                continue
            first = later[0].start or 0.0
            if first < next_kill[kill.pid]:
                impact.redelivery_latency[record.key] = first - kill.time
            else:
                impact.redelivered_after_later_kill.add(record.key)
            if invocation.completed and any(inv.completed for inv in later):
                impact.duplicates.add(record.key)
                explained.add(record.key)
    duplicated = {key for key, n in completed_keys.items() if n > 1}
    return KillReport(
        impacts=[impacts[k.pid] for k in kills],
        unexplained_duplicates=duplicated - explained,
        low_count_duplicates=low_counts & duplicated,
    )


def _quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``values``."""
    index = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
    return values[index]


def quantile(values: Iterable[float], q: float) -> float:
    """Nearest-rank quantile (for reports)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return _quantile(ordered, q)

"""Build invocation batches the way Lambda's SQS poller does (ESM-B-*, FLT-2).

One :class:`Batcher` per poller (ESM-B-6). ``next_batch`` long-polls for a first message, then:

* with no batch window (0), returns what that receive gave (up to ``batch_size``; ESM-B-1);
* with a window, keeps receiving until the first of: ``batch_size`` records (cut ``count``), the
  window's end, counted from the first record (cut ``window``; exactly, without Lambda's 20-second
  low-traffic surprise of ESM-B-3), or the 6 MB invocation payload limit (cut ``payload``,
  ESM-B-4). Records that do not fit are carried over, already received, to the next batch; they
  are never dropped.

Each receive goes through the filter stage (:class:`~qworker.runtime.filtering.RecordMaker`)
before batching (FLT-2): records that match no pattern are handed on at once to the outcome stage
(``filtered``, which deletes or skips them) and never count towards the batch (FLT-3, FLT-4).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from qworker import events
from qworker.backend import Backend, ReceivedMessage
from qworker.runtime.filtering import Pair, RecordMaker

CutReason = Literal["count", "window", "payload", "available"]

#: a record's JSON is at most this much more than 6 bytes per character of its body and message
#: attributes (the escaping worst case) plus its receipt handle: the cheap bound that lets most
#: batches skip exact measuring.
_RECORD_OVERHEAD_BOUND = 4096


@dataclass(slots=True)
class Batch:
    """Records ready for one invocation, with the messages they came from."""

    messages: list[ReceivedMessage]
    records: list[dict[str, Any]]
    cut: CutReason
    opened: float  #: monotonic time of the first record


class FilteredSink(Protocol):
    """The next stage for records that matched no filter (:class:`~qworker.runtime.outcome.Settler`)."""

    def discard_filtered(self, messages: list[ReceivedMessage]) -> None: ...


@dataclass(slots=True)
class Batcher:
    """Receives messages, has them made into records and filtered, and cuts them into batches."""

    backend: Backend
    queue: str
    batch_size: int
    batch_window: float
    records: RecordMaker
    filtered: FilteredSink
    visibility_timeout: float | None = None  #: ESM-F-4 override, else the queue's
    payload_limit: int = events.MAX_EVENT_BYTES
    #: one receive may be split into several batches (standard queues, no window)
    split_receives: bool = True
    _carry: list[Pair] = field(default_factory=list)

    @property
    def carried(self) -> list[ReceivedMessage]:
        """Messages received but not yet in a batch (to release at shutdown)."""
        return [message for message, _ in self._carry]

    def take_carried(self) -> list[ReceivedMessage]:
        carried = self.carried
        self._carry.clear()
        return carried

    async def next_batch(self, wait: float) -> Batch | None:
        """The next batch, or ``None`` when nothing arrived within ``wait`` seconds.

        If cancelled, records received so far are kept for the next call (or for release).
        """
        picked: list[Pair] = self._carry
        self._carry = []
        opened = time.monotonic() if picked else 0.0
        cut: CutReason | None = None
        try:
            while cut is None:
                want = self.batch_size - len(picked)
                if want <= 0:
                    cut = "count"
                    break
                if not picked:
                    poll_wait = wait
                elif self.batch_window > 0:
                    poll_wait = opened + self.batch_window - time.monotonic()
                    if poll_wait <= 0:
                        cut = "window"
                        break
                else:
                    cut = "available"
                    break
                received = await self.backend.receive(
                    self.queue,
                    max_messages=want,
                    wait_seconds=poll_wait,
                    visibility_timeout=self.visibility_timeout,
                )
                if not received:
                    if not picked:
                        return None
                    continue
                if not picked:
                    opened = time.monotonic()
                picked, rest, payload_cut = self._fill(picked, self._filter(received))
                if payload_cut:
                    self._carry = rest
                    cut = "payload"
        except asyncio.CancelledError:
            self._carry = picked + self._carry
            raise
        return Batch([m for m, _ in picked], [r for _, r in picked], cut, opened)

    async def next_batches(self, wait: float, count: int) -> list[Batch]:
        """Up to ``count`` batches from one receive, for a poller holding ``count`` free slots.

        Only without a batch window (each batch then is "what one poll gave", ESM-B-1) and only
        on standard queues: on a FIFO queue one receive may return several messages of a group,
        which must stay in one batch to keep their order (ESM-FIFO-2). Otherwise this is
        :meth:`next_batch`. Every batch still has at most ``batch_size`` records and fits the
        payload limit; slots that get no batch are the caller's to release.
        """
        if count <= 1 or self.batch_window > 0 or not self.split_receives:
            batch = await self.next_batch(wait)
            return [] if batch is None else [batch]
        pending = self._carry
        self._carry = []
        try:
            received = await self.backend.receive(
                self.queue,
                max_messages=count * self.batch_size - len(pending),
                wait_seconds=0 if pending else wait,
                visibility_timeout=self.visibility_timeout,
            )
        except asyncio.CancelledError:
            self._carry = pending
            raise
        pending = pending + self._filter(received)
        opened = time.monotonic()
        batches: list[Batch] = []
        while pending and len(batches) < count:
            picked, pending, payload_cut = self._fill([], pending)
            cut: CutReason = (
                "payload" if payload_cut else "count" if len(picked) == self.batch_size else "available"
            )
            batches.append(Batch([m for m, _ in picked], [r for _, r in picked], cut, opened))
        self._carry = pending
        return batches

    def _fill(
        self,
        picked: list[Pair],
        candidates: list[Pair],
    ) -> tuple[list[Pair], list[Pair], bool]:
        """Add candidates to ``picked`` up to ``batch_size`` records and the payload limit
        (ESM-B-4). Returns the batch, the candidates left over, and whether the payload cut it.

        Sizes are bounded cheaply first; only a batch whose bound passes the limit is measured
        exactly, record by record."""
        room = self.batch_size - len(picked)
        bound = 0
        for message, _ in picked:
            bound += _size_bound(message)
        meter: events.PayloadMeter | None = None
        for index, (message, record) in enumerate(candidates):
            if index >= room:
                return picked, candidates[index:], False
            if meter is None:
                bound += _size_bound(message)
                if bound > self.payload_limit:
                    meter = events.PayloadMeter(self.payload_limit)
                    for _, earlier in picked:
                        meter.add(events.record_size(earlier))
            if meter is not None:
                size = events.record_size(record)
                if not meter.fits(size):
                    return picked, candidates[index:], True
                meter.add(size)
            picked.append((message, record))
        return picked, [], False

    def _filter(self, received: list[ReceivedMessage]) -> list[Pair]:
        kept, dropped = self.records.split(received)
        if dropped:
            self.filtered.discard_filtered(dropped)
        return kept


def _size_bound(message: ReceivedMessage) -> int:
    chars = len(message.body)
    if not message.message_attributes:
        return 6 * chars + len(message.receipt_handle) + _RECORD_OVERHEAD_BOUND
    for name, value in message.message_attributes.items():
        chars += len(name) + len(value.data_type)
        if value.string_value is not None:
            chars += len(value.string_value)
        if value.binary_value is not None:
            chars += len(value.binary_value) * 2  # base64 is 4/3 of the bytes; escaping adds none
    return 6 * chars + len(message.receipt_handle) + _RECORD_OVERHEAD_BOUND

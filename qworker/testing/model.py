"""A small in-memory reference implementation of the backend protocol.

It is written to be obviously right rather than fast: plain lists and dicts, linear scans, one
rule per method. It serves three purposes:

* the reference model that stateful (hypothesis) tests compare real backends against;
* the base of the deliberately broken backends that prove the conformance suite catches bugs
  (its decisions are small overridable methods: ``is_current_holder``, ``group_is_locked``,
  ``should_dead_letter``, ...);
* a worked example for authors of third-party backends.

It is one process only and keeps nothing on disk; it is not registered as a URL scheme. Two
objects can share one store (``ModelBackend(share_with=other)``): that is how the conformance
suite checks that a change made through one client is seen by another.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qworker import arn, digest, limits
from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    BaseBackend,
    BatchEntryError,
    Capabilities,
    FailureNote,
    MessageAttributeValue,
    MessageState,
    PeekedMessage,
    QuarantinedMessage,
    QuarantineTally,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    SendResult,
    VisibilityChange,
    system_attributes,
)
from qworker.errors import (
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
)
from qworker.quarantine import Readable, check_destination, plan_restore

_POLL_INTERVAL = 0.005


@dataclass
class StoredMessage:
    """One message as the model keeps it."""

    seq: int
    message_id: str
    body: str
    md5_of_body: str
    message_attributes: dict[str, MessageAttributeValue]
    md5_of_message_attributes: str | None
    sent_ms: int
    visible_at_ms: int
    expires_ms: int
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    trace_header: str | None = None
    dead_letter_source_arn: str | None = None
    receive_count: int = 0
    first_receive_ms: int | None = None
    received_at_ms: int | None = None
    token: str | None = None  #: the current receipt token; None until first received
    last_error: str | None = None
    #: what the model pretends it cannot decode (a test's :meth:`ModelBackend.corrupt`):
    #: ``"attributes"`` or ``"body"``; such a message is quarantined instead of delivered
    corrupt: str | None = None

    def state(self, now_ms: int) -> MessageState:
        if self.visible_at_ms <= now_ms:
            return "visible"
        return "in_flight" if self.receive_count > 0 else "delayed"


@dataclass
class ModelQueue:
    """A queue: its spec and its messages in send order."""

    spec: QueueSpec
    number: int
    created: int
    modified: int
    messages: list[StoredMessage] = field(default_factory=list)
    dedup: dict[tuple[str, str], tuple[str, str | None, int]] = field(default_factory=dict)
    sequence: int = 0
    #: messages set aside (T16): (message, reason, epoch ms), oldest first
    quarantine: list[tuple[StoredMessage, str, int]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    purged_ms: int | None = None  #: when it was last purged (one purge every 60 s)


#: the reason the model gives for each kind of pretended corruption
CORRUPTION_REASONS = {"attributes": "bad-attributes:model", "body": "not-utf8:body"}


class ModelBackend(BaseBackend):
    """The in-memory reference backend. ``clock`` returns epoch seconds (tests move it).

    It stores Python objects, so nothing can fail to decode; a test makes a message
    "undecodable" with :meth:`corrupt` to check the quarantine's rules (T16).
    """

    capabilities = Capabilities(delete_by_id=True, quarantine=True)

    def __init__(
        self, clock: Callable[[], float] = time.time, *, share_with: ModelBackend | None = None
    ) -> None:
        self.clock = clock
        if share_with is not None:  # another client of the same store
            self.queues = share_with.queues
            self.records = share_with.records
            self._numbers = share_with._numbers
            self._seqs = share_with._seqs
            return
        self.queues: dict[str, ModelQueue] = {}
        #: kind -> key -> (JSON text, expiry in epoch ms or None)
        self.records: dict[str, dict[str, tuple[str, int | None]]] = {}
        self._numbers = itertools.count(1)
        self._seqs = itertools.count(1)
        self.quarantine_tally = QuarantineTally()

    @classmethod
    def from_url(cls, url: str) -> ModelBackend:
        return cls()

    @property
    def display_url(self) -> str:
        return "model://"

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- queues ---------------------------------------------------------------------------------

    def _queue(self, name: str) -> ModelQueue:
        try:
            return self.queues[name]
        except KeyError:
            raise QueueDoesNotExist(name) from None

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        limits.validate_queue_spec(spec)
        initial = limits.check_tags(tags or {})
        existing = self.queues.get(spec.name)
        if existing is not None:
            if existing.spec != spec:
                raise QueueNameExists(
                    f"A queue named {spec.name!r} already exists with different attributes."
                )
            return  # tags are given at creation only
        self._check_dead_letter_queue(spec)
        now = int(self.clock())
        self.queues[spec.name] = ModelQueue(spec, next(self._numbers), now, now, tags=initial)

    def _check_dead_letter_queue(self, spec: QueueSpec) -> None:
        """ESM-DLQ-3: the dead-letter queue exists (its type was checked with the spec)."""
        if spec.redrive_policy is not None and spec.redrive_policy.dead_letter_queue not in self.queues:
            raise InvalidParameterValue(
                f"Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist: "
                f"{spec.redrive_policy.dead_letter_queue!r}."
            )

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        limits.check_spec_change(queue, spec)
        q = self._queue(queue)
        self._check_dead_letter_queue(spec)
        # Retention counts from each message's enqueue time with the queue's current period
        # (SQS: a shorter period also expires messages already in the queue).
        shift = (spec.message_retention_period - q.spec.message_retention_period) * 1000
        if shift:
            for message in q.messages:
                message.expires_ms += shift
        q.spec = spec
        q.modified = int(self.clock())

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        q = self._queue(queue)
        q.tags = limits.check_tags(tags, q.tags)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        q = self._queue(queue)
        for key in limits.check_tag_keys(keys):
            q.tags.pop(key, None)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        return dict(self._queue(queue).tags)

    async def get_queue(self, queue: str) -> QueueInfo:
        q = self._queue(queue)
        now = self.now_ms()
        self._expire(q, now)
        states = [m.state(now) for m in q.messages]
        counts = QueueCounts(
            states.count("visible"), states.count("in_flight"), states.count("delayed"), len(q.quarantine)
        )
        return QueueInfo(q.spec, counts, self.queue_arn(queue), q.created, q.modified)

    async def list_queues(self, prefix: str = "") -> list[str]:
        return sorted(name for name in self.queues if name.startswith(prefix))

    async def purge_queue(self, queue: str) -> None:
        q = self._queue(queue)
        now = self.now_ms()
        interval = limits.PURGE_INTERVAL_SECONDS * 1000
        if q.purged_ms is not None and now - q.purged_ms < interval:
            raise PurgeQueueInProgress(queue, (q.purged_ms + interval - now) / 1000)
        q.purged_ms = now
        q.messages.clear()
        q.quarantine.clear()

    async def delete_queue(self, queue: str) -> None:
        self._queue(queue)
        del self.queues[queue]

    # -- send -----------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        q = self._queue(queue)
        ids = limits.entry_ids(list(entries))
        now = self.now_ms()
        ok: list[SendResult] = []
        failed: list[BatchEntryError] = []
        for entry_id, entry in zip(ids, entries, strict=True):
            error = limits.check_send_entry(entry, entry_id, q.spec)
            if error is not None:
                failed.append(error)
            else:
                ok.append(self._enqueue(q, entry, entry_id, now))
        return SendBatchResult(ok, failed)

    def _enqueue(self, q: ModelQueue, entry: SendEntry, entry_id: str, now: int) -> SendResult:
        spec = q.spec
        md5_body = digest.md5_of_body(entry.body)
        attrs = dict(entry.message_attributes)
        md5_attrs = digest.md5_of_message_attributes(attrs)
        dedup_id = None
        if spec.fifo:
            dedup_id = entry.message_deduplication_id or digest.content_deduplication_id(entry.body)
            scope = entry.message_group_id if spec.deduplication_scope == "messageGroup" else ""
            key = (scope or "", dedup_id)
            q.dedup = {k: v for k, v in q.dedup.items() if v[2] > now}
            if key in q.dedup:
                message_id, sequence_number, _ = q.dedup[key]
                return SendResult(entry_id, message_id, md5_body, md5_attrs, sequence_number)
        delay = spec.delay_seconds if entry.delay_seconds is None else entry.delay_seconds
        message = StoredMessage(
            seq=next(self._seqs),
            message_id=str(uuid.uuid4()),
            body=entry.body,
            md5_of_body=md5_body,
            message_attributes=attrs,
            md5_of_message_attributes=md5_attrs,
            sent_ms=now,
            visible_at_ms=now + delay * 1000,
            expires_ms=now + spec.message_retention_period * 1000,
            group_id=entry.message_group_id,
            dedup_id=dedup_id,
            trace_header=entry.trace_header,
        )
        if spec.fifo:
            q.sequence += 1
            message.sequence_number = f"{q.sequence:020d}"
            q.dedup[key] = (
                message.message_id,
                message.sequence_number,
                now + limits.DEDUPLICATION_WINDOW_SECONDS * 1000,
            )
        q.messages.append(message)
        return SendResult(entry_id, message.message_id, md5_body, md5_attrs, message.sequence_number)

    # -- receive --------------------------------------------------------------------------------

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        q = self._queue(queue)
        limits.check_max_messages(max_messages)
        if visibility_timeout is not None and (error := limits.check_visibility_timeout(visibility_timeout)):
            raise InvalidParameterValue(error)
        wait = q.spec.receive_wait_time_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + wait
        while True:
            q = self._queue(queue)
            received = self._receive_now(q, max_messages, visibility_timeout)
            if received or time.monotonic() >= deadline:
                return received
            await asyncio.sleep(min(_POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def _receive_now(
        self, q: ModelQueue, max_messages: int, visibility: float | None
    ) -> list[ReceivedMessage]:
        now = self.now_ms()
        self._expire(q, now)
        timeout = q.spec.visibility_timeout if visibility is None else visibility
        received: list[ReceivedMessage] = []
        for message in self.candidates(q, now):
            if len(received) >= max_messages:
                break
            if self.should_dead_letter(q, message):
                self._move_to_dead_letter_queue(q, message, now)
                continue
            if message.corrupt is not None:  # T16: set aside; the receive goes on with the others
                self._set_aside(q, message, now)
                continue
            received.append(self._deliver(q, message, now, timeout))
        return received

    def _set_aside(self, q: ModelQueue, message: StoredMessage, now: int) -> None:
        q.messages.remove(message)
        q.quarantine.append((message, CORRUPTION_REASONS[message.corrupt or "body"], now))
        self.quarantine_tally.add(q.spec.name)

    def candidates(self, q: ModelQueue, now: int) -> list[StoredMessage]:
        """Messages a receive may return now, in the order it should return them."""
        if not q.spec.fifo:
            visible = [m for m in q.messages if m.visible_at_ms <= now]
            return sorted(visible, key=lambda m: (m.visible_at_ms, m.seq))
        groups: dict[str, list[StoredMessage]] = {}
        for message in q.messages:  # send order
            groups.setdefault(message.group_id or "", []).append(message)
        result: list[StoredMessage] = []
        for members in groups.values():  # oldest head first (see Backend.receive)
            if self.group_is_locked(members, now):
                continue
            for message in members:
                state = message.state(now)
                if state == "delayed":  # a delayed message stops its group (order is kept)
                    break
                if state == "visible":  # (in-flight ones only exist here when the lock is broken)
                    result.append(message)
        return result

    def group_is_locked(self, members: list[StoredMessage], now: int) -> bool:
        """SQS-F-2: a group is locked while any of its messages is in flight."""
        return any(m.state(now) == "in_flight" for m in members)

    def should_dead_letter(self, q: ModelQueue, message: StoredMessage) -> bool:
        """ESM-DLQ-2: move on the receive that would exceed maxReceiveCount."""
        policy = q.spec.redrive_policy
        return policy is not None and message.receive_count >= policy.max_receive_count

    def _deliver(self, q: ModelQueue, message: StoredMessage, now: int, timeout: float) -> ReceivedMessage:
        message.receive_count += 1
        if message.first_receive_ms is None:
            message.first_receive_ms = now
        message.received_at_ms = now
        message.visible_at_ms = now + self.visibility_ms(timeout)
        message.token = secrets.token_hex(8)
        return ReceivedMessage(
            message_id=message.message_id,
            receipt_handle=self._handle(q, message),
            body=message.body,
            md5_of_body=message.md5_of_body,
            attributes=self.system_attributes_of(message),
            message_attributes=self.stored_attributes(message),
            md5_of_message_attributes=message.md5_of_message_attributes,
        )

    def visibility_ms(self, timeout: float) -> int:
        return round(timeout * 1000)

    def stored_attributes(self, message: StoredMessage) -> dict[str, MessageAttributeValue]:
        return dict(message.message_attributes)

    def system_attributes_of(self, message: StoredMessage) -> dict[str, str]:
        return system_attributes(
            receive_count=message.receive_count,
            sent_ms=message.sent_ms,
            first_receive_ms=message.first_receive_ms or 0,
            sender_id=arn.account_id(),
            sequence_number=message.sequence_number,
            group_id=message.group_id,
            dedup_id=message.dedup_id,
            trace_header=message.trace_header,
            dead_letter_source_arn=message.dead_letter_source_arn,
        )

    def _move_to_dead_letter_queue(self, q: ModelQueue, message: StoredMessage, now: int) -> None:
        policy = q.spec.redrive_policy
        assert policy is not None
        dlq = self._queue(policy.dead_letter_queue)
        q.messages.remove(message)
        message.dead_letter_source_arn = self.queue_arn(q.spec.name)
        message.visible_at_ms = now
        message.token = None
        # ESM-DLQ-4: standard queues keep the original enqueue time, FIFO queues reset it.
        enqueued = now if dlq.spec.fifo else message.sent_ms
        message.expires_ms = enqueued + dlq.spec.message_retention_period * 1000
        if dlq.spec.fifo:
            message.dedup_id = message.message_id
        dlq.messages.append(message)

    def _expire(self, q: ModelQueue, now: int) -> None:
        q.messages = [m for m in q.messages if m.expires_ms > now]

    # -- receipt handles ------------------------------------------------------------------------

    def _handle(self, q: ModelQueue, message: StoredMessage) -> str:
        raw = f"{q.number}:{message.message_id}:{message.token}".encode()
        return base64.urlsafe_b64encode(raw).decode()

    def _parse_handle(self, q: ModelQueue, handle: str) -> tuple[str, str] | None:
        try:
            number, message_id, token = base64.urlsafe_b64decode(handle.encode()).decode().split(":")
        except (binascii.Error, UnicodeError, ValueError):
            return None
        if number != str(q.number):
            return None
        return message_id, token

    def _find(self, q: ModelQueue, message_id: str) -> StoredMessage | None:
        return next((m for m in q.messages if m.message_id == message_id), None)

    def is_current_holder(self, message: StoredMessage, token: str) -> bool:
        """ESM-F-6: only the latest receipt handle acts on the message."""
        return message.token == token

    # -- delete / change visibility -------------------------------------------------------------

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        q = self._queue(queue)
        self._expire(q, self.now_ms())
        failed: list[BatchEntryError] = []
        for handle in receipt_handles:
            parsed = self._parse_handle(q, handle)
            if parsed is None:
                failed.append(
                    BatchEntryError(handle, "ReceiptHandleIsInvalid", "The receipt handle is not valid.")
                )
                continue
            message = self._find(q, parsed[0])
            if message is None:
                continue
            if not self.is_current_holder(message, parsed[1]):
                failed.append(
                    BatchEntryError(
                        handle,
                        "ReceiptHandleIsStale",
                        "The message was received again since this receipt handle was issued.",
                    )
                )
                continue
            q.messages.remove(message)
        return failed

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        q = self._queue(queue)
        now = self.now_ms()
        self._expire(q, now)
        failed: list[BatchEntryError] = []
        for change in changes:
            handle = change.receipt_handle
            parsed = self._parse_handle(q, handle)
            if parsed is None:
                failed.append(
                    BatchEntryError(handle, "ReceiptHandleIsInvalid", "The receipt handle is not valid.")
                )
                continue
            error = limits.check_visibility_timeout(change.visibility_timeout)
            if error is not None:
                failed.append(BatchEntryError(handle, "InvalidParameterValue", error))
                continue
            message = self._find(q, parsed[0])
            if (
                message is None
                or not self.is_current_holder(message, parsed[1])
                or message.state(now) != "in_flight"
            ):
                failed.append(BatchEntryError(handle, "MessageNotInflight", "The message is not in flight."))
                continue
            new_deadline = now + self.visibility_ms(change.visibility_timeout)
            assert message.received_at_ms is not None
            if new_deadline - message.received_at_ms > limits.MAX_VISIBILITY_TIMEOUT * 1000:
                failed.append(
                    BatchEntryError(
                        handle,
                        "InvalidParameterValue",
                        "Value for parameter VisibilityTimeout is invalid. Reason: Total "
                        "VisibilityTimeout for the message is beyond the limit [43200 seconds]",
                    )
                )
                continue
            message.visible_at_ms = new_deadline
        return failed

    # -- redrive, peek, failure notes ------------------------------------------------------------

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        dlq = self._queue(dead_letter_queue)
        if destination is not None:
            target = self._queue(destination)
            if target.spec.fifo != dlq.spec.fifo:
                raise InvalidParameterValue(
                    "The destination queue must be of the same type as the dead-letter queue."
                )
            if destination == dead_letter_queue:
                raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
        now = self.now_ms()
        self._expire(dlq, now)
        batch = [m for m in dlq.messages if m.visible_at_ms <= now]
        moved = failed = 0
        started = time.monotonic()
        for index, message in enumerate(batch):
            if max_per_second:
                await asyncio.sleep(max(0.0, started + index / max_per_second - time.monotonic()))
            source = message.dead_letter_source_arn
            name = destination or (arn.queue_name_from_arn(source) if source else None)
            target = self.queues.get(name) if name else None
            if message.corrupt is not None and message in dlq.messages:
                self._set_aside(dlq, message, self.now_ms())
                failed += 1
                continue
            if target is None or message not in dlq.messages:
                failed += 1
                continue
            dlq.messages.remove(message)
            now = self.now_ms()
            fresh = replace(
                message,
                seq=next(self._seqs),
                message_id=str(uuid.uuid4()),
                sent_ms=now,
                visible_at_ms=now,
                expires_ms=now + target.spec.message_retention_period * 1000,
                dead_letter_source_arn=None,
                receive_count=0,
                first_receive_ms=None,
                received_at_ms=None,
                token=None,
                last_error=None,
            )
            if target.spec.fifo:
                target.sequence += 1
                fresh.sequence_number = f"{target.sequence:020d}"
            target.messages.append(fresh)
            moved += 1
        return RedriveResult(moved, failed)

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        q = self._queue(queue)
        now = self.now_ms()
        self._expire(q, now)
        return [self._peeked(m, now) for m in q.messages[:max_messages]]

    def _peeked(self, m: StoredMessage, now: int) -> PeekedMessage:
        if m.corrupt is not None:
            reason = CORRUPTION_REASONS[m.corrupt]
            return PeekedMessage(
                message_id=m.message_id,
                body="",
                attributes={"SentTimestamp": str(m.sent_ms)},
                message_attributes={},
                state=m.state(now),
                visible_at=m.visible_at_ms,
                last_error=f"corrupt message ({reason}); it will be quarantined when received",
            )
        return PeekedMessage(
            message_id=m.message_id,
            body=m.body,
            attributes=self.system_attributes_of(m),
            message_attributes=dict(m.message_attributes),
            state=m.state(now),
            visible_at=m.visible_at_ms,
            last_error=m.last_error,
        )

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        q = self._queue(queue)
        for note in notes:
            parsed = self._parse_handle(q, note.receipt_handle)
            if parsed is None:
                continue
            message = self._find(q, parsed[0])
            if message is not None and self.is_current_holder(message, parsed[1]):
                message.last_error = note.error

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        q = self._queue(queue)
        wanted = set(message_ids)
        deleted = [m.message_id for m in q.messages if m.message_id in wanted]
        q.messages = [m for m in q.messages if m.message_id not in wanted]
        return deleted

    # -- quarantine (T16) -----------------------------------------------------------------------

    def corrupt(self, queue: str, message_id: str, part: str = "attributes") -> None:
        """Test hook: make a stored message undecodable (``part``: ``"attributes"`` or ``"body"``)."""
        if part not in CORRUPTION_REASONS:
            raise ValueError(f"part must be one of {sorted(CORRUPTION_REASONS)}, not {part!r}")
        message = self._find(self._queue(queue), message_id)
        if message is None:
            raise KeyError(message_id)
        message.corrupt = part

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        limits.check_max_messages(max_messages)
        out = []
        for message, reason, at in self._queue(queue).quarantine[:max_messages]:
            raw = message.body.encode()
            out.append(
                QuarantinedMessage(message.message_id, reason, at, raw[:QUARANTINE_PREVIEW_BYTES], len(raw))
            )
        return out

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        q = self._queue(queue)
        target = self._queue(destination) if destination is not None else q
        check_destination(q.spec, target.spec)
        failed: list[BatchEntryError] = []
        now = self.now_ms()
        for message_id in dict.fromkeys(message_ids):
            found = next((item for item in q.quarantine if item[0].message_id == message_id), None)
            if found is None:
                failed.append(
                    BatchEntryError(
                        message_id,
                        QUARANTINE_NOT_FOUND,
                        f"No message {message_id!r} in the quarantine of {queue!r}.",
                    )
                )
                continue
            message = found[0]
            plan = plan_restore(q.spec, target.spec, message_id, self._readable(message), body_only)
            if isinstance(plan, BatchEntryError):
                failed.append(plan)
                continue
            q.quarantine.remove(found)
            entry = plan.entry
            fresh = StoredMessage(
                seq=next(self._seqs),
                message_id=plan.message_id,
                body=entry.body,
                md5_of_body=digest.md5_of_body(entry.body),
                message_attributes=dict(entry.message_attributes),
                md5_of_message_attributes=digest.md5_of_message_attributes(dict(entry.message_attributes)),
                sent_ms=now,
                visible_at_ms=now,
                expires_ms=now + target.spec.message_retention_period * 1000,
                group_id=entry.message_group_id,
                dedup_id=entry.message_deduplication_id,
                trace_header=entry.trace_header,
                dead_letter_source_arn=self.queue_arn(plan.dead_letter_source)
                if plan.dead_letter_source
                else None,
            )
            if target.spec.fifo:
                target.sequence += 1
                fresh.sequence_number = f"{target.sequence:020d}"
            target.messages.append(fresh)
        return failed

    def _readable(self, message: StoredMessage) -> Readable:
        source = message.dead_letter_source_arn
        name = arn.queue_name_from_arn(source) if source else None
        if message.corrupt is None:
            return Readable(
                None,
                message.body,
                message.message_id,
                dict(message.message_attributes),
                message.group_id,
                message.dedup_id,
                message.trace_header,
                name,
            )
        reason = CORRUPTION_REASONS[message.corrupt]
        body = message.body if message.corrupt == "attributes" else None
        return Readable(reason, body, message.message_id, None, message.group_id, None, None, name)

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        q = self._queue(queue)
        before = len(q.quarantine)
        if message_ids is None:
            q.quarantine.clear()
        else:
            wanted = set(message_ids)
            q.quarantine = [item for item in q.quarantine if item[0].message_id not in wanted]
        return before - len(q.quarantine)

    # -- the shared record store ----------------------------------------------------------------

    def _live_records(self, kind: str) -> dict[str, tuple[str, int | None]]:
        now = self.now_ms()
        records = self.records.setdefault(kind, {})
        for key in [k for k, (_, expires) in records.items() if expires is not None and expires <= now]:
            del records[key]
        return records

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        text = limits.check_record(kind, key, value, ttl_seconds)
        expires = None if ttl_seconds is None else self.now_ms() + round(ttl_seconds * 1000)
        self._live_records(kind)[key] = (text, expires)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        limits.check_record(kind, key)
        found = self._live_records(kind).get(key)
        return None if found is None else json.loads(found[0])

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        limits.check_record(kind, "-")
        return {key: json.loads(text) for key, (text, _) in self._live_records(kind).items()}

    async def delete_record(self, kind: str, key: str) -> bool:
        limits.check_record(kind, key)
        return self._live_records(kind).pop(key, None) is not None

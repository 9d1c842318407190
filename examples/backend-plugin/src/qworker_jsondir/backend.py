"""JsonDirBackend: SQS semantics on a directory of JSON files, one per queue.

A deliberately plain third-party backend: each method locks the directory, loads the queue file,
applies SQS's rules to a list of messages and saves the file (:mod:`qworker_jsondir.files`).
Validation, MD5 digests and ARNs come from qworker itself (``qworker.limits``, ``qworker.digest``,
``qworker.arn``), so the errors are SQS's, word for word, as on qworker's own backends.

What it leaves out, and says so through :class:`~qworker.backend.Capabilities`: the shared record
store, failure notes, deletes by message id and the quarantine (JSON it wrote itself is all it
reads). Its long poll looks at the queue file's identity every ``poll_interval`` seconds and
reads the file again only when it changed or a hidden message's time has come.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from qworker import arn, digest, limits
from qworker.backend import (
    BaseBackend,
    BatchEntryError,
    Capabilities,
    PeekedMessage,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    SendResult,
    VisibilityChange,
)
from qworker.errors import (
    BackendUnavailable,
    ConfigError,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
)
from qworker.safe_receive import GiveBacks

from qworker_jsondir.files import Directory, Message, Queue
from qworker_jsondir.rules import candidates, holder, shown_attributes

T = TypeVar("T")


class JsonDirBackend(BaseBackend):
    """The ``jsondir://PATH`` backend: ``jsondir:///var/lib/queues`` (absolute) or
    ``jsondir://queues`` (relative to the current directory). ``clock`` returns epoch seconds;
    the conformance suite moves it."""

    capabilities = Capabilities(records=False, records_failures=False)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.02,
    ) -> None:
        self.dir = Directory(path)
        self.clock = clock
        self.poll_interval = poll_interval
        self.give_backs = GiveBacks()  #: receives cancelled while taking messages, giving them back

    @classmethod
    def from_url(cls, url: str) -> JsonDirBackend:
        scheme, sep, path = url.partition("://")
        if scheme.lower() != "jsondir" or not sep or not path:
            raise ConfigError(
                f"Invalid jsondir URL {url!r}: expected jsondir:///ABSOLUTE/DIR or jsondir://DIR"
            )
        return cls(path)

    @property
    def display_url(self) -> str:
        return f"jsondir://{self.dir.path}"

    def reopened(self) -> JsonDirBackend:
        """Another client of the same directory (the visibility heartbeat's, in its own thread)."""
        return type(self)(self.dir.path, clock=self.clock, poll_interval=self.poll_interval)

    async def connect(self) -> None:
        try:
            await asyncio.to_thread(self.dir.ensure)
        except OSError as exc:
            raise BackendUnavailable(f"Cannot use {self.display_url}: {exc}") from None

    async def close(self) -> None:
        await self.give_backs.wait()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _locked(self, operation: Callable[..., T], *args: Any) -> T:
        """Run ``operation(*args)`` in a worker thread while holding the directory's lock."""

        def run() -> T:
            with self.dir.locked():
                return operation(*args)

        return await asyncio.to_thread(run)

    def _load(self, name: str) -> Queue:
        queue = self.dir.load(name)
        if queue is None:
            raise QueueDoesNotExist(name)
        queue.messages = [m for m in queue.messages if m.expires_ms > self._now_ms()]  # SQS-L-3
        return queue

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        limits.validate_queue_spec(spec)
        initial = limits.check_tags(tags or {})
        await self._locked(self._create, spec, initial)

    def _create(self, spec: QueueSpec, tags: dict[str, str]) -> None:
        existing = self.dir.load(spec.name)
        if existing is not None:
            if existing.spec != spec:
                raise QueueNameExists(
                    f"A queue named {spec.name!r} already exists with different attributes."
                )
            return
        self._check_dead_letter_queue(spec)
        now = int(self.clock())
        self.dir.save(Queue(spec, uuid.uuid4().hex, now, now, tags=tags))

    def _check_dead_letter_queue(self, spec: QueueSpec) -> None:
        policy = spec.redrive_policy
        if policy is not None and self.dir.load(policy.dead_letter_queue) is None:
            raise InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist: "
                f"{policy.dead_letter_queue!r}."
            )

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        limits.check_spec_change(queue, spec)
        await self._locked(self._set_attributes, queue, spec)

    def _set_attributes(self, name: str, spec: QueueSpec) -> None:
        q = self._load(name)
        self._check_dead_letter_queue(spec)
        shift = (spec.message_retention_period - q.spec.message_retention_period) * 1000
        for message in q.messages:  # retention counts from each message's enqueue time
            message.expires_ms += shift
        q.spec, q.modified = spec, int(self.clock())
        self.dir.save(q)

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        def tag(q: Queue) -> None:
            q.tags = limits.check_tags(tags, q.tags)

        await self._locked(self._update, queue, tag)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        def untag(q: Queue) -> None:
            for key in limits.check_tag_keys(keys):
                q.tags.pop(key, None)

        await self._locked(self._update, queue, untag)

    def _update(self, name: str, change: Callable[[Queue], None]) -> None:
        q = self._load(name)
        change(q)
        self.dir.save(q)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        return (await self._locked(self._load, queue)).tags

    async def get_queue(self, queue: str) -> QueueInfo:
        q = await self._locked(self._load, queue)
        now = self._now_ms()
        in_flight = sum(m.in_flight(now) for m in q.messages)
        delayed = sum(m.hidden(now) and not m.receive_count for m in q.messages)
        counts = QueueCounts(len(q.messages) - in_flight - delayed, in_flight, delayed)
        return QueueInfo(q.spec, counts, self.queue_arn(queue), q.created, q.modified)

    async def list_queues(self, prefix: str = "") -> list[str]:
        names = await self._locked(self.dir.names)
        return [name for name in names if name.startswith(prefix)]

    async def purge_queue(self, queue: str) -> None:
        def purge(q: Queue) -> None:
            now, interval = self._now_ms(), limits.PURGE_INTERVAL_SECONDS * 1000
            if q.purged_ms is not None and now - q.purged_ms < interval:
                raise PurgeQueueInProgress(queue, (q.purged_ms + interval - now) / 1000)
            q.purged_ms, q.messages = now, []

        await self._locked(self._update, queue, purge)

    async def delete_queue(self, queue: str) -> None:
        def delete() -> None:
            self._load(queue)
            self.dir.remove(queue)

        await self._locked(delete)

    # -- send -----------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        return await self._locked(self._send, queue, list(entries))

    def _send(self, name: str, entries: list[SendEntry]) -> SendBatchResult:
        q = self._load(name)
        now = self._now_ms()
        q.dedup = {key: seen for key, seen in q.dedup.items() if seen[2] > now}
        result = SendBatchResult([], [])
        for entry_id, entry in zip(limits.entry_ids(entries), entries, strict=True):
            error = limits.check_send_entry(entry, entry_id, q.spec)  # SQS's checks and codes
            if error is not None:
                result.failed.append(error)
            else:
                result.successful.append(self._enqueue(q, entry, entry_id, now))
        self.dir.save(q)
        return result

    def _enqueue(self, q: Queue, entry: SendEntry, entry_id: str, now: int) -> SendResult:
        md5_body = digest.md5_of_body(entry.body)
        md5_attrs = digest.md5_of_message_attributes(entry.message_attributes)
        message = Message(
            message_id=str(uuid.uuid4()),
            body=entry.body,
            md5_of_body=md5_body,
            attributes=dict(entry.message_attributes),
            md5_of_attributes=md5_attrs,
            sent_ms=now,
            visible_at_ms=now
            + 1000 * (q.spec.delay_seconds if entry.delay_seconds is None else entry.delay_seconds),
            expires_ms=now + q.spec.message_retention_period * 1000,
            group_id=entry.message_group_id,
            trace_header=entry.trace_header,
        )
        if q.spec.fifo:  # SQS-F-3: a deduplication id seen in the last 5 minutes is not enqueued
            message.dedup_id = entry.message_deduplication_id or digest.content_deduplication_id(entry.body)
            scope = entry.message_group_id if q.spec.deduplication_scope == "messageGroup" else ""
            key = f"{scope}\n{message.dedup_id}"
            if key in q.dedup:
                message_id, sequence_number, _ = q.dedup[key]
                return SendResult(entry_id, message_id, md5_body, md5_attrs, sequence_number)
            q.sequence += 1
            message.sequence_number = f"{q.sequence:020d}"
            window_end = now + limits.DEDUPLICATION_WINDOW_SECONDS * 1000
            q.dedup[key] = (message.message_id, message.sequence_number, window_end)
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
        limits.check_max_messages(max_messages)
        if visibility_timeout is not None and (error := limits.check_visibility_timeout(visibility_timeout)):
            raise InvalidParameterValue(error)
        deadline: float | None = None if wait_seconds is None else time.monotonic() + wait_seconds
        while True:
            step = self._locked(self._receive_now, queue, max_messages, visibility_timeout)
            received, wait, wake_ms = await self.give_backs.take(step, _handles, self._release(queue))
            if deadline is None:  # the queue's ReceiveMessageWaitTimeSeconds, read with it
                deadline = time.monotonic() + wait
            if received or time.monotonic() >= deadline:
                return received
            await self._wait_for_change(queue, deadline, wake_ms)

    def _release(self, queue: str) -> Callable[[Sequence[str]], Any]:
        async def release(handles: Sequence[str]) -> None:
            await self.change_visibility(queue, [VisibilityChange(h, 0) for h in handles])

        return release

    async def _wait_for_change(self, queue: str, deadline: float, wake_ms: int | None) -> None:
        """Sleep until the queue file changes, a hidden message's time comes, or the deadline."""
        seen = await asyncio.to_thread(self.dir.version, queue)
        while time.monotonic() < deadline and (wake_ms is None or self._now_ms() < wake_ms):
            await asyncio.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
            if await asyncio.to_thread(self.dir.version, queue) != seen:
                return

    def _receive_now(
        self, name: str, max_messages: int, visibility: float | None
    ) -> tuple[list[ReceivedMessage], float, int | None]:
        """Take up to ``max_messages``; also returns the queue's default wait and the next time a
        hidden message becomes visible by itself (for the long poll)."""
        q = self._load(name)
        now = self._now_ms()
        timeout = q.spec.visibility_timeout if visibility is None else visibility
        policy = q.spec.redrive_policy
        dead: list[Message] = []
        received: list[ReceivedMessage] = []
        for message in candidates(q, now):
            if len(received) == max_messages:
                break
            if policy is not None and message.receive_count >= policy.max_receive_count:
                dead.append(message)  # ESM-DLQ-2: moved on the receive that would exceed it
                continue
            message.receive_count += 1
            message.first_receive_ms = message.first_receive_ms or now
            message.received_at_ms = now
            message.visible_at_ms = now + round(timeout * 1000)
            message.token = secrets.token_hex(8)
            received.append(self._received(q, message))
        if dead:
            self._move_to_dead_letter_queue(q, dead, now)
        if received or dead:
            self.dir.save(q)
        upcoming = [m.visible_at_ms for m in q.messages if m.hidden(now)]
        return received, q.spec.receive_wait_time_seconds, min(upcoming, default=None)

    def _move_to_dead_letter_queue(self, q: Queue, dead: list[Message], now: int) -> None:
        assert q.spec.redrive_policy is not None
        dlq = self._load(q.spec.redrive_policy.dead_letter_queue)
        for message in dead:
            q.messages.remove(message)
            message.dead_letter_source_arn = self.queue_arn(q.spec.name)
            message.visible_at_ms, message.token = now, None
            enqueued = now if dlq.spec.fifo else message.sent_ms  # ESM-DLQ-4
            message.expires_ms = enqueued + dlq.spec.message_retention_period * 1000
            if dlq.spec.fifo:
                message.dedup_id = message.message_id
            dlq.messages.append(message)
        self.dir.save(dlq)  # the receiving queue first: a crash in between duplicates, not loses

    def _received(self, q: Queue, m: Message) -> ReceivedMessage:
        return ReceivedMessage(
            message_id=m.message_id,
            receipt_handle=f"{q.incarnation}:{m.message_id}:{m.token}",
            body=m.body,
            md5_of_body=m.md5_of_body,
            attributes=shown_attributes(m),
            message_attributes=dict(m.attributes),
            md5_of_message_attributes=m.md5_of_attributes,
        )

    # -- receipt handles: delete, change visibility ------------------------------------------------

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        return await self._locked(self._delete, queue, list(receipt_handles))

    def _delete(self, name: str, handles: list[str]) -> list[BatchEntryError]:
        q = self._load(name)
        failed: list[BatchEntryError] = []
        for handle in handles:
            found = holder(q, handle)
            if isinstance(found, BatchEntryError):
                failed.append(found)
            elif found is not None:  # None: the message is gone already, which is what was asked
                q.messages.remove(found)
        self.dir.save(q)
        return failed

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        return await self._locked(self._change_visibility, queue, list(changes))

    def _change_visibility(self, name: str, changes: list[VisibilityChange]) -> list[BatchEntryError]:
        q = self._load(name)
        now = self._now_ms()
        failed: list[BatchEntryError] = []
        for change in changes:
            handle = change.receipt_handle
            found = holder(q, handle)
            error = limits.check_visibility_timeout(change.visibility_timeout)
            if isinstance(found, BatchEntryError) and found.code == "ReceiptHandleIsInvalid":
                failed.append(found)
            elif error is not None:
                failed.append(BatchEntryError(handle, "InvalidParameterValue", error))
            elif not isinstance(found, Message) or not found.in_flight(now):
                failed.append(BatchEntryError(handle, "MessageNotInflight", "The message is not in flight."))
            elif now + change.visibility_timeout * 1000 - (found.received_at_ms or now) > _MAX_VISIBILITY_MS:
                failed.append(BatchEntryError(handle, "InvalidParameterValue", _TOO_LONG))
            else:
                found.visible_at_ms = now + round(change.visibility_timeout * 1000)
        self.dir.save(q)
        return failed

    # -- redrive and peek -------------------------------------------------------------------------

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        ids = await self._locked(self._dead_letters, dead_letter_queue, destination)
        moved = failed = 0
        started = time.monotonic()
        for index, message_id in enumerate(ids):
            if max_per_second:
                await asyncio.sleep(max(0.0, started + index / max_per_second - time.monotonic()))
            if await self._locked(self._move_back, dead_letter_queue, message_id, destination):
                moved += 1
            else:
                failed += 1
        return RedriveResult(moved, failed)

    def _dead_letters(self, name: str, destination: str | None) -> list[str]:
        """The ids of the dead letters visible now, after checking the destination."""
        dlq = self._load(name)
        if destination is not None:
            if self._load(destination).spec.fifo != dlq.spec.fifo:
                raise InvalidParameterValue(
                    "The destination queue must be of the same type as the dead-letter queue."
                )
            if destination == name:
                raise InvalidParameterValue("The destination cannot be the dead-letter queue itself.")
        now = self._now_ms()
        return [m.message_id for m in dlq.messages if not m.hidden(now)]

    def _move_back(self, name: str, message_id: str, destination: str | None) -> bool:
        """Move one dead letter to its destination as a new message; False when it cannot go."""
        dlq = self._load(name)
        message = next((m for m in dlq.messages if m.message_id == message_id), None)
        source = message.dead_letter_source_arn if message is not None else None
        target_name = destination or (arn.queue_name_from_arn(source) if source else None)
        target = self.dir.load(target_name) if target_name else None
        if message is None or target is None:
            return False
        now = self._now_ms()
        fresh = replace(
            message,
            message_id=str(uuid.uuid4()),
            sent_ms=now,
            visible_at_ms=now,
            expires_ms=now + target.spec.message_retention_period * 1000,
            dead_letter_source_arn=None,
            receive_count=0,
            first_receive_ms=None,
            received_at_ms=None,
            token=None,
        )
        if target.spec.fifo:
            target.sequence += 1
            fresh.sequence_number = f"{target.sequence:020d}"
        target.messages.append(fresh)
        self.dir.save(target)  # the receiving queue first, as for a dead-letter move
        dlq.messages.remove(message)
        self.dir.save(dlq)
        return True

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        q = await self._locked(self._load, queue)
        now = self._now_ms()
        return [
            PeekedMessage(
                message_id=m.message_id,
                body=m.body,
                attributes=shown_attributes(m),
                message_attributes=dict(m.attributes),
                state="in_flight" if m.in_flight(now) else "delayed" if m.hidden(now) else "visible",
                visible_at=m.visible_at_ms,
            )
            for m in q.messages[:max_messages]
        ]


_MAX_VISIBILITY_MS = limits.MAX_VISIBILITY_TIMEOUT * 1000  #: SQS-V-2: 12 hours from the receive
_TOO_LONG = (
    "Value for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message "
    "is beyond the limit [43200 seconds]"
)


def _handles(taken: tuple[list[ReceivedMessage], float, int | None]) -> list[str]:
    return [m.receipt_handle for m in taken[0]]

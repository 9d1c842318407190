"""MemoryBackend: the parts put together, plus queues (create, attributes, tags, purge) and send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from qworker import digest, limits
from qworker.backend import (
    BatchEntryError,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    SendBatchResult,
    SendEntry,
    SendResult,
)
from qworker.errors import InvalidParameterValue, PurgeQueueInProgress, QueueNameExists
from qworker.memory.handles import HandlesMixin
from qworker.memory.operator import OperatorMixin
from qworker.memory.records import RecordsMixin
from qworker.memory.store import MemoryQueue, StoredMessage, named_store, store_name


class MemoryBackend(OperatorMixin, HandlesMixin, RecordsMixin):
    """The ``memory://`` backend, qworker's reference model of SQS semantics.

    ``MemoryBackend()`` is a client of a new, private store; ``MemoryBackend.from_url(
    "memory://NAME")`` (what ``--backend memory://NAME`` and :func:`qworker.registry.open_backend`
    make) is a client of the process's store of that name, shared by every backend opened on
    the same URL (``memory://`` is the store named ``""``). Nothing leaves the process.
    """

    @classmethod
    def from_url(cls, url: str) -> MemoryBackend:
        return cls(store=named_store(store_name(url)))

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        limits.validate_queue_spec(spec)
        initial = limits.check_tags(tags or {})
        with self.store.lock:
            existing = self.store.queues.get(spec.name)
            if existing is not None:
                if existing.spec != spec:
                    raise QueueNameExists(
                        f"A queue named {spec.name!r} already exists with different attributes."
                    )
                return  # tags are given at creation only
            self._check_dead_letter_queue(spec)
            now = int(self.clock())
            self.store.queues[spec.name] = MemoryQueue(spec, next(self.store.numbers), now, now, tags=initial)

    def _check_dead_letter_queue(self, spec: QueueSpec) -> None:
        """ESM-DLQ-3: the dead-letter queue exists (its type was checked with the spec)."""
        policy = spec.redrive_policy
        if policy is not None and policy.dead_letter_queue not in self.store.queues:
            raise InvalidParameterValue(
                f"Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist: "
                f"{policy.dead_letter_queue!r}."
            )

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        limits.check_spec_change(queue, spec)
        with self.store.lock:
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
            self._changed(queue)  # waiting receivers pick up the new attributes

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        with self.store.lock:
            q = self._queue(queue)
            q.tags = limits.check_tags(tags, q.tags)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        with self.store.lock:
            q = self._queue(queue)
            for key in limits.check_tag_keys(keys):
                q.tags.pop(key, None)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        with self.store.lock:
            return dict(self._queue(queue).tags)

    async def get_queue(self, queue: str) -> QueueInfo:
        with self.store.lock:
            q = self._queue(queue)
            now = self.now_ms()
            self._expire(q, now)
            states = [m.state(now) for m in q.messages]
            counts = QueueCounts(
                states.count("visible"),
                states.count("in_flight"),
                states.count("delayed"),
                len(q.quarantine),
            )
            return QueueInfo(q.spec, counts, self.queue_arn(queue), q.created, q.modified)

    async def list_queues(self, prefix: str = "") -> list[str]:
        with self.store.lock:
            return sorted(name for name in self.store.queues if name.startswith(prefix))

    async def purge_queue(self, queue: str) -> None:
        with self.store.lock:
            q = self._queue(queue)
            now = self.now_ms()
            interval = limits.PURGE_INTERVAL_SECONDS * 1000
            if q.purged_ms is not None and now - q.purged_ms < interval:
                raise PurgeQueueInProgress(queue, (q.purged_ms + interval - now) / 1000)
            q.purged_ms = now
            q.messages.clear()
            q.quarantine.clear()

    async def delete_queue(self, queue: str) -> None:
        with self.store.lock:
            self._queue(queue)
            del self.store.queues[queue]
            self._changed(queue)  # its waiting receivers fail with QueueDoesNotExist at once

    # -- send -----------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        with self.store.lock:
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
            if ok:
                self._changed(queue)
            return SendBatchResult(ok, failed)

    def _enqueue(self, q: MemoryQueue, entry: SendEntry, entry_id: str, now: int) -> SendResult:
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
            if key in q.dedup:  # SQS-F-3: accepted, not enqueued again
                message_id, sequence_number, _ = q.dedup[key]
                return SendResult(entry_id, message_id, md5_body, md5_attrs, sequence_number)
        delay = spec.delay_seconds if entry.delay_seconds is None else entry.delay_seconds
        message = StoredMessage(
            seq=next(self.store.seqs),
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

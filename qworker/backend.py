"""The backend protocol: the SQS-shaped, batch-first contract every queue backend implements.

The runtime talks to queues only through :class:`Backend`. Its methods mirror Amazon SQS
(CreateQueue, SendMessageBatch, ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch,
StartMessageMoveTask, ...) so that the SQS backend is a thin adapter and the SQLite and Redis
backends emulate SQS semantics. Three rules hold for every method:

* No connection, cursor or transaction type appears in the interface: a backend owns its
  connections (the BullMQ "backend contract" rule).
* Batch calls return per-entry failures instead of raising, as SQS's ``*Batch`` calls do. They
  raise only for errors of the whole call: :class:`~qworker.errors.QueueDoesNotExist`,
  :class:`~qworker.errors.BackendUnavailable`, or a malformed request.
* Timeouts are seconds as ``float``. Backends with a coarser clock (SQS: whole seconds) round
  *up*, so a message is never visible earlier than asked.

Statement ids in the docstrings (SQS-V-1, ESM-DLQ-2, ...) refer to ``SPEC.md``; the conformance
suite in :mod:`qworker.testing.conformance` checks each of them on every backend.

The types the protocol speaks live in :mod:`qworker.queue_types` and :mod:`qworker.message_types`,
the shared base class in :mod:`qworker.base_backend`; this module re-exports them, so
``from qworker.backend import QueueSpec, SendEntry, BaseBackend`` keeps working for backends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from qworker.base_backend import (
    BaseBackend,
    QuarantineTally,
)
from qworker.message_types import (
    DEFAULT_QUARANTINE_LIST,
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    QUARANTINE_UNDECODABLE,
    BatchEntryError,
    FailureNote,
    MessageAttributeValue,
    MessageState,
    PeekedMessage,
    QuarantinedMessage,
    ReceivedMessage,
    SendBatchResult,
    SendEntry,
    SendResult,
    VisibilityChange,
    system_attributes,
)
from qworker.queue_types import (
    DEFAULT_MAXIMUM_MESSAGE_SIZE,
    DEFAULT_RETENTION_PERIOD,
    DEFAULT_VISIBILITY_TIMEOUT,
    EXTRA_ATTRIBUTE_NAMES,
    Capabilities,
    QueueCounts,
    QueueInfo,
    QueueSpec,
    RedrivePolicy,
    RedriveResult,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "DEFAULT_MAXIMUM_MESSAGE_SIZE",
    "DEFAULT_QUARANTINE_LIST",
    "DEFAULT_RETENTION_PERIOD",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "EXTRA_ATTRIBUTE_NAMES",
    "QUARANTINE_NOT_FOUND",
    "QUARANTINE_PREVIEW_BYTES",
    "QUARANTINE_UNDECODABLE",
    "Backend",
    "BaseBackend",
    "BatchEntryError",
    "Capabilities",
    "FailureNote",
    "MessageAttributeValue",
    "MessageState",
    "PeekedMessage",
    "QuarantineTally",
    "QuarantinedMessage",
    "QueueCounts",
    "QueueInfo",
    "QueueSpec",
    "ReceivedMessage",
    "RedrivePolicy",
    "RedriveResult",
    "SendBatchResult",
    "SendEntry",
    "SendResult",
    "VisibilityChange",
    "system_attributes",
]


@runtime_checkable
class Backend(Protocol):
    """A queue backend. Use it as an async context manager, or call ``connect``/``close``.

    Backends are made from URLs by :func:`qworker.registry.open_backend`; a backend class is
    registered under the ``qworker.backends`` entry-point group, keyed by URL scheme, and
    provides ``from_url``.
    """

    capabilities: ClassVar[Capabilities]

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Make a backend (not yet connected) from its URL."""
        ...

    @property
    def display_url(self) -> str:
        """The URL with any password removed, safe to log."""
        ...

    def reopened(self) -> Backend | None:
        """A new, unconnected backend on the same store, with a connection of its own, or None
        when no second connection can see the same queues (an in-memory SQLite database,
        ``memory://``).

        The visibility heartbeat runs in a thread of its own, with its own event loop, so that a
        handler blocking the worker's loop cannot stop it (RELIABILITY.md T12); it needs this.
        """
        ...

    async def connect(self) -> None:
        """Open connections and check the backend answers.

        Raises :class:`~qworker.errors.BackendUnavailable` when it cannot be reached.
        """
        ...

    async def close(self) -> None:
        """Close connections. Idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def queue_arn(self, queue: str) -> str:
        """The queue's ARN, used as ``eventSourceARN`` (SPEC EVT-7)."""
        ...

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        """Create a queue (SQS CreateQueue).

        Idempotent when a queue of that name exists with the same attributes; raises
        :class:`~qworker.errors.QueueNameExists` when its attributes differ, and
        :class:`~qworker.errors.InvalidParameterValue` for values outside SQS's ranges, a name
        that is not valid, or a dead-letter queue that does not exist or is not of the same type
        (FIFO to FIFO, standard to standard; ESM-DLQ-3).

        ``tags`` (SQS CreateQueue ``tags``, the limits of :meth:`tag_queue`) are stored only when
        the queue is created: as on SQS, creating a queue that exists leaves its tags as they are.
        """
        ...

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        """Replace the queue's attributes by ``spec``'s (SQS SetQueueAttributes; ``spec.name``
        must be ``queue``).

        The new values apply at once to every later call of every process and client on the same
        store (no client keeps a stale copy): ``get_queue``; send validation
        (``MaximumMessageSize``, ``ContentBasedDeduplication``); the default visibility timeout
        and long-poll wait of receives; ``DelaySeconds`` of messages sent afterwards; the
        ``RedrivePolicy`` of later receives. Messages already in flight keep their visibility
        timeout, delayed ones their delay. ``MessageRetentionPeriod`` applies to the messages
        already in the queue too, as SQS documents ("will impact existing messages in the queue
        potentially causing them to be expired and deleted if the MessageRetentionPeriod is
        reduced below the age of existing messages"): a message expires at its enqueue time plus
        the queue's current retention period. ``LastModifiedTimestamp`` changes.

        Raises :class:`~qworker.errors.QueueDoesNotExist`;
        :class:`~qworker.errors.InvalidAttributeValue` for values out of range;
        :class:`~qworker.errors.InvalidParameterValue` for changes SQS refuses: the queue type
        (``FifoQueue``: ``spec.name`` is not ``queue``), ``ContentBasedDeduplication`` or
        ``DeduplicationScope`` on a standard queue, a ``RedrivePolicy`` whose dead-letter queue
        does not exist, is of the other type or is the queue itself.
        """
        ...

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags (SQS TagQueue). At most 50 tags per queue, keys of 1-128
        characters, values of 0-256 (:func:`qworker.limits.check_tags`): beyond that
        :class:`~qworker.errors.InvalidParameterValue` and nothing changes. Raises
        :class:`~qworker.errors.QueueDoesNotExist`."""
        ...

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        """Remove tags by key (SQS UntagQueue); keys the queue does not have are ignored."""
        ...

    async def queue_tags(self, queue: str) -> dict[str, str]:
        """The queue's tags (SQS ListQueueTags). Raises :class:`~qworker.errors.QueueDoesNotExist`."""
        ...

    async def get_queue(self, queue: str) -> QueueInfo:
        """The queue's attributes and approximate counts (SQS GetQueueAttributes).

        Raises :class:`~qworker.errors.QueueDoesNotExist`.
        """
        ...

    async def list_queues(self, prefix: str = "") -> list[str]:
        """Names of the queues whose name starts with ``prefix``, sorted (SQS ListQueues)."""
        ...

    async def purge_queue(self, queue: str) -> None:
        """Delete every message of the queue, in flight or not (SQS PurgeQueue).

        As on SQS, one purge per queue every 60 seconds: a purge less than 60 s after the last
        one raises :class:`~qworker.errors.PurgeQueueInProgress` (SQS
        ``AWS.SimpleQueueService.PurgeQueueInProgress``) and deletes nothing. The time of the
        last purge is stored with the queue, so every process sees it.
        """
        ...

    async def delete_queue(self, queue: str) -> None:
        """Delete the queue and its messages (SQS DeleteQueue). Raises ``QueueDoesNotExist``."""
        ...

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        """Send messages (SQS SendMessageBatch, without its 10-entry limit).

        Each entry succeeds or fails on its own. Entry failures (SQS codes): body empty, over the
        queue's ``MaximumMessageSize`` counting attributes, or with characters SQS refuses
        (``InvalidParameterValue``/``InvalidMessageContents``, SQS-L-1); bad attributes
        (``InvalidParameterValue``, SQS-L-5); delay outside 0..900 or set on a FIFO queue
        (``InvalidParameterValue``, SQS-L-2); FIFO without ``message_group_id`` or without a
        deduplication id when content-based deduplication is off (``MissingParameter``, SQS-F-2,
        SQS-F-3).

        Message ids are UUIDs; ``md5_of_message_body``/``md5_of_message_attributes`` are computed
        as SQS does (:mod:`qworker.digest`). On FIFO queues the entries of one call are enqueued
        in order (SQS-F-5), each gets an increasing ``sequence_number``, and an entry whose
        deduplication id was seen in the last 5 minutes is accepted (reported as successful with
        the original message id) but not enqueued again (SQS-F-3).
        """
        ...

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` visible messages and hide them (SQS ReceiveMessage).

        * Long polling (SQS-R-1): with nothing visible, wait up to ``wait_seconds`` (``None`` = the
          queue's ``ReceiveMessageWaitTimeSeconds``) and return as soon as at least one message is
          available; return ``[]`` when the wait ends empty. Unlike SQS, the wait is not capped at
          20 s, and ``max_messages`` is not capped at 10 (SQS backends loop internally).
        * Each returned message becomes invisible for ``visibility_timeout`` seconds (default: the
          queue's ``VisibilityTimeout``, SQS-V-1), gets ``ApproximateReceiveCount`` + 1, keeps the
          ``ApproximateFirstReceiveTimestamp`` of its first receive, and a fresh receipt handle
          (SQS-R-2). When the visibility timeout passes without a delete, it is visible again
          (ESM-F-2).
        * Dead-letter move (ESM-DLQ-2): with a ``RedrivePolicy``, a message that was already
          received ``maxReceiveCount`` times is moved to the dead-letter queue on this receive
          instead of being returned: it keeps its message id, body and attributes, its
          ``ApproximateReceiveCount``, and gains ``DeadLetterQueueSourceArn`` (ESM-DLQ-4/5).
        * Delayed messages (SQS-L-2) are not returned before their delay ends; messages older than
          the retention period are deleted, in flight or not (SQS-L-3).
        * Cancelling a receive (a worker shutting down) never strands messages: if they were
          already taken, they are made visible again, best effort
          (:meth:`qworker.safe_receive.GiveBacks.take`).
        * FIFO (SQS-F-2, ESM-FIFO-3): messages of a group come in send order; no message of a
          group is returned while another message of that group is in flight; one receive may
          return several groups, taking as many messages of each group as it can, so a busy group
          does not block the others. Groups that can deliver are served oldest head message
          first: SQS leaves this order open; qworker's backends agree on this one.
        """
        ...

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        """Delete received messages (SQS DeleteMessageBatch); returns the failed entries.

        Receipt handles are fencing tokens (SPEC ESM-F-6, SQS-RH-1). A handle deletes its message
        while it is the message's latest handle, even after the visibility timeout has passed,
        as on SQS. Once the message has been received again, the old handle deletes nothing:
        backends with ``capabilities.fenced_receipts`` report ``ReceiptHandleIsStale`` for it
        (qworker's choice, stricter than SQS, where the call "succeeds" and may or may not
        delete). A handle whose message no longer exists (deleted, expired, purged) succeeds:
        the message is gone, which is what the caller asked for. A malformed handle, or one from
        another queue, fails with ``ReceiptHandleIsInvalid``.
        """
        ...

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        """Change received messages' visibility (SQS ChangeMessageVisibilityBatch).

        The new timeout counts from now (SQS-V-2); 0 makes the message visible at once (SQS-V-3);
        it applies to this receive only (the next receive uses the queue's timeout again). Entry
        failures: ``ReceiptHandleIsInvalid`` (malformed, other queue); ``MessageNotInflight``
        (the handle no longer holds the message: it is visible again, received again, or gone);
        ``InvalidParameterValue`` (timeout outside 0..43200 s, or the message would stay hidden
        more than 12 hours after this receive).
        """
        ...

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        """Move the dead-letter queue's visible messages back (SQS StartMessageMoveTask, ESM-DLQ-6).

        With no ``destination`` every message goes back to the queue it came from (its
        ``DeadLetterQueueSourceArn``). Moved messages are new messages in their destination, as on
        SQS: a new message id, a new ``SentTimestamp``, a receive count of 0, the body and message
        attributes kept; FIFO messages keep their group id. ``max_per_second`` limits the rate
        (SQS allows up to 500). Returns when every message visible at the start was moved.
        """
        ...

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        """Look at up to ``max_messages`` messages in queue order without receiving them.

        Raises :class:`~qworker.errors.UnsupportedOperation` when ``capabilities.peek`` is False.
        """
        ...

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        """Store the last error with each message whose handle is current (else ignore it).

        Shown by :meth:`peek`, including after a move to the dead-letter queue. A no-op on
        backends without ``capabilities.records_failures``.
        """
        ...

    # -- a small shared store of records -------------------------------------------------------
    #
    # State several processes must see (the background message-move tasks of ``qworker serve
    # --workers N``, worker heartbeats for the console): JSON values under ``(kind, key)``, each
    # expiring after its own time to live. Not for messages: nothing here is ordered or leased.
    # Limits (:func:`qworker.limits.check_record`): ``kind`` 1-64 characters of
    # ``[A-Za-z0-9_.-]``, ``key`` 1-256 characters, the value's JSON at most 64 KiB,
    # ``ttl_seconds`` None or > 0. Backends without ``capabilities.records`` (SQS) raise
    # :class:`~qworker.errors.UnsupportedOperation`.

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        """Store ``value`` (a JSON-serialisable mapping) under ``(kind, key)``, replacing what was
        there; it expires ``ttl_seconds`` from now (``None``: never)."""
        ...

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record's value, or ``None`` when there is none or it expired."""
        ...

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every unexpired record of ``kind``: key -> value."""
        ...

    async def delete_record(self, kind: str, key: str) -> bool:
        """Delete the record; True when there was one (an expired record counts as none)."""
        ...

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        """Delete messages by message id, whatever their state; returns the ids deleted.

        For an operator (the console's **Delete**, and its redrive of selected dead letters),
        who sees messages through :meth:`peek` and so holds no receipt handle. A message in
        flight is deleted too: its receiver's later delete then succeeds (the message is gone)
        and its visibility changes fail with ``MessageNotInflight``, as after any delete. Ids
        not in the queue are left out of the result. FIFO groups are unlocked as by
        :meth:`delete`. Raises :class:`~qworker.errors.UnsupportedOperation` when
        ``capabilities.delete_by_id`` is False, ``QueueDoesNotExist`` for an unknown queue.
        """
        ...

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        """The queue's quarantined messages, oldest first, at most ``max_messages`` (qworker's own).

        A backend with ``capabilities.quarantine`` never fails a receive, redrive or peek because
        a stored message cannot be decoded (corrupt bytes, a foreign or newer format, a missing
        part; RELIABILITY T16). A receive or redrive that meets one delivers or moves the others
        and sets it aside, atomically, in the queue's quarantine with its reason, the time and
        its raw data as they were; peek shows it as corrupt and changes nothing. Quarantined
        messages are never delivered, do not expire, and are counted in
        :attr:`QueueCounts.quarantined` only; purging or deleting the queue removes them too.
        A dead-letter move does not decode: a corrupt message reaches the dead-letter queue as
        it was and is quarantined there.

        Raises :class:`~qworker.errors.UnsupportedOperation` without the capability.
        """
        ...

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        """Put quarantined messages of ``queue`` back, on ``queue`` or on ``destination`` (for
        example its dead-letter queue; same type, FIFO or standard); returns the failed entries,
        ``id`` being the message id.

        Each message is decoded again. One that still cannot be decoded is refused and stays in
        quarantine (``MessageUndecodable``, with the reason); with ``body_only`` only its body is
        needed and put back: message attributes and the trace header are dropped even when they
        decode; a FIFO message still needs a readable group id. A restored message is enqueued
        as a new arrival, as redrive does: the same message id, body, message attributes, group
        and deduplication ids and trace header; ``SentTimestamp`` now, receive count 0,
        retention from now; on FIFO at the end of its group, without a deduplication check.
        On the queue's dead-letter queue it gets ``DeadLetterQueueSourceArn`` = ``queue`` (so a
        redrive brings it back); on ``queue`` itself it keeps the one it had. It must pass the
        destination's send checks (size, characters, attributes: SQS's codes, and then stays in
        quarantine). An id not in the quarantine fails with ``QuarantinedMessageNotFound``; on
        Redis, an id the destination already holds with ``MessageIdInUse``.
        Raises ``QueueDoesNotExist`` for either queue, ``InvalidParameterValue`` for a
        destination of the other type, ``UnsupportedOperation`` without the capability.
        """
        ...

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Delete quarantined messages of ``queue`` for good (every one when ``message_ids`` is
        ``None``); returns how many were dropped (unknown ids are ignored).

        Raises ``UnsupportedOperation`` without ``capabilities.quarantine``.
        """
        ...

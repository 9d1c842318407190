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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, Protocol, TypeVar, runtime_checkable

from qworker import arn

if TYPE_CHECKING:
    from typing import Self

#: the queue attributes SQS stores and returns that qworker keeps without acting on them
#: (:attr:`QueueSpec.extra_attributes`)
EXTRA_ATTRIBUTE_NAMES = frozenset(
    {"Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}
)

#: SQS defaults (SPEC SQS-V-1, SQS-L-1..3, SQS-R-1).
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_PERIOD = 345_600
DEFAULT_MAXIMUM_MESSAGE_SIZE = 1_048_576

MessageState = Literal["visible", "in_flight", "delayed"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    """Where a queue's poison messages go (SQS ``RedrivePolicy``, SPEC ESM-DLQ-1, ESM-DLQ-3).

    A message received ``max_receive_count`` times is moved to ``dead_letter_queue`` on the next
    receive instead of being delivered (ESM-DLQ-2).
    """

    dead_letter_queue: str  #: the dead-letter queue's name (not its ARN)
    max_receive_count: int  #: 1..1000


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue's name and attributes, as given to :meth:`Backend.create_queue`.

    Field names follow the SQS attributes (``VisibilityTimeout`` -> ``visibility_timeout``).
    A queue is FIFO exactly when its name ends in ``.fifo`` (SPEC SQS-F-1).
    """

    name: str
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT  #: 0..43200 s (SQS-V-1)
    message_retention_period: int = DEFAULT_RETENTION_PERIOD  #: 60..1209600 s (SQS-L-3)
    delay_seconds: int = 0  #: 0..900 s (SQS-L-2)
    maximum_message_size: int = DEFAULT_MAXIMUM_MESSAGE_SIZE  #: 1024..1048576 bytes (SQS-L-1)
    receive_wait_time_seconds: float = 0  #: default long-poll wait, 0..20 s (SQS-R-1)
    redrive_policy: RedrivePolicy | None = None
    content_based_deduplication: bool = False  #: FIFO only (SQS-F-3)
    #: FIFO only: ``"queue"`` or ``"messageGroup"`` (high-throughput mode, SQS-F-4)
    deduplication_scope: Literal["queue", "messageGroup"] = "queue"
    #: attributes SQS stores and returns but qworker does not act on, as given (name -> text):
    #: ``Policy``, ``RedriveAllowPolicy``, ``KmsMasterKeyId``, ``KmsDataKeyReusePeriodSeconds``,
    #: ``SqsManagedSseEnabled`` (:data:`EXTRA_ATTRIBUTE_NAMES`). Kept sorted by name (a mapping or
    #: pairs in any order are accepted), so two specs with the same attributes are equal.
    extra_attributes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        extra = self.extra_attributes
        if extra or type(extra) is not tuple:
            pairs = extra.items() if isinstance(extra, Mapping) else extra
            normalized = tuple(sorted((str(name), value) for name, value in dict(pairs).items()))
            if normalized != extra:
                object.__setattr__(self, "extra_attributes", normalized)

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue (its name ends in ``.fifo``)."""
        return self.name.endswith(".fifo")

    def attributes(self) -> dict[str, str]:
        """The queue's attributes as SQS's GetQueueAttributes returns them (all strings)."""
        attrs = {
            "VisibilityTimeout": _seconds_text(self.visibility_timeout),
            "MessageRetentionPeriod": str(self.message_retention_period),
            "DelaySeconds": str(self.delay_seconds),
            "MaximumMessageSize": str(self.maximum_message_size),
            "ReceiveMessageWaitTimeSeconds": _seconds_text(self.receive_wait_time_seconds),
        }
        if self.redrive_policy is not None:
            attrs["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": arn.queue_arn(self.redrive_policy.dead_letter_queue),
                    "maxReceiveCount": self.redrive_policy.max_receive_count,
                }
            )
        if self.fifo:
            attrs["FifoQueue"] = "true"
            attrs["ContentBasedDeduplication"] = "true" if self.content_based_deduplication else "false"
            attrs["DeduplicationScope"] = self.deduplication_scope
            attrs["FifoThroughputLimit"] = (
                "perMessageGroupId" if self.deduplication_scope == "messageGroup" else "perQueue"
            )
        attrs.update(self.extra_attributes)
        return attrs

    def extra(self) -> dict[str, str]:
        """:attr:`extra_attributes` as a dict."""
        return dict(self.extra_attributes)


def _seconds_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Approximate message counts (SQS ``ApproximateNumberOfMessages*``).

    ``visible`` is what a receive could return now; ``in_flight`` is received and not yet
    deleted or visible again; ``delayed`` is sent with a delay that has not yet passed.
    """

    visible: int
    in_flight: int
    delayed: int
    #: qworker's own count, not SQS's: messages set aside in the queue's quarantine because they
    #: could not be decoded (:meth:`Backend.quarantined`, RELIABILITY T16); not part of the three
    #: above. Always 0 on backends without ``capabilities.quarantine``.
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What :meth:`Backend.get_queue` returns: the spec, live counts and identifiers."""

    spec: QueueSpec
    counts: QueueCounts
    arn: str
    created_timestamp: int  #: epoch seconds, as SQS's ``CreatedTimestamp``
    last_modified_timestamp: int  #: epoch seconds

    def attributes(self) -> dict[str, str]:
        """Every attribute, named and formatted as SQS's ``GetQueueAttributes(All)``."""
        return {
            "QueueArn": self.arn,
            "ApproximateNumberOfMessages": str(self.counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(self.counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(self.counts.delayed),
            "CreatedTimestamp": str(self.created_timestamp),
            "LastModifiedTimestamp": str(self.last_modified_timestamp),
            **self.spec.attributes(),
        }


@dataclass(frozen=True, slots=True)
class MessageAttributeValue:
    """A message attribute (SQS ``MessageAttributeValue``, SPEC SQS-L-5, EVT-5).

    ``data_type`` is ``String``, ``Number`` or ``Binary``, optionally with a custom label
    (``Number.float``, ``String.json``). String and Number carry ``string_value``; Binary carries
    ``binary_value`` (raw bytes, not base64).
    """

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class SendEntry:
    """One message to send (an entry of SQS ``SendMessageBatch``)."""

    body: str
    #: the entry's id within the batch, echoed in results; defaults to its position ("0", "1", ...)
    id: str | None = None
    message_attributes: Mapping[str, MessageAttributeValue] = field(default_factory=dict)
    #: per-message delay 0..900 s; ``None`` = the queue's ``DelaySeconds``; not allowed on FIFO
    delay_seconds: int | None = None
    message_group_id: str | None = None  #: required on FIFO queues (SQS-F-2)
    message_deduplication_id: str | None = None  #: FIFO (SQS-F-3)
    #: the ``AWSTraceHeader`` system attribute (X-Ray), passed through to records (EVT-4)
    trace_header: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """A successfully sent entry (SQS ``SendMessageBatchResultEntry``)."""

    id: str
    message_id: str
    md5_of_message_body: str
    md5_of_message_attributes: str | None = None
    sequence_number: str | None = None  #: FIFO only


@dataclass(frozen=True, slots=True)
class BatchEntryError:
    """A failed entry of a batch call (SQS ``BatchResultErrorEntry``).

    ``id`` is the entry id for sends and the receipt handle for deletes and visibility changes.
    ``code`` is SQS's error code (``InvalidParameterValue``, ``MissingParameter``,
    ``ReceiptHandleIsInvalid``, ``MessageNotInflight``, ...) or one of qworker's, documented on
    the method that returns it. ``sender_fault`` is False only for errors worth retrying.
    """

    id: str
    code: str
    message: str
    sender_fault: bool = True


@dataclass(frozen=True, slots=True)
class SendBatchResult:
    """The outcome of :meth:`Backend.send`: one entry in ``successful`` or ``failed`` per input."""

    successful: list[SendResult]
    failed: list[BatchEntryError]


@dataclass(slots=True)
class ReceivedMessage:
    """A message as :meth:`Backend.receive` returns it (SQS ``Message``, SPEC SQS-R-2).

    ``attributes`` holds the SQS system attributes, every value a string (SPEC EVT-4):
    ``SenderId``, ``SentTimestamp`` and ``ApproximateFirstReceiveTimestamp`` (epoch ms),
    ``ApproximateReceiveCount``; on FIFO queues also ``SequenceNumber``, ``MessageGroupId``,
    ``MessageDeduplicationId``; ``DeadLetterQueueSourceArn`` on a message in a dead-letter queue
    (ESM-DLQ-5); ``AWSTraceHeader`` when the sender gave one.
    """

    message_id: str
    receipt_handle: str  #: new on every receive (EVT-8, SQS-R-2)
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: dict[str, MessageAttributeValue]
    md5_of_message_attributes: str | None

    @property
    def receive_count(self) -> int:
        """``ApproximateReceiveCount`` as an int."""
        return int(self.attributes["ApproximateReceiveCount"])

    @property
    def message_group_id(self) -> str | None:
        """``MessageGroupId`` (FIFO queues), else ``None``."""
        return self.attributes.get("MessageGroupId")


def system_attributes(
    *,
    receive_count: int,
    sent_ms: int,
    first_receive_ms: int,
    sender_id: str,
    sequence_number: str | None = None,
    group_id: str | None = None,
    dedup_id: str | None = None,
    trace_header: str | None = None,
    dead_letter_source_arn: str | None = None,
) -> dict[str, str]:
    """A received message's system attributes, all strings, in the order Lambda's records show
    them (SPEC EVT-4; the order of :data:`qworker.events.SYSTEM_ATTRIBUTE_ORDER`, which lets the
    runtime copy them without reordering)."""
    attrs: dict[str, str] = {}
    if dead_letter_source_arn is not None:
        attrs["DeadLetterQueueSourceArn"] = dead_letter_source_arn
    attrs["ApproximateReceiveCount"] = str(receive_count)
    if trace_header is not None:
        attrs["AWSTraceHeader"] = trace_header
    attrs["SentTimestamp"] = str(sent_ms)
    if sequence_number is not None:
        attrs["SequenceNumber"] = sequence_number
    if group_id is not None:
        attrs["MessageGroupId"] = group_id
    attrs["SenderId"] = sender_id
    if dedup_id is not None:
        attrs["MessageDeduplicationId"] = dedup_id
    attrs["ApproximateFirstReceiveTimestamp"] = str(first_receive_ms)
    return attrs


@dataclass(frozen=True, slots=True)
class VisibilityChange:
    """One entry of :meth:`Backend.change_visibility`."""

    receipt_handle: str
    visibility_timeout: float  #: seconds from now, 0..43200 (SQS-V-2)


@dataclass(frozen=True, slots=True)
class FailureNote:
    """The last error of a failed attempt, stored with the message where the backend can."""

    receipt_handle: str
    error: str  #: a short text: exception type, message, truncated traceback


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    """A message seen by :meth:`Backend.peek`, which changes nothing (no receive is counted)."""

    message_id: str
    body: str
    attributes: dict[str, str]  #: system attributes as in :class:`ReceivedMessage`
    message_attributes: dict[str, MessageAttributeValue]
    state: MessageState
    visible_at: int  #: epoch ms when the message is (or became) visible
    last_error: str | None = None  #: the last recorded failure (:meth:`Backend.record_failures`)


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    """A message set aside because it could not be decoded (:meth:`Backend.quarantined`, T16)."""

    message_id: str  #: the id it was stored with; names it for restore and drop
    #: why, a short code: ``bad-attributes:FormatError``, ``not-utf8:body``, ``missing-body``
    #: (SQLite: problem, then the column); ``undecodable:FormatError``, ``bad-state``,
    #: ``oversize`` (Redis: the envelope or the state string)
    reason: str
    quarantined_at: int  #: epoch ms
    #: the first bytes of the data as stored (SQLite: the body column; Redis: the envelope),
    #: unchanged: show it escaped (:func:`qworker.commands.quarantine_output.escape_bytes`)
    raw_preview: bytes
    raw_size: int  #: the size of that data in bytes


#: per-entry codes of :meth:`Backend.restore_quarantined` (qworker's own, not SQS's)
QUARANTINE_NOT_FOUND = "QuarantinedMessageNotFound"
QUARANTINE_UNDECODABLE = "MessageUndecodable"
#: how many quarantined messages :meth:`Backend.quarantined` returns unless told
DEFAULT_QUARANTINE_LIST = 100
#: bytes of raw data in :attr:`QuarantinedMessage.raw_preview`
QUARANTINE_PREVIEW_BYTES = 256


@dataclass(frozen=True, slots=True)
class RedriveResult:
    """The outcome of :meth:`Backend.redrive`."""

    moved: int  #: messages moved
    failed: int = 0  #: messages left in the dead-letter queue (for example: source queue gone)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do, so the runtime and the conformance suite can adapt to it."""

    #: the most messages one underlying receive can return; the runtime asks for at most this
    #: many per call when it wants low latency (SQS: 10). ``receive`` accepts more and loops.
    max_receive_batch: int = 10_000
    #: :meth:`Backend.peek` works (SQS cannot look at a message without receiving it)
    peek: bool = True
    #: stale receipt handles are detected and reported (``ReceiptHandleIsStale``); on SQS a
    #: stale delete "succeeds" and may or may not delete (ESM-F-6)
    fenced_receipts: bool = True
    #: :meth:`Backend.record_failures` stores errors with the message
    records_failures: bool = True
    #: smallest timeout step the backend honours, in seconds (SQS: 1)
    timeout_resolution: float = 0.001
    #: :meth:`Backend.delete_by_id` works (an operator deletes a peeked message, which has no
    #: receipt handle); False by default: a backend must opt in (SQS cannot)
    delete_by_id: bool = False
    #: messages the backend cannot decode are set aside instead of failing the receive, and can
    #: be listed, restored and dropped (:meth:`Backend.quarantined`, RELIABILITY T16). False by
    #: default: a backend must implement the three methods to claim it (SQS stores nothing of
    #: ours to decode)
    quarantine: bool = False
    #: the shared record store works (:meth:`Backend.put_record` and its siblings); SQS has none
    records: bool = True


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


class BaseBackend:
    """Shared plumbing for backends: the async context manager, ARNs and optional methods."""

    capabilities: ClassVar[Capabilities] = Capabilities()

    async def connect(self) -> None:  # pragma: no cover - every backend overrides it
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - every backend overrides it
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def queue_arn(self, queue: str) -> str:
        return arn.queue_arn(queue)

    def reopened(self) -> Backend | None:
        return None

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        from qworker.errors import UnsupportedOperation

        raise UnsupportedOperation(f"{type(self).__name__} cannot look at messages without receiving them")

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        return None

    def _no_records(self) -> NoReturn:
        from qworker.errors import UnsupportedOperation

        raise UnsupportedOperation(f"{type(self).__name__} has no shared record store (capabilities.records)")

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        self._no_records()

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        self._no_records()

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        self._no_records()

    async def delete_record(self, kind: str, key: str) -> bool:
        self._no_records()

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        from qworker.errors import UnsupportedOperation

        raise UnsupportedOperation(
            f"{type(self).__name__} cannot delete a message without its receipt handle"
        )

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        raise _no_quarantine(self)

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        raise _no_quarantine(self)

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        raise _no_quarantine(self)


def _no_quarantine(backend: object) -> Exception:
    from qworker.errors import UnsupportedOperation

    return UnsupportedOperation(
        f"{type(backend).__name__} has no quarantine: it stores no data of qworker's that could "
        "fail to decode"
    )


class QuarantineTally:
    """How many messages this process's backend object set aside, by queue: read by the
    worker's ``qworker_messages_quarantined_total`` counter (a plain dict, no locking: backends
    add to it on the event loop)."""

    __slots__ = ("by_queue",)

    def __init__(self) -> None:
        self.by_queue: dict[str, int] = {}

    def add(self, queue: str, count: int = 1) -> None:
        self.by_queue[queue] = self.by_queue.get(queue, 0) + count

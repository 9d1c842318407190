"""Message-level types of the backend contract: what is sent, received, peeked, quarantined, and
the per-entry results of SQS's batch calls.

Their fields follow SQS's shapes (``SendMessageBatchRequestEntry``, ``Message``,
``BatchResultErrorEntry``) so the SQS backend and ``qworker serve`` map them one to one;
:mod:`qworker.backend` re-exports them with the protocol itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MessageState = Literal["visible", "in_flight", "delayed"]


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

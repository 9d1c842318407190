"""Queue-level types of the backend contract: a queue's spec (SQS's attributes), its counts and
identifiers, a redrive's outcome and what a backend can do (:class:`Capabilities`).

They are plain frozen dataclasses with no behaviour beyond formatting SQS's attribute strings,
so that every layer (runtime, CLI, ``qworker serve``, backends) shares one vocabulary;
:mod:`qworker.backend` re-exports them with the protocol itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from qworker import arn

#: the queue attributes SQS stores and returns that qworker keeps without acting on them
#: (:attr:`QueueSpec.extra_attributes`)
EXTRA_ATTRIBUTE_NAMES = frozenset(
    {"Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}
)

#: SQS defaults (SPEC SQS-V-1, SQS-L-1..3, SQS-R-1).
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_PERIOD = 345_600
DEFAULT_MAXIMUM_MESSAGE_SIZE = 1_048_576


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

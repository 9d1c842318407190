"""SQSBackend: the backend protocol on Amazon SQS, a thin adapter over aiobotocore.

SQS does the semantics (visibility, receive counts, dead-lettering, FIFO groups, deduplication);
this package only maps calls and handles the API's limits:

* ReceiveMessage returns at most 10 messages and long-polls at most 20 s. ``receive`` asks for up
  to 10 with a long poll, and when that call comes back full (a backlog) fetches the rest with
  short polls issued concurrently, 10 messages each; a wait longer than 20 s is several long polls.
  It returns as soon as at least one message arrived; it never waits to fill the batch.
* The ``*Batch`` calls take at most 10 entries (and SendMessageBatch at most 1 MiB in total):
  bigger calls are split. Entries SQS reports with ``SenderFault: false`` are retried a few times
  with back-off inside the call; what still fails is returned, per entry, with SQS's code and
  ``sender_fault`` as SQS said (the runtime retries those again).
* Sends are validated against the queue's attributes (:func:`qworker.limits.check_send_entry`)
  before SQS sees them, so a bad entry fails alone with the same code on every backend, and one
  bad entry never fails a whole SQS batch.
* Timeouts are whole seconds on SQS: visibility timeouts are rounded *up* (``math.ceil``).

What SQS cannot do is said in :attr:`SQSBackend.capabilities`: no ``peek`` (SQS cannot look at a
message without receiving it), no fenced receipt handles (a stale delete "succeeds" on SQS,
SQS-RH-1), no stored failure notes (``record_failures`` is a no-op).

The class is the public entry point; the work is done by one module per concern, each a
function of the backend's :class:`~qworker_sqs.client.SQSClient` (connection, errors, queue
references): :mod:`~qworker_sqs.admin` (queues), :mod:`~qworker_sqs.send`,
:mod:`~qworker_sqs.receive`, :mod:`~qworker_sqs.acks` (delete, change visibility),
:mod:`~qworker_sqs.batches` (the ``*Batch`` calls), :mod:`~qworker_sqs.redrive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qworker.backend import (
    BaseBackend,
    BatchEntryError,
    Capabilities,
    FailureNote,
    PeekedMessage,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    VisibilityChange,
)
from qworker.errors import UnsupportedOperation
from qworker_sqs import acks, admin, convert, redrive, send
from qworker_sqs import receive as receiving
from qworker_sqs.client import SQSClient
from qworker_sqs.queues import QueueRef
from qworker_sqs.receive import MAX_RECEIVE
from qworker_sqs.url import SQSSettings, parse_url


class SQSBackend(BaseBackend):
    """The ``sqs://`` backend. See the module docstring and :mod:`qworker_sqs.url` for options."""

    capabilities = Capabilities(
        max_receive_batch=MAX_RECEIVE,
        peek=False,
        fenced_receipts=False,
        records_failures=False,
        timeout_resolution=1,
        records=False,
    )

    def __init__(self, url: str = "sqs://", *, settings: SQSSettings | None = None) -> None:
        self._sqs = SQSClient(settings if settings is not None else parse_url(url))

    @classmethod
    def from_url(cls, url: str) -> SQSBackend:
        return cls(url)

    def reopened(self) -> SQSBackend:
        return type(self)(settings=self._sqs.settings)

    # -- the connection and queue references (SQSClient's, public for tools and tests) ----------

    @property
    def display_url(self) -> str:
        return self._sqs.display_url

    @property
    def settings(self) -> SQSSettings:
        return self._sqs.settings

    @property
    def endpoint_url(self) -> str:
        """The endpoint the client talks to (after botocore's resolution)."""
        return self._sqs.endpoint_url

    @property
    def region(self) -> str:
        return self._sqs.region

    @property
    def move_tasks_supported(self) -> bool | None:
        """None until the first redrive finds out whether the endpoint has StartMessageMoveTask."""
        return self._sqs.move_tasks_supported

    async def connect(self) -> None:
        """Make the session and client, then check that SQS answers and accepts the credentials
        (see :meth:`~qworker_sqs.client.SQSClient.connect`)."""
        await self._sqs.connect()

    async def close(self) -> None:
        await self._sqs.close()

    async def call(self, operation: str, queue: str | None, **params: Any) -> dict[str, Any]:
        """One SQS API call (``operation`` in SQS's spelling), errors translated to qworker's."""
        return await self._sqs.call(operation, queue, **params)

    async def ref(self, queue: str) -> QueueRef:
        """The queue's URL (GetQueueUrl once per name; a URL is used as given)."""
        return await self._sqs.ref(queue)

    async def resolved_arn(self, queue: str) -> str:
        """The queue's real ``QueueArn`` (GetQueueAttributes once, then cached)."""
        return await self._sqs.resolved_arn(queue)

    def queue_arn(self, queue: str) -> str:
        """The queue's real ARN, as SQS reported it (SPEC EVT-7); see
        :meth:`~qworker_sqs.client.SQSClient.queue_arn` for queues not resolved yet."""
        return self._sqs.queue_arn(queue)

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        await admin.create_queue(self._sqs, spec, tags)

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        await admin.set_queue_attributes(self._sqs, queue, spec)

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        await admin.tag_queue(self._sqs, queue, tags)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        await admin.untag_queue(self._sqs, queue, keys)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        return await admin.queue_tags(self._sqs, queue)

    async def get_queue(self, queue: str) -> convert.SQSQueueInfo:
        return await admin.get_queue(self._sqs, queue)

    async def list_queues(self, prefix: str = "") -> list[str]:
        return await admin.list_queues(self._sqs, prefix)

    async def purge_queue(self, queue: str) -> None:
        await admin.purge_queue(self._sqs, queue)

    async def delete_queue(self, queue: str) -> None:
        await admin.delete_queue(self._sqs, queue)

    # -- messages -------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        return await send.send(self._sqs, queue, entries)

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        return await receiving.receive(self._sqs, queue, max_messages, wait_seconds, visibility_timeout)

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        return await acks.delete(self._sqs, queue, receipt_handles)

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        return await acks.change_visibility(self._sqs, queue, changes)

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        """StartMessageMoveTask, waited for; on endpoints without it, receive + send + delete.

        See :mod:`qworker_sqs.redrive` for both paths and when the fallback is used.
        """
        return await redrive.redrive(self._sqs, dead_letter_queue, destination, max_per_second)

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        raise UnsupportedOperation(
            "Amazon SQS cannot look at messages without receiving them (which would count a receive "
            "and hide them): peek is not available on sqs://."
        )

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        """A no-op: SQS has nowhere to store a note with a message (``records_failures`` is False)."""
        return None

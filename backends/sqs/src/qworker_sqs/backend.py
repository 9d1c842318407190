"""SQSBackend: the backend protocol on Amazon SQS, a thin adapter over aiobotocore.

SQS does the semantics (visibility, receive counts, dead-lettering, FIFO groups, deduplication);
this module only maps calls and handles the API's limits:

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

Connections: one aiobotocore session and client per backend (a worker process makes one
backend), made in :meth:`connect` and reused by every call; the pool holds ``max_connections``
connections. Retries are the SDK's ``adaptive`` mode by default (exponential back-off with jitter,
and client-side rate limiting once SQS throttles); a failure that outlasts them raises
:class:`~qworker.errors.BackendUnavailable`, which the runtime retries with its own back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from qworker import arn, limits
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
    SendResult,
    VisibilityChange,
)
from qworker.errors import (
    BackendError,
    BackendUnavailable,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueNameExists,
    QWorkerError,
    UnsupportedOperation,
)
from qworker_sqs import convert, redrive
from qworker_sqs.errors import ACCESS_DENIED, error_codes, normalize_code, translate
from qworker_sqs.queues import QueueRef, arn_from_url, is_queue_url, name_from_url, partition
from qworker_sqs.url import LONG_POLL_LIMIT, SQSSettings, parse_url

log = structlog.get_logger("qworker.sqs")

T = TypeVar("T")

#: SQS's per-call limits
MAX_BATCH_ENTRIES = 10
MAX_RECEIVE = 10
MAX_BATCH_PAYLOAD = limits.MAX_MESSAGE_SIZE  #: SendMessageBatch: 1 MiB for all entries together
#: how many SQS calls one backend call runs at once (receive fan-out, batch chunks)
CALL_FANOUT = 10
#: attempts for batch entries SQS reports with SenderFault=false, and their back-off
ENTRY_ATTEMPTS = 4
ENTRY_BACKOFF_BASE, ENTRY_BACKOFF_CAP = 0.05, 1.0
#: a long poll may end this much after the wait asked for (so a 10 s wait is one 10 s long poll,
#: not a 9 s one plus a sub-second tail)
WAIT_TOLERANCE = 0.1
#: set to 1 to let botocore/aiobotocore log at DEBUG (their wire logs carry signed headers)
UNSAFE_WIRE_LOGS_ENV = "QWORKER_UNSAFE_WIRE_LOGS"

_CALL_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def _quiet_wire_logs() -> None:
    """Keep botocore's DEBUG logging (signed requests, response bodies) off unless asked for."""
    if os.environ.get(UNSAFE_WIRE_LOGS_ENV) == "1":
        return
    for name in ("botocore", "aiobotocore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(ENTRY_BACKOFF_CAP, ENTRY_BACKOFF_BASE * 2**attempt))


async def _gather_limited(calls: Sequence[Callable[[], Awaitable[T]]], limit: int = CALL_FANOUT) -> list[T]:
    """Run the calls at most ``limit`` at a time; results in order; the first exception propagates
    once every started call has finished (so no call is left running unobserved)."""
    if len(calls) == 1:
        return [await calls[0]()]
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    results = await asyncio.gather(*(run(call) for call in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


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
        self._settings = settings if settings is not None else parse_url(url)
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._refs: dict[str, QueueRef] = {}
        #: None until the first redrive finds out whether the endpoint has StartMessageMoveTask
        self.move_tasks_supported: bool | None = None

    @classmethod
    def from_url(cls, url: str) -> SQSBackend:
        return cls(url)

    def reopened(self) -> SQSBackend:
        return type(self)(settings=self._settings)

    @property
    def display_url(self) -> str:
        return self._settings.display_url

    @property
    def settings(self) -> SQSSettings:
        return self._settings

    @property
    def endpoint_url(self) -> str:
        """The endpoint the client talks to (after botocore's resolution)."""
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return self._settings.endpoint_url or "the default SQS endpoint"

    @property
    def region(self) -> str:
        if self._client is not None and self._client.meta.region_name:
            return str(self._client.meta.region_name)
        return self._settings.region or arn.region()

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Make the session and client, then check that SQS answers and accepts the credentials.

        Credentials refused (``InvalidClientTokenId``, ``SignatureDoesNotMatch``, expired tokens,
        none found) and an endpoint that cannot be reached raise
        :class:`~qworker.errors.BackendUnavailable` (exit code 3) with what to check. The check is
        a ``ListQueues`` of one queue; an ``AccessDenied`` answer to it proves the credentials
        valid (a worker's policy need not allow listing), so it is not an error.
        """
        if self._client is not None:
            return
        _quiet_wire_logs()
        settings = self._settings
        stack = contextlib.AsyncExitStack()
        try:
            session = AioSession(profile=settings.profile)
            config = AioConfig(
                retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
                max_pool_connections=settings.max_connections,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                user_agent_extra="qworker",
            )
            self._client = await stack.enter_async_context(
                session.create_client(
                    "sqs", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
                )
            )
            self._stack = stack
            if await session.get_credentials() is None:
                raise BackendUnavailable(
                    "No AWS credentials found for SQS. qworker uses the standard chain: AWS_PROFILE or "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared config files, SSO, web identity, "
                    "container or instance roles (never the backend URL)."
                )
            await self._check_access()
        except BaseException as exc:
            self._client = None
            self._stack = None
            await stack.aclose()
            if isinstance(exc, QWorkerError) or not isinstance(exc, Exception):
                raise
            raise translate(exc, operation="connect", queue=None, endpoint=self.endpoint_url) from None
        log.debug("sqs.connected", endpoint=self.endpoint_url, region=self.region)

    async def _check_access(self) -> None:
        try:
            await self._client.list_queues(MaxResults=1)
        except ClientError as exc:
            if error_codes(exc) & ACCESS_DENIED:
                log.info(
                    "sqs.list_queues_denied",
                    detail="credentials accepted; their policy does not allow sqs:ListQueues "
                    "(not needed to run)",
                )
                return
            raise

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self._client = None
        self._refs.clear()
        if stack is not None:
            await stack.aclose()

    def _require(self) -> Any:
        if self._client is None:
            raise BackendError("SQSBackend is not connected: use `async with backend:` or await connect()")
        return self._client

    async def call(self, operation: str, queue: str | None, **params: Any) -> dict[str, Any]:
        """One SQS API call (``operation`` in SQS's spelling), errors translated to qworker's."""
        client = self._require()
        method = getattr(client, _snake(operation))
        try:
            return await method(**params)
        except _CALL_ERRORS as exc:
            error = translate(exc, operation=operation, queue=queue, endpoint=self.endpoint_url)
            if isinstance(error, QueueDoesNotExist) and queue is not None:
                self._forget(queue)
            raise error from exc

    # -- queue references -----------------------------------------------------------------------

    async def ref(self, queue: str) -> QueueRef:
        """The queue's URL (GetQueueUrl once per name; a URL is used as given)."""
        if not isinstance(queue, str) or not queue:
            raise InvalidParameterValue(f"A queue name or URL is needed, not {queue!r}.")
        known = self._refs.get(queue)
        if known is not None:
            return known
        if is_queue_url(queue):
            ref = QueueRef(name_from_url(queue), queue)
        else:
            response = await self.call("GetQueueUrl", queue, QueueName=queue)
            ref = QueueRef(queue, response["QueueUrl"])
        self._refs[queue] = ref
        return ref

    def _forget(self, queue: str) -> None:
        name = name_from_url(queue) if is_queue_url(queue) else queue
        for key, ref in list(self._refs.items()):
            if key == queue or ref.name == name:
                del self._refs[key]

    async def load(self, ref: QueueRef, queue: str) -> dict[str, str]:
        """GetQueueAttributes(All); refreshes the cached spec and ARN."""
        response = await self.call("GetQueueAttributes", queue, QueueUrl=ref.url, AttributeNames=["All"])
        attrs: dict[str, str] = response.get("Attributes", {})
        if "QueueArn" not in attrs:
            raise BackendError(f"SQS returned no QueueArn for {queue!r}")
        ref.remember(convert.queue_spec(ref.name, attrs), attrs["QueueArn"])
        return attrs

    async def spec(self, ref: QueueRef, queue: str) -> QueueSpec:
        """The queue's attributes, cached for a minute (they change rarely; used to validate sends)."""
        if not ref.spec_is_fresh():
            await self.load(ref, queue)
        assert ref.spec is not None
        return ref.spec

    async def resolved_arn(self, queue: str) -> str:
        """The queue's real ``QueueArn`` (GetQueueAttributes once, then cached)."""
        ref = await self.ref(queue)
        if ref.arn is None:
            await self.load(ref, queue)
        assert ref.arn is not None
        return ref.arn

    def queue_arn(self, queue: str) -> str:
        """The queue's real ARN, as SQS reported it (SPEC EVT-7).

        The protocol makes this synchronous, so the ARN is resolved ahead: ``get_queue``,
        ``create_queue`` and every call that reads the queue's attributes cache SQS's
        ``QueueArn`` (the runtime calls ``get_queue`` before it asks). For a queue not seen yet
        the ARN is derived from its URL (``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``), and
        only for a queue never resolved at all is it qworker's synthesized ARN with the client's
        region.
        """
        ref = self._refs.get(queue)
        if ref is None and not is_queue_url(queue):
            ref = next((r for r in self._refs.values() if r.name == queue), None)
        if ref is not None and ref.arn is not None:
            return ref.arn
        url = ref.url if ref is not None else (queue if is_queue_url(queue) else None)
        if url is not None:
            derived = arn_from_url(url, self.region)
            if derived is not None:
                return derived
        name = name_from_url(queue) if is_queue_url(queue) else queue
        region = self.region
        return f"arn:{partition(region)}:sqs:{region}:{arn.account_id()}:{name}"

    # -- queues ---------------------------------------------------------------------------------

    async def _dead_letter_target(self, spec: QueueSpec) -> str | None:
        """The real ARN of the spec's dead-letter queue (which must exist: SQS's CreateQueue does
        not check it, the protocol does)."""
        policy = spec.redrive_policy
        if policy is None:
            return None
        try:
            return await self.resolved_arn(policy.dead_letter_queue)
        except QueueDoesNotExist:
            raise InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not "
                f"exist: {policy.dead_letter_queue!r}."
            ) from None

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        """CreateQueue with every attribute given; see :meth:`Backend.create_queue`.

        The dead-letter queue must exist, and an existing queue is compared with the spec first
        (:func:`~qworker_sqs.convert.same_attributes`), so a queue created with different
        attributes is :class:`~qworker.errors.QueueNameExists` even where SQS would only compare
        the attributes sent, and its tags are left alone (CreateQueue's ``tags`` are sent only
        when the queue is made). Fractional seconds are rounded up (SQS stores whole seconds).
        """
        limits.validate_queue_spec(spec)
        initial = limits.check_tags(tags or {})
        target_arn = await self._dead_letter_target(spec)
        wanted = convert.normalized_spec(spec)
        try:
            existing = await self.get_queue(spec.name)
        except QueueDoesNotExist:
            existing = None
        if existing is not None:
            if not convert.same_attributes(existing.spec, wanted):
                raise QueueNameExists(
                    f"A queue named {spec.name!r} already exists with different attributes "
                    f"(it has {existing.spec}, asked for {wanted})."
                )
            return
        params: dict[str, Any] = {
            "QueueName": spec.name,
            "Attributes": convert.queue_attributes(spec, target_arn),
        }
        if initial:
            params["tags"] = initial
        response = await self.call("CreateQueue", spec.name, **params)
        ref = QueueRef(spec.name, response["QueueUrl"])
        self._refs[spec.name] = ref
        await self.load(ref, spec.name)

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        """SetQueueAttributes with every attribute of ``spec`` (``RedrivePolicy`` ``""`` removes
        one; an extra attribute the queue has and the spec does not goes back to SQS's default:
        ``""`` for ``Policy``, ``RedriveAllowPolicy`` and ``KmsMasterKeyId``); ``queue`` may be a
        name or a URL (``spec.name`` is its name).

        SQS itself takes up to 60 s to apply a change everywhere (15 minutes for
        MessageRetentionPeriod), and other SQSBackend objects validate sends against attributes
        they cached for up to a minute: an entry their copy refuses is checked again against
        fresh attributes before it is reported failed, and one it allows is refused by SQS.
        """
        ref = await self.ref(queue)
        limits.check_spec_change(ref.name, spec)
        attrs = convert.queue_attributes(spec, await self._dead_letter_target(spec))
        attrs.pop("FifoQueue", None)  # set at creation only
        if spec.redrive_policy is None:
            attrs["RedrivePolicy"] = ""
        current = await self.load(ref, queue)
        for name, default in (
            ("Policy", ""),
            ("RedriveAllowPolicy", ""),
            ("KmsMasterKeyId", ""),
            ("KmsDataKeyReusePeriodSeconds", "300"),
            # SSE-SQS is SQS's default, but not with a KMS key (one encryption per queue)
            ("SqsManagedSseEnabled", "false" if "KmsMasterKeyId" in attrs else "true"),
        ):
            if name not in attrs and current.get(name, default) != default:
                attrs[name] = default
        await self.call("SetQueueAttributes", queue, QueueUrl=ref.url, Attributes=attrs)
        await self.load(ref, queue)

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        """TagQueue; the 50-tag limit is checked against the queue's tags first (ListQueueTags)."""
        limits.check_tags(tags)
        if not tags:
            return
        limits.check_tags(tags, await self.queue_tags(queue))
        ref = await self.ref(queue)
        await self.call("TagQueue", queue, QueueUrl=ref.url, Tags=dict(tags))

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        doomed = limits.check_tag_keys(keys)
        ref = await self.ref(queue)
        if doomed:
            await self.call("UntagQueue", queue, QueueUrl=ref.url, TagKeys=doomed)
        else:  # SQS wants at least one key; an empty untag still says whether the queue exists
            await self.call("ListQueueTags", queue, QueueUrl=ref.url)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        ref = await self.ref(queue)
        response = await self.call("ListQueueTags", queue, QueueUrl=ref.url)
        return {str(key): str(value) for key, value in (response.get("Tags") or {}).items()}

    async def get_queue(self, queue: str) -> convert.SQSQueueInfo:
        """GetQueueAttributes(All): the spec, approximate counts and the real ARN."""
        ref = await self.ref(queue)
        attrs = await self.load(ref, queue)
        return convert.queue_info(ref.name, attrs)

    async def list_queues(self, prefix: str = "") -> list[str]:
        """ListQueues, every page; names sorted."""
        names: list[str] = []
        params: dict[str, Any] = {"MaxResults": 1000}
        if prefix:
            params["QueueNamePrefix"] = prefix
        while True:
            response = await self.call("ListQueues", None, **params)
            names.extend(name_from_url(url) for url in response.get("QueueUrls", []))
            token = response.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
        return sorted(names)

    async def purge_queue(self, queue: str) -> None:
        """PurgeQueue. SQS allows one purge per queue every 60 seconds
        (:class:`~qworker.errors.PurgeQueueInProgress`)."""
        ref = await self.ref(queue)
        await self.call("PurgeQueue", queue, QueueUrl=ref.url)

    async def delete_queue(self, queue: str) -> None:
        """DeleteQueue. (On AWS the name can be reused only 60 seconds later.)"""
        ref = await self.ref(queue)
        await self.call("DeleteQueue", queue, QueueUrl=ref.url)
        self._forget(queue)

    # -- send -----------------------------------------------------------------------------------

    async def send(self, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
        """SendMessageBatch in chunks of at most 10 entries and 1 MiB; see :meth:`Backend.send`.

        Standard queues send their chunks concurrently. FIFO queues send them one after the
        other (SQS-F-5: the entries of one call are enqueued in order); once a chunk fails as a
        whole, or keeps an entry that may succeed on retry, the entries after it are not sent
        (reported failed, ``sender_fault`` False), so no message overtakes one sent before it.
        (Within one chunk SQS decides: an entry retried here lands after the chunk's others.)
        """
        entries = list(entries)
        ids = limits.entry_ids(entries)
        ref = await self.ref(queue)
        if not entries:
            return SendBatchResult([], [])
        cached = ref.spec_is_fresh()
        spec = await self.spec(ref, queue)
        failed, valid = _validate(ids, entries, spec)
        if failed and cached:
            # the cached attributes may be behind a SetQueueAttributes that allows these entries
            await self.load(ref, queue)
            assert ref.spec is not None
            failed, valid = _validate(ids, entries, ref.spec)
        chunks = _size_chunks(valid)
        ok, entry_failures = await self._run_batches("SendMessageBatch", queue, ref, chunks, ordered=ref.fifo)
        failed.extend(entry_failures)
        by_id = {item["Id"]: convert.send_result(item) for item in ok}
        successful: list[SendResult] = [by_id[entry_id] for entry_id in ids if entry_id in by_id]
        position = {entry_id: index for index, entry_id in enumerate(ids)}
        failed.sort(key=lambda f: position.get(f.id, len(ids)))
        return SendBatchResult(successful, failed)

    # -- receive --------------------------------------------------------------------------------

    async def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> list[ReceivedMessage]:
        """ReceiveMessage, as often as needed; see :meth:`Backend.receive`.

        ``wait_seconds=None`` leaves the wait to the queue's ``ReceiveMessageWaitTimeSeconds``
        (one ReceiveMessage without ``WaitTimeSeconds``). Otherwise whole seconds are long polls
        of at most 20 s each; a fraction of a second left at the end is waited out locally and
        followed by one short poll, so the call returns no later than asked (give or take
        ``WAIT_TOLERANCE``). A cancelled receive
        may leave messages SQS already handed out hidden until their visibility timeout, as any
        SQS consumer would.
        """
        limits.check_max_messages(max_messages)
        if wait_seconds is not None and (math.isnan(wait_seconds) or wait_seconds < 0):
            raise InvalidParameterValue(f"wait_seconds must be 0 or more, not {wait_seconds!r}")
        visibility = None
        if visibility_timeout is not None:
            error = limits.check_visibility_timeout(visibility_timeout)
            if error is not None:
                raise InvalidParameterValue(error)
            visibility = convert.whole_seconds(visibility_timeout)
        ref = await self.ref(queue)
        first = min(MAX_RECEIVE, max_messages)
        if wait_seconds is None:
            got = await self._receive_once(ref, queue, first, None, visibility)
        else:
            got = await self._long_poll(ref, queue, first, wait_seconds, visibility)
        if len(got) == first < max_messages:
            got += await self._receive_backlog(ref, queue, max_messages - first, visibility)
        return got

    async def _long_poll(
        self, ref: QueueRef, queue: str, count: int, wait: float, visibility: int | None
    ) -> list[ReceivedMessage]:
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            poll = min(LONG_POLL_LIMIT, int(remaining + WAIT_TOLERANCE))
            got = await self._receive_once(ref, queue, count, poll, visibility)
            if got:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if poll == 0:  # under a second left: SQS waits whole seconds, so wait here, look once more
                await asyncio.sleep(remaining)
                return await self._receive_once(ref, queue, count, 0, visibility)

    async def _receive_backlog(
        self, ref: QueueRef, queue: str, wanted: int, visibility: int | None
    ) -> list[ReceivedMessage]:
        """More messages after a full first receive: short polls of 10, up to CALL_FANOUT at once,
        round after round while every call comes back full."""
        got: list[ReceivedMessage] = []
        while wanted > 0:
            sizes = [
                min(MAX_RECEIVE, wanted - MAX_RECEIVE * i) for i in range(math.ceil(wanted / MAX_RECEIVE))
            ]
            sizes = sizes[:CALL_FANOUT]
            results = await asyncio.gather(
                *(self._receive_once(ref, queue, size, 0, visibility) for size in sizes),
                return_exceptions=True,
            )
            full = True
            for size, result in zip(sizes, results, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    # messages already received are returned rather than left hidden; the error
                    # will show again on the next receive if it lasts
                    log.warning("sqs.receive_failed", queue=queue, error=str(result), kept=len(got))
                    full = False
                    continue
                got.extend(result)
                wanted -= len(result)
                full = full and len(result) == size
            if not full:
                break
        return got

    async def _receive_once(
        self, ref: QueueRef, queue: str, count: int, wait: int | None, visibility: int | None
    ) -> list[ReceivedMessage]:
        params: dict[str, Any] = {
            "QueueUrl": ref.url,
            "MaxNumberOfMessages": count,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if wait is not None:
            params["WaitTimeSeconds"] = wait
        if visibility is not None:
            params["VisibilityTimeout"] = visibility
        if ref.fifo:  # an SDK retry after a lost response gets the same messages, not a locked group
            params["ReceiveRequestAttemptId"] = uuid.uuid4().hex
        response = await self.call("ReceiveMessage", queue, **params)
        return [convert.received_message(m) for m in response.get("Messages", ())]

    # -- delete / change visibility -------------------------------------------------------------

    async def delete(self, queue: str, receipt_handles: Sequence[str]) -> list[BatchEntryError]:
        """DeleteMessageBatch in chunks of 10, run concurrently; see :meth:`Backend.delete`.

        SQS decides: a handle whose message is gone succeeds, a stale one "succeeds" (it may or
        may not delete, SQS-RH-1; ``capabilities.fenced_receipts`` is False), a malformed one or
        another queue's is ``ReceiptHandleIsInvalid``. A handle given twice is sent once.
        """
        handles = list(dict.fromkeys(receipt_handles))
        failed: list[BatchEntryError] = []
        entries: list[dict[str, Any]] = []
        for handle in handles:
            if not isinstance(handle, str) or not handle:
                failed.append(
                    BatchEntryError(str(handle), "ReceiptHandleIsInvalid", "The receipt handle is empty.")
                )
            else:
                entries.append({"Id": str(len(entries)), "ReceiptHandle": handle})
        if not entries:
            return failed
        ref = await self.ref(queue)
        by_id = {e["Id"]: e["ReceiptHandle"] for e in entries}
        chunks = [entries[i : i + MAX_BATCH_ENTRIES] for i in range(0, len(entries), MAX_BATCH_ENTRIES)]
        _, entry_failures = await self._run_batches("DeleteMessageBatch", queue, ref, chunks)
        failed.extend(_keyed_by(entry_failures, by_id))
        return failed

    async def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> list[BatchEntryError]:
        """ChangeMessageVisibilityBatch in chunks of 10; see :meth:`Backend.change_visibility`.

        Timeouts outside 0..43200 s fail here (``InvalidParameterValue``) without a call; others
        are rounded up to whole seconds. SQS reports ``MessageNotInflight`` and
        ``ReceiptHandleIsInvalid`` (normalized from ``AWS.SimpleQueueService.*``).
        """
        failed: list[BatchEntryError] = []
        entries: list[dict[str, Any]] = []
        for change in changes:
            handle = change.receipt_handle
            if not isinstance(handle, str) or not handle:
                failed.append(
                    BatchEntryError(str(handle), "ReceiptHandleIsInvalid", "The receipt handle is empty.")
                )
                continue
            error = limits.check_visibility_timeout(change.visibility_timeout)
            if error is not None:
                failed.append(BatchEntryError(handle, "InvalidParameterValue", error))
                continue
            entries.append(
                {
                    "Id": str(len(entries)),
                    "ReceiptHandle": handle,
                    "VisibilityTimeout": convert.whole_seconds(change.visibility_timeout),
                }
            )
        if not entries:
            return failed
        ref = await self.ref(queue)
        by_id = {e["Id"]: e["ReceiptHandle"] for e in entries}
        chunks = [entries[i : i + MAX_BATCH_ENTRIES] for i in range(0, len(entries), MAX_BATCH_ENTRIES)]
        _, entry_failures = await self._run_batches("ChangeMessageVisibilityBatch", queue, ref, chunks)
        failed.extend(_keyed_by(entry_failures, by_id))
        return failed

    # -- batch calls ----------------------------------------------------------------------------

    async def _run_batches(
        self,
        operation: str,
        queue: str,
        ref: QueueRef,
        chunks: list[list[dict[str, Any]]],
        *,
        ordered: bool = False,
    ) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
        """Run a ``*Batch`` operation over chunks; (successful result entries, failed entries).

        A chunk whose call fails as a whole after the SDK's retries (``BackendUnavailable``) turns
        into per-entry failures with ``sender_fault`` False, so what other chunks did is not
        lost; when every chunk failed that way the error is raised instead. With ``ordered``,
        chunks run one after the other and the first whole failure fails every later entry too.
        """
        if not chunks:
            return [], []
        ok: list[dict[str, Any]] = []
        failed: list[BatchEntryError] = []
        outages: list[BackendUnavailable] = []
        unsent = 0
        if ordered:
            for index, chunk in enumerate(chunks):
                try:
                    chunk_ok, chunk_failed = await self._run_chunk(operation, queue, ref, chunk)
                except BackendUnavailable as exc:
                    outages.append(exc)
                    later = [entry for rest in chunks[index:] for entry in rest]
                    failed.extend(_unsent(later, exc))
                    unsent += len(later)
                    break
                ok.extend(chunk_ok)
                failed.extend(chunk_failed)
                transient = next((f for f in chunk_failed if not f.sender_fault), None)
                if transient is not None and index + 1 < len(chunks):
                    # an entry that may succeed later must not be overtaken by the ones after it
                    later = [entry for rest in chunks[index + 1 :] for entry in rest]
                    failed.extend(
                        BatchEntryError(
                            entry["Id"],
                            transient.code,
                            "Not sent: an earlier entry of this FIFO send failed, and sending the "
                            "later ones would put them before it.",
                            sender_fault=False,
                        )
                        for entry in later
                    )
                    break
        else:

            async def run(chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
                nonlocal unsent
                try:
                    return await self._run_chunk(operation, queue, ref, chunk)
                except BackendUnavailable as exc:
                    outages.append(exc)
                    unsent += len(chunk)
                    return [], _unsent(chunk, exc)

            for chunk_ok, chunk_failed in await _gather_limited([lambda c=c: run(c) for c in chunks]):
                ok.extend(chunk_ok)
                failed.extend(chunk_failed)
        if outages and unsent == sum(len(chunk) for chunk in chunks):
            raise outages[0]  # nothing reached SQS: the whole call failed
        return ok, failed

    async def _run_chunk(
        self, operation: str, queue: str, ref: QueueRef, chunk: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[BatchEntryError]]:
        """One chunk of at most 10 entries; entries SQS says may succeed on retry are retried.

        A server that refuses a whole batch for one entry (``InvalidParameterValue``: moto does,
        for a message over the queue's MaximumMessageSize or a FIFO entry without a
        deduplication id) gets the entries one by one, so that entry fails alone."""
        pending = chunk
        ok: list[dict[str, Any]] = []
        failed: list[BatchEntryError] = []
        for attempt in range(ENTRY_ATTEMPTS):
            try:
                response = await self.call(operation, queue, QueueUrl=ref.url, Entries=pending)
            except InvalidParameterValue as exc:
                if operation != "SendMessageBatch":
                    raise
                if len(pending) == 1:
                    failed.append(BatchEntryError(pending[0]["Id"], exc.code, str(exc)))
                    return ok, failed
                for entry in pending:
                    one_ok, one_failed = await self._run_chunk(operation, queue, ref, [entry])
                    ok.extend(one_ok)
                    failed.extend(one_failed)
                return ok, failed
            ok.extend(response.get("Successful", ()))
            by_id = {entry["Id"]: entry for entry in pending}
            retry: list[dict[str, Any]] = []
            for item in response.get("Failed", ()):
                sender_fault = bool(item.get("SenderFault", True))
                if not sender_fault and attempt < ENTRY_ATTEMPTS - 1 and item["Id"] in by_id:
                    retry.append(by_id[item["Id"]])
                    continue
                failed.append(
                    BatchEntryError(
                        id=item["Id"],
                        code=normalize_code(str(item.get("Code") or "InternalError")),
                        message=str(item.get("Message") or item.get("Code") or ""),
                        sender_fault=sender_fault,
                    )
                )
            if not retry:
                break
            log.info("sqs.retrying_entries", operation=operation, queue=queue, entries=len(retry))
            await asyncio.sleep(_backoff(attempt))
            pending = retry
        return ok, failed

    # -- redrive, peek, failure notes ------------------------------------------------------------

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        """StartMessageMoveTask, waited for; on endpoints without it, receive + send + delete.

        See :mod:`qworker_sqs.redrive` for both paths and when the fallback is used.
        """
        return await redrive.redrive(self, dead_letter_queue, destination, max_per_second)

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        raise UnsupportedOperation(
            "Amazon SQS cannot look at messages without receiving them (which would count a receive "
            "and hide them): peek is not available on sqs://."
        )

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        """A no-op: SQS has nowhere to store a note with a message (``records_failures`` is False)."""
        return None


def _validate(
    ids: list[str], entries: list[SendEntry], spec: QueueSpec
) -> tuple[list[BatchEntryError], list[tuple[dict[str, Any], int]]]:
    """Entries checked against the queue's attributes: the failed ones, and the request entries
    (with their sizes) of the others."""
    failed: list[BatchEntryError] = []
    valid: list[tuple[dict[str, Any], int]] = []
    for entry_id, entry in zip(ids, entries, strict=True):
        error = limits.check_send_entry(entry, entry_id, spec)
        if error is not None:
            failed.append(error)
        else:
            valid.append((convert.send_entry(entry, entry_id), limits.message_size(entry)))
    return failed, valid


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def _size_chunks(entries: list[tuple[dict[str, Any], int]]) -> list[list[dict[str, Any]]]:
    """Entries in order, cut into chunks of at most 10 entries and ``MAX_BATCH_PAYLOAD`` bytes."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry, entry_size in entries:
        if current and (len(current) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_PAYLOAD):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def _unsent(entries: list[dict[str, Any]], exc: BackendUnavailable) -> list[BatchEntryError]:
    return [BatchEntryError(entry["Id"], exc.code, str(exc), sender_fault=False) for entry in entries]


def _keyed_by(failures: list[BatchEntryError], handles: dict[str, str]) -> list[BatchEntryError]:
    """Batch failures carry the batch entry id; the protocol reports the receipt handle."""
    return [
        BatchEntryError(handles.get(f.id, f.id), f.code, f.message, sender_fault=f.sender_fault)
        for f in failures
    ]

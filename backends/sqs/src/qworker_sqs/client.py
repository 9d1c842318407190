"""The SQS connection of one backend object: the aiobotocore client, errors translated to
qworker's, and what it knows of each queue (URL, ARN, attributes).

Connections: one aiobotocore session and client per backend (a worker process makes one
backend), made in :meth:`SQSClient.connect` and reused by every call; the pool holds
``max_connections`` connections. Retries are the SDK's ``adaptive`` mode by default (exponential
back-off with jitter, and client-side rate limiting once SQS throttles); a failure that outlasts
them raises :class:`~qworker.errors.BackendUnavailable`, which the runtime retries with its own
back-off. Every operation module (:mod:`~qworker_sqs.admin`, :mod:`~qworker_sqs.send`, ...) is a
function of an :class:`SQSClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from qworker import arn
from qworker.backend import QueueSpec
from qworker.errors import (
    BackendError,
    BackendUnavailable,
    InvalidParameterValue,
    QueueDoesNotExist,
    QWorkerError,
)
from qworker_sqs import convert
from qworker_sqs.errors import ACCESS_DENIED, error_codes, translate
from qworker_sqs.queues import QueueRef, arn_from_url, is_queue_url, name_from_url, partition
from qworker_sqs.url import SQSSettings

log = structlog.get_logger("qworker.sqs")

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


class SQSClient:
    """One backend's aiobotocore client and queue references."""

    def __init__(self, settings: SQSSettings) -> None:
        self._settings = settings
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self.refs: dict[str, QueueRef] = {}  #: queue name or URL -> what is known of it
        #: None until the first redrive finds out whether the endpoint has StartMessageMoveTask
        self.move_tasks_supported: bool | None = None

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
        self.refs.clear()
        if stack is not None:
            await stack.aclose()

    def require(self) -> Any:
        if self._client is None:
            raise BackendError("SQSBackend is not connected: use `async with backend:` or await connect()")
        return self._client

    async def call(self, operation: str, queue: str | None, **params: Any) -> dict[str, Any]:
        """One SQS API call (``operation`` in SQS's spelling), errors translated to qworker's."""
        client = self.require()
        method = getattr(client, _snake(operation))
        try:
            return await method(**params)
        except _CALL_ERRORS as exc:
            error = translate(exc, operation=operation, queue=queue, endpoint=self.endpoint_url)
            if isinstance(error, QueueDoesNotExist) and queue is not None:
                self.forget(queue)
            raise error from exc

    async def ref(self, queue: str) -> QueueRef:
        """The queue's URL (GetQueueUrl once per name; a URL is used as given)."""
        if not isinstance(queue, str) or not queue:
            raise InvalidParameterValue(f"A queue name or URL is needed, not {queue!r}.")
        known = self.refs.get(queue)
        if known is not None:
            return known
        if is_queue_url(queue):
            ref = QueueRef(name_from_url(queue), queue)
        else:
            response = await self.call("GetQueueUrl", queue, QueueName=queue)
            ref = QueueRef(queue, response["QueueUrl"])
        self.refs[queue] = ref
        return ref

    def forget(self, queue: str) -> None:
        name = name_from_url(queue) if is_queue_url(queue) else queue
        for key, ref in list(self.refs.items()):
            if key == queue or ref.name == name:
                del self.refs[key]

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
        ref = self.refs.get(queue)
        if ref is None and not is_queue_url(queue):
            ref = next((r for r in self.refs.values() if r.name == queue), None)
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


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


async def dead_letter_target(client: SQSClient, spec: QueueSpec) -> str | None:
    """The real ARN of the spec's dead-letter queue (which must exist: SQS's CreateQueue does
    not check it, the protocol does)."""
    policy = spec.redrive_policy
    if policy is None:
        return None
    try:
        return await client.resolved_arn(policy.dead_letter_queue)
    except QueueDoesNotExist:
        raise InvalidParameterValue(
            "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not "
            f"exist: {policy.dead_letter_queue!r}."
        ) from None

"""``AsyncClient``: send messages and manage queues from asyncio code, over any backend URL.

The client is a thin layer over the backend protocol (:class:`~qworker.backend.Backend`): the
same backends, checks, error codes and digests as ``qworker send`` and ``qworker serve``.

Task safety. Any number of tasks may call one client at once. The backend's connections belong
to the event loop the client connected on (its first call, or ``async with``); calling it from
another loop raises ``RuntimeError`` (use one client per loop, or the thread-safe
:class:`qworker.Client`). Concurrent single ``send`` calls to one queue are *coalesced*
(:mod:`qworker.client.coalesce`): a send goes straight to the backend while few calls are
running, and the sends that would wait leave together as one batch call when a call ends, each
caller getting its own message's result. A lone sender pays nothing for it; many senders share
round trips (with 50 senders, 1.3 to 5 times the throughput of one call each on Redis and
SQLite, ``benchmarks/RESULTS.md``).
``coalesce=False`` sends each message with its own call.

Tracing. Each message carries its sender's trace (``AWSTraceHeader``, and ``traceparent`` with
OpenTelemetry): the current OpenTelemetry span when the program uses OpenTelemetry
(:func:`qworker.otel.producer_context`; ``QWORKER_OTEL=0`` turns this off), else, inside a
qworker handler, the invocation's trace header, as botocore does inside Lambda.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from qworker import limits, tracing
from qworker.backend import Backend, BatchEntryError, QueueSpec
from qworker.client.coalesce import SendCoalescer
from qworker.client.messages import Dumps, Message, messages_of, to_entry
from qworker.client.queues import queue_spec
from qworker.client.results import BatchResult
from qworker.errors import SendFailed

if TYPE_CHECKING:
    from typing import Self


class AsyncClient:
    """Send messages to qworker queues from asyncio code.

    ``async with AsyncClient.from_url("redis://localhost:6379/0") as client:
    await client.send("jobs", {"id": 1})``. Without ``async with`` the client connects on its
    first call; call :meth:`close` when done.
    """

    def __init__(self, backend: Backend, *, coalesce: bool = True, dumps: Dumps | None = None) -> None:
        """Use ``backend`` (not yet connected: the client connects and closes it). ``dumps``
        serialises bodies that are not ``str`` or ``bytes`` (default: compact JSON)."""
        self._backend = backend
        self._coalesce = coalesce
        self._dumps = dumps
        self._otel = tracing.otel_setting() is not False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batcher: SendCoalescer | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str | None = None, *, coalesce: bool = True, dumps: Dumps | None = None) -> Self:
        """A client for the backend at ``url`` (default ``$QWORKER_BACKEND``, else
        ``sqlite:///qworker.db``): ``sqlite://``, ``redis://``, ``sqs://``, any installed scheme."""
        from qworker.registry import open_backend

        return cls(open_backend(url), coalesce=coalesce, dumps=dumps)

    @property
    def backend(self) -> Backend:
        """The backend, for what the client does not wrap (peek, purge, redrive, ...)."""
        return self._backend

    # -- life cycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect now (otherwise the first call does). Raises
        :class:`~qworker.errors.BackendUnavailable` when the backend cannot be reached."""
        await self._ready()

    async def close(self) -> None:
        """Wait for sends in progress, then close the backend's connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._loop is None:
            return
        if self._batcher is not None:
            await self._batcher.close()
        await self._backend.close()

    async def __aenter__(self) -> Self:
        await self._ready()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _ready(self) -> Backend:
        loop = asyncio.get_running_loop()
        if self._loop is loop and not self._closed:
            return self._backend
        if self._closed:
            raise RuntimeError("This qworker client is closed.")
        if self._loop is not None:
            raise RuntimeError(
                "This qworker AsyncClient is bound to the event loop it connected on; make one client "
                "per event loop, or use the thread-safe qworker.Client."
            )
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._loop is None:
                await self._backend.connect()
                if self._coalesce:
                    self._batcher = SendCoalescer(self._backend)
                self._loop = loop
        return await self._ready()

    # -- sending ------------------------------------------------------------------------------

    async def send(
        self,
        queue: str,
        body: Any,
        *,
        attributes: Mapping[str, Any] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        delay: int | None = None,
        trace_header: str | None = None,
    ) -> str:
        """Send one message; returns its message id.

        ``body``: ``str``, UTF-8 ``bytes``, or a JSON-serialisable value (compact JSON).
        ``attributes``: ``{name: value}`` (str -> String, int/float/Decimal -> Number, bytes ->
        Binary, or a ``MessageAttributeValue``). ``group_id`` and ``dedup_id``: FIFO queues
        (``dedup_id`` may be left out with content-based deduplication). ``delay``: 0-900 s; by
        default the queue's ``DelaySeconds``. Raises :class:`~qworker.errors.SendFailed` (with
        SQS's code) when the queue refuses the message, and the backend's errors
        (``QueueDoesNotExist``, ``BackendUnavailable``, ...) when the call fails as a whole.
        """
        message = Message(
            body,
            attributes=attributes,
            group_id=group_id,
            dedup_id=dedup_id,
            delay=delay,
            trace_header=trace_header,
        )
        entry = to_entry(message, self._dumps, self._trace())
        backend = await self._ready()
        if self._batcher is not None:
            result = await self._batcher.send(queue, entry)
        else:
            sent = await backend.send(queue, [entry])
            result = sent.successful[0] if sent.successful else sent.failed[0]
        if isinstance(result, BatchEntryError):
            raise SendFailed(queue, result.code, result.message, sender_fault=result.sender_fault)
        return result.message_id

    async def send_batch(self, queue: str, entries: Iterable[Message | Mapping[str, Any]]) -> BatchResult:
        """Send several messages with as few backend calls as the backend allows (any number:
        SQS's 10-entry limit is the backend's to split); returns one result per message, in order.

        Entries are :class:`Message` objects or dicts with its fields (``{"body": ..., "group_id":
        ...}``). A message the queue refuses is a failed result, not an exception
        (:meth:`BatchResult.raise_for_failures` raises for the first one); a failure of the whole
        call raises. On a FIFO queue the messages are enqueued in the order given.
        """
        messages = messages_of(entries)
        trace = self._trace()
        batch = [to_entry(message, self._dumps, trace) for message in messages]
        ids = limits.entry_ids(batch)
        backend = await self._ready()
        if not batch:
            return BatchResult(queue, ())
        return BatchResult.of(queue, ids, await backend.send(queue, batch))

    def _trace(self) -> tuple[str, Mapping[str, str]] | None:
        """The sender's trace context: the current OpenTelemetry span, else the invocation's."""
        if self._otel and tracing.otel_imported():
            from qworker import otel

            context = otel.producer_context()
            if context is not None:
                return context
        header = tracing.current_trace_header()
        return (header, {}) if header is not None else None

    # -- queues -------------------------------------------------------------------------------

    async def create_queue(
        self, name: str | QueueSpec, *, tags: Mapping[str, str] | None = None, **attributes: Any
    ) -> None:
        """Create a queue; nothing happens when it exists with the same attributes (SQS CreateQueue).

        ``attributes`` use SQS's names (``VisibilityTimeout=60``, ``FifoQueue=True``,
        ``RedrivePolicy={"deadLetterTargetArn": ..., "maxReceiveCount": 5}``) or
        :class:`~qworker.backend.QueueSpec`'s fields (``visibility_timeout=60``,
        ``redrive_policy=RedrivePolicy("dlq", 5)``); a ``QueueSpec`` may be given instead of the
        name. A name ending in ``.fifo`` makes a FIFO queue. Raises
        :class:`~qworker.errors.QueueNameExists` when it exists with other attributes, and
        ``InvalidAttributeName``/``InvalidAttributeValue``/``InvalidParameterValue`` as SQS would.
        """
        spec = queue_spec(name, attributes)
        backend = await self._ready()
        await backend.create_queue(spec, tags)

    async def stats(self, queue: str) -> dict[str, str]:
        """The queue's attributes as SQS's ``GetQueueAttributes(All)`` returns them, all strings:
        ``ApproximateNumberOfMessages``, ``...NotVisible``, ``...Delayed``, ``QueueArn``,
        ``VisibilityTimeout``, ... Raises :class:`~qworker.errors.QueueDoesNotExist`."""
        backend = await self._ready()
        return (await backend.get_queue(queue)).attributes()

"""RedisBackend: SQS semantics on Redis, every state change one atomic Lua script.

The class is the public entry point; each operation lives in a module of its own, as a function
of the backend's :class:`~qworker_redis.core.Core` (its transport and cached registrations):

* :mod:`~qworker_redis.admin`: create, attributes, tags, list, purge and delete queues;
* :mod:`~qworker_redis.send`: SendMessageBatch;
* :mod:`~qworker_redis.receive`: ReceiveMessage, long polls, dead-lettering across hash slots
  (:mod:`~qworker_redis.messages` turns replies into messages: the hot path);
* :mod:`~qworker_redis.acks`: DeleteMessageBatch, ChangeMessageVisibilityBatch;
* :mod:`~qworker_redis.redrive`: StartMessageMoveTask;
* :mod:`~qworker_redis.quarantine`: RELIABILITY T16, set aside, list, restore, drop;
* :mod:`~qworker_redis.inspection`: peek, failure notes, delete by id;
* :mod:`~qworker_redis.records`: the shared record store.

See :mod:`qworker_redis.keys` for the key layout, :mod:`qworker_redis.transport` for how
commands reach Redis, and ``lua/*.lua`` for each script.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    BaseBackend,
    BatchEntryError,
    Capabilities,
    FailureNote,
    PeekedMessage,
    QuarantinedMessage,
    QueueInfo,
    QueueSpec,
    ReceivedMessage,
    RedriveResult,
    SendBatchResult,
    SendEntry,
    VisibilityChange,
)
from qworker_redis import acks, admin, inspection, quarantine, records, redrive, send
from qworker_redis import receive as receiving
from qworker_redis.connection import Settings, parse_url
from qworker_redis.core import Core
from qworker_redis.queues import QueueRef

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster


class RedisBackend(BaseBackend):
    """The ``redis://``, ``rediss://`` and ``redis+cluster://`` backend.

    ``clock_offset`` is a test hook (never read from a URL): seconds added to Redis's clock in
    every script, so a test can jump past the 5-minute deduplication window or the retention
    period. Production leaves it ``None`` (offset 0).
    """

    capabilities = Capabilities(
        max_receive_batch=10_000,
        peek=True,
        fenced_receipts=True,
        records_failures=True,
        timeout_resolution=0.001,
        delete_by_id=True,
        quarantine=True,
    )

    def __init__(
        self, url: str = "redis://localhost:6379/0", *, clock_offset: Callable[[], float] | None = None
    ):
        self._url = url
        self._clock_offset = clock_offset
        self._core = Core(parse_url(url), clock_offset)
        self._transport = self._core.transport
        self.give_backs = self._core.give_backs  #: receives cut short by a cancellation, giving back
        #: messages this object set aside, by queue (the worker's quarantine counter)
        self.quarantine_tally = self._core.quarantine_tally

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(url)

    def reopened(self) -> RedisBackend:
        return type(self)(self._url, clock_offset=self._clock_offset)

    @property
    def display_url(self) -> str:
        return self._core.settings.display_url

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        await self._transport.connect()

    async def close(self) -> None:
        await self.give_backs.wait()  # receives cut short by a stop give their messages back first
        await self._transport.close()

    # -- for tests and tools: the parts below the protocol --------------------------------------

    @property
    def _settings(self) -> Settings:
        return self._core.settings

    @property
    def _cluster(self) -> bool:
        return self._core.cluster

    @property
    def _refs(self) -> dict[str, QueueRef]:
        """The registrations this object has cached, by queue name."""
        return self._core.refs

    def _require(self) -> Redis | RedisCluster:
        """A redis-py client on the same server (raises when not connected): for tests and tools
        that want redis-py's API; the backend itself does not use it on a single node."""
        return self._transport.client

    async def _call(self, *args: Any, **kwargs: Any) -> Any:
        """One plain command through redis-py (its reply parsing: ``INFO`` as a dict, ...), with
        the backend's retries and error classes: for tests and tools."""
        client = self._require()
        return await self._transport.retrying(lambda: client.execute_command(*args, **kwargs))

    def ready_list_key(self, queue: str) -> str:
        """The key a KEDA ``redis`` scaler should count with LLEN (standard queues; queue must be
        known to this process, e.g. after ``get_queue``)."""
        return self._core.refs[queue].keys.ready.decode()

    # -- queues ---------------------------------------------------------------------------------

    async def create_queue(self, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
        await admin.create_queue(self._core, spec, tags)

    async def get_queue(self, queue: str) -> QueueInfo:
        return await admin.get_queue(self._core, queue)

    async def set_queue_attributes(self, queue: str, spec: QueueSpec) -> None:
        await admin.set_queue_attributes(self._core, queue, spec)

    async def tag_queue(self, queue: str, tags: Mapping[str, str]) -> None:
        await admin.tag_queue(self._core, queue, tags)

    async def untag_queue(self, queue: str, keys: Sequence[str]) -> None:
        await admin.untag_queue(self._core, queue, keys)

    async def queue_tags(self, queue: str) -> dict[str, str]:
        return await admin.queue_tags(self._core, queue)

    async def list_queues(self, prefix: str = "") -> list[str]:
        return await admin.list_queues(self._core, prefix)

    async def purge_queue(self, queue: str) -> None:
        await admin.purge_queue(self._core, queue)

    async def delete_queue(self, queue: str) -> None:
        await admin.delete_queue(self._core, queue)

    # -- messages: the hot path --------------------------------------------------------------
    # These four return the operation's coroutine instead of awaiting it in one of their own:
    # callers await them all the same, and each call saves a coroutine frame (~0.2 µs).

    def send(self, queue: str, entries: Sequence[SendEntry]) -> Coroutine[Any, Any, SendBatchResult]:
        return send.send(self._core, queue, entries)

    def receive(
        self,
        queue: str,
        max_messages: int = 1,
        wait_seconds: float | None = None,
        visibility_timeout: float | None = None,
    ) -> Coroutine[Any, Any, list[ReceivedMessage]]:
        return receiving.receive(self._core, queue, max_messages, wait_seconds, visibility_timeout)

    def delete(
        self, queue: str, receipt_handles: Sequence[str]
    ) -> Coroutine[Any, Any, list[BatchEntryError]]:
        return acks.delete(self._core, queue, receipt_handles)

    def change_visibility(
        self, queue: str, changes: Sequence[VisibilityChange]
    ) -> Coroutine[Any, Any, list[BatchEntryError]]:
        return acks.change_visibility(self._core, queue, changes)

    async def redrive(
        self, dead_letter_queue: str, destination: str | None = None, max_per_second: int | None = None
    ) -> RedriveResult:
        return await redrive.redrive(self._core, dead_letter_queue, destination, max_per_second)

    # -- inspection -----------------------------------------------------------------------------

    async def peek(self, queue: str, max_messages: int = 10) -> list[PeekedMessage]:
        return await inspection.peek(self._core, queue, max_messages)

    async def record_failures(self, queue: str, notes: Sequence[FailureNote]) -> None:
        await inspection.record_failures(self._core, queue, notes)

    async def delete_by_id(self, queue: str, message_ids: Sequence[str]) -> list[str]:
        return await inspection.delete_by_id(self._core, queue, message_ids)

    # -- quarantine (RELIABILITY T16) -----------------------------------------------------------

    async def quarantined(
        self, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
    ) -> list[QuarantinedMessage]:
        return await quarantine.quarantined(self._core, queue, max_messages)

    async def restore_quarantined(
        self,
        queue: str,
        message_ids: Sequence[str],
        destination: str | None = None,
        *,
        body_only: bool = False,
    ) -> list[BatchEntryError]:
        return await quarantine.restore_quarantined(
            self._core, queue, message_ids, destination, body_only=body_only
        )

    async def drop_quarantined(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        return await quarantine.drop_quarantined(self._core, queue, message_ids)

    # -- the shared record store ----------------------------------------------------------------

    async def put_record(
        self, kind: str, key: str, value: Mapping[str, Any], ttl_seconds: float | None
    ) -> None:
        await records.put_record(self._core, kind, key, value, ttl_seconds)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        return await records.get_record(self._core, kind, key)

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        return await records.list_records(self._core, kind)

    async def delete_record(self, kind: str, key: str) -> bool:
        return await records.delete_record(self._core, kind, key)


__all__ = ["RedisBackend"]

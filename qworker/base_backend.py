"""Shared plumbing for backend classes: the async context manager, ARNs and the optional
methods a backend without the capability answers with ``UnsupportedOperation``.

A backend subclasses :class:`BaseBackend` and implements :class:`qworker.backend.Backend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from qworker import arn
from qworker.message_types import (
    DEFAULT_QUARANTINE_LIST,
    BatchEntryError,
    FailureNote,
    PeekedMessage,
    QuarantinedMessage,
)
from qworker.queue_types import Capabilities

if TYPE_CHECKING:
    from typing import Self


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

    def reopened(self) -> BaseBackend | None:
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

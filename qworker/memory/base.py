"""What every part of the ``memory://`` backend shares: its store, its clock, queue lookup."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

from qworker.backend import Backend, BaseBackend, Capabilities, QuarantineTally
from qworker.errors import QueueDoesNotExist
from qworker.memory.store import MemoryQueue, Store, StoredMessage
from qworker.safe_receive import GiveBacks


class MemoryBase(BaseBackend):
    """The state and helpers the parts of :class:`~qworker.memory.MemoryBackend` build on.

    ``clock`` returns epoch seconds (tests move it). ``store`` is the store to be a client of;
    by default a new, private one. ``share_with`` is another backend whose store to share (how
    the conformance suite makes a second client of the same store).
    """

    capabilities = Capabilities(delete_by_id=True, quarantine=True)

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        store: Store | None = None,
        share_with: MemoryBase | None = None,
    ) -> None:
        self.clock = clock
        if share_with is not None:
            store = share_with.store
        self.store = store if store is not None else Store()
        #: messages this object set aside, by queue (the worker's quarantine counter)
        self.quarantine_tally = QuarantineTally()
        #: always empty: a receive takes its messages in one synchronous step, so a cancelled
        #: receive has taken nothing to give back (here for callers that wait on it)
        self.give_backs = GiveBacks()

    @property
    def display_url(self) -> str:
        name = self.store.name
        return "memory://(private)" if name is None else f"memory://{name}"

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def reopened(self) -> Backend | None:
        """None: a second connection would be another client of the same store, in the same
        process, so it could not outlive a blocked event loop any better than this one. The
        visibility heartbeat then runs on the worker's loop (:class:`LoopHeartbeat`)."""
        return None

    def now_ms(self) -> int:
        """The backend's clock in epoch milliseconds."""
        return int(self.clock() * 1000)

    def visibility_ms(self, timeout: float) -> int:
        """A visibility timeout in milliseconds (SQS-V-1, V-2): how long a receive or a
        visibility change hides the message."""
        return round(timeout * 1000)

    def _queue(self, name: str) -> MemoryQueue:
        try:
            return self.store.queues[name]
        except KeyError:
            raise QueueDoesNotExist(name) from None

    def _changed(self, queue: str) -> None:
        """Something in ``queue`` changed that may make a message receivable: wake its waiting
        receivers (they look again)."""
        self.store.wakeups.notify(queue)

    def _expire(self, q: MemoryQueue, now: int) -> None:
        """SQS-L-3: messages older than the retention period are gone, in flight or not."""
        q.messages = [m for m in q.messages if m.expires_ms > now]

    def _find(self, q: MemoryQueue, message_id: str) -> StoredMessage | None:
        return next((m for m in q.messages if m.message_id == message_id), None)


def make_handle(q: MemoryQueue, message: StoredMessage) -> str:
    """A receipt handle: the queue's incarnation, the message id and this receive's token."""
    raw = f"{q.number}:{message.message_id}:{message.token}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def parse_handle(q: MemoryQueue, handle: str) -> tuple[str, str] | None:
    """(message id, token) of a handle of this queue incarnation; None when malformed or of
    another queue."""
    try:
        number, message_id, token = base64.urlsafe_b64decode(handle.encode()).decode().split(":")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if number != str(q.number):
        return None
    return message_id, token

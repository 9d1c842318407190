"""What the ``memory://`` backend keeps: plain dataclasses in plain dicts and lists, one lock.

A :class:`Store` is the whole state of one in-memory "server": its queues, its record store and
the receivers waiting on it. Several backend objects may be clients of one store, as several
processes are clients of one Redis: that is how ``memory://NAME`` lets a worker and a test's
sender, each opening the URL on its own, see the same queues (:func:`named_store`).

Every operation of :class:`~qworker.memory.MemoryBackend` runs its synchronous body under the
store's lock, so a store may be used from several threads and event loops (a worker's loop, a
sync client's, the next test's). The lock is re-entrant because a backend method may call
another one's helpers.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field

from qworker.backend import MessageAttributeValue, MessageState, QueueSpec
from qworker.errors import ConfigError
from qworker.memory.wakeups import Wakeups

#: the reason given for each kind of pretended corruption (:meth:`MemoryBackend.corrupt`)
CORRUPTION_REASONS = {"attributes": "bad-attributes:model", "body": "not-utf8:body"}

#: ``memory://NAME``: letters, digits, ``_``, ``.`` and ``-``; empty names the default store
_NAME = re.compile(r"[A-Za-z0-9_.-]{0,128}")


@dataclass
class StoredMessage:
    """One message as the store keeps it."""

    seq: int
    message_id: str
    body: str
    md5_of_body: str
    message_attributes: dict[str, MessageAttributeValue]
    md5_of_message_attributes: str | None
    sent_ms: int
    visible_at_ms: int
    expires_ms: int
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    trace_header: str | None = None
    dead_letter_source_arn: str | None = None
    receive_count: int = 0
    first_receive_ms: int | None = None
    received_at_ms: int | None = None
    token: str | None = None  #: the current receipt token; None until first received
    last_error: str | None = None
    #: what the store pretends it cannot decode (a test's :meth:`MemoryBackend.corrupt`):
    #: ``"attributes"`` or ``"body"``; such a message is quarantined instead of delivered
    corrupt: str | None = None

    def state(self, now_ms: int) -> MessageState:
        """Visible, in flight (received, hidden) or delayed (never received, hidden)."""
        if self.visible_at_ms <= now_ms:
            return "visible"
        return "in_flight" if self.receive_count > 0 else "delayed"


@dataclass
class MemoryQueue:
    """A queue: its spec and its messages in send order."""

    spec: QueueSpec
    number: int  #: this incarnation's number: handles of a deleted queue of the same name fail
    created: int
    modified: int
    messages: list[StoredMessage] = field(default_factory=list)
    #: FIFO deduplication: (scope, dedup id) -> (message id, sequence number, expiry epoch ms)
    dedup: dict[tuple[str, str], tuple[str, str | None, int]] = field(default_factory=dict)
    sequence: int = 0
    #: messages set aside (T16): (message, reason, epoch ms), oldest first
    quarantine: list[tuple[StoredMessage, str, int]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    purged_ms: int | None = None  #: when it was last purged (one purge every 60 s)


class Store:
    """One in-memory "server": queues, records, counters and waiting receivers, under one lock."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name  #: the ``memory://NAME`` it was opened as; None for a private store
        self.lock = threading.RLock()
        self.queues: dict[str, MemoryQueue] = {}
        #: kind -> key -> (JSON text, expiry in epoch ms or None)
        self.records: dict[str, dict[str, tuple[str, int | None]]] = {}
        self.numbers = itertools.count(1)  #: queue incarnation numbers
        self.seqs = itertools.count(1)  #: message order across the store
        self.wakeups = Wakeups()


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store_name(url: str) -> str:
    """The store name of a ``memory://`` URL: ``memory://`` is ``""`` (the default store),
    ``memory://NAME`` is ``NAME``. Raises ``ConfigError`` for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "memory" or not _NAME.fullmatch(rest):
        raise ConfigError(
            f"Invalid memory backend URL {url!r}: expected memory:// or memory://NAME, NAME made "
            "of at most 128 letters, digits, '_', '.' and '-'"
        )
    return rest


def named_store(name: str) -> Store:
    """The process's store called ``name``, made on first use.

    Named stores live as long as the process (or until :func:`drop_store`): a test may send
    through one backend, close it, and run a worker that opens the same URL afterwards.
    """
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = Store(name)
        return store


def drop_store(name: str) -> bool:
    """Forget the store called ``name`` (its queues, messages and records); True if there was
    one. Backends already open on it keep it; the next ``memory://NAME`` starts empty."""
    with _stores_lock:
        return _stores.pop(name, None) is not None


def store_names() -> list[str]:
    """The names of this process's stores, sorted."""
    with _stores_lock:
        return sorted(_stores)

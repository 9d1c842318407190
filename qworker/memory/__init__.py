"""``memory://``: the reference model of qworker's SQS semantics, as a real backend.

It is written to be obviously right rather than fast: plain lists and dicts, linear scans, one
rule per method, one lock. It serves four purposes:

* a backend for tests, yours included: ``memory://NAME`` is a store shared by every backend
  opened on that URL in this process, so a test's sender and an in-process worker meet there
  (``memory://`` is the default store; :func:`drop_store` forgets one);
* the reference model that stateful (hypothesis) tests compare real backends against;
* the base of the deliberately broken backends that prove the conformance suite catches bugs
  (its decisions are small overridable methods: ``is_current_holder``, ``group_is_locked``,
  ``should_dead_letter``, ...);
* a worked example for authors of third-party backends (``docs/writing-a-backend.md``).

Long polls sleep until woken (:mod:`qworker.memory.wakeups`), so an idle worker on it costs
nothing. It is one process only and keeps nothing on disk.

Layout: :mod:`~qworker.memory.store` (the data), :mod:`~qworker.memory.wakeups` (long polls),
:mod:`~qworker.memory.base` (shared helpers), :mod:`~qworker.memory.receiving`,
:mod:`~qworker.memory.handles` (delete, visibility), :mod:`~qworker.memory.operator` (redrive,
peek, quarantine), :mod:`~qworker.memory.records`, and :mod:`~qworker.memory.backend` (queues,
send, the class itself).
"""

from __future__ import annotations

from qworker.memory.backend import MemoryBackend
from qworker.memory.store import (
    CORRUPTION_REASONS,
    MemoryQueue,
    Store,
    StoredMessage,
    drop_store,
    named_store,
    store_names,
)

__all__ = [
    "CORRUPTION_REASONS",
    "MemoryBackend",
    "MemoryQueue",
    "Store",
    "StoredMessage",
    "drop_store",
    "named_store",
    "store_names",
]

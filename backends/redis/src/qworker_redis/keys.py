"""Every Redis key name the backend uses, in one place (STYLE R6.1).

Key layout
==========

All keys start with a prefix (``qworker`` unless the URL says ``?prefix=...``). Two keys are
global, the record store has two per record kind (at the end), and every other key belongs to
one queue and carries that queue's *hash tag* ``{TAG}``, so each Lua script touches a single
hash slot and runs unchanged on Redis Cluster (the two scripts that also touch the registry,
``register`` and ``unregister``, run on a single node only).

``PREFIX:queues`` (HASH, global)
    queue name -> msgpack ``{"tag", "inc", "spec"[, "tags"]}`` (the tags given at creation);
    the registry behind ``list_queues`` and the client-side cache of tags.
    ``PREFIX:incarnations`` (STRING) is the counter that numbers queue incarnations (a queue
    deleted and created again gets a new, larger one, so cached specs and receipt handles of the
    old queue are detected, and a delete of one incarnation never touches a later one). On a
    single node, creating and deleting a queue change its registry entry and its keys in one
    script (``lua/register-15.lua``, ``lua/unregister-15.lua``); on Redis Cluster, where this
    key is in another slot, see ``lua/includes/lifecycle.lua`` for the order of the two steps
    and the tombstone a delete leaves in ``meta`` (field ``dropped``, expiring after a day).

Per queue ``Q`` with tag ``T`` (``T`` is the queue's own name, or, for a queue created with a
``RedrivePolicy``, the tag of its dead-letter queue: a source and its DLQ share a slot so the
receive script can move poison messages atomically, and redrive can move them back):

=================================  ====  ========================================================
``PREFIX:{T}:Q:meta``              HASH  incarnation, attributes in ms, DLQ name, counters
                                         (``seq`` arrival/SequenceNumber, ``ghosts``, ``qn``
                                         quarantined messages); after a SetQueueAttributes
                                         ``rev`` and ``spec`` (below), ``xshift``; ``purged``
                                         (ms of the last PurgeQueue); ``tag:KEY`` -> value for
                                         each tag; ``created``, ``modified`` (s); ``wake``
                                         (ms: receives sweep retention, delays and visibility
                                         timeouts only from then on, lua/includes/base.lua);
                                         on Redis Cluster, ``dropped``: a deleted
                                         incarnation's tombstone
``PREFIX:{T}:Q:ready``             LIST  standard queues: ids of visible messages, oldest first;
                                         ``*id`` for a message received before (it has a
                                         state), so a first receive reads no state.
                                         **KEDA**: ``LLEN`` of this key is the visible backlog
``PREFIX:{T}:Q:inflight``          ZSET  id -> visibility deadline (ms, Redis clock)
``PREFIX:{T}:Q:delayed``           ZSET  id (FIFO: ``ARRIVAL:id``) -> visible-at (ms)
``PREFIX:{T}:Q:expiry``            ZSET  id -> retention deadline (ms); also the peek order
``PREFIX:{T}:Q:msgs``              HASH  id -> msgpack envelope (body, attributes, digests, ...);
                                         ``~id`` -> state ``token|count|first|received|arrival|
                                         src|group`` (absent until a standard message's first
                                         receive; see lua/includes/base.lua)
``PREFIX:{T}:Q:errors``            HASH  id -> last recorded failure text
``PREFIX:{T}:Q:notify``            LIST  wake-up tokens for long-polling receivers (``BLPOP``)
``PREFIX:{T}:Q:gmsgs``             ZSET  FIFO: every non-delayed message as
                                         ``GROUP\\0ARRIVAL\\0id`` (score 0, ordered by member)
``PREFIX:{T}:Q:groups``            ZSET  FIFO: groups ready to serve -> arrival of their head
``PREFIX:{T}:Q:gin``               HASH  FIFO: group -> number of its messages in flight
``PREFIX:{T}:Q:dedup``             HASH  FIFO: ``GROUP\\0DEDUPID`` -> ``message-id|sequence``
                                         (``GROUP`` empty unless deduplication is per group)
``PREFIX:{T}:Q:dedupx``            ZSET  FIFO: dedup field -> end of its 5-minute window (ms)
``PREFIX:{T}:Q:quarantine``        HASH  id -> ``reason|ms|raw state``; ``id\\0raw`` -> raw envelope
=================================  ====  ========================================================

A script takes only the keys of this table it touches, listed by name in its header
(``KEYS[3]  Q.inflight``; see :mod:`qworker_redis.scripts`), so ``receive-21.lua`` takes 12 of
the queue's keys and 9 of its dead-letter queue's, ``delete-10.lua`` 10, ``send-11.lua`` 11, and
only creating and dropping a queue take all 14.

Attributes change (SetQueueAttributes, ``lua/configure-2.lua``), and every client caches a
queue's registration (:class:`~qworker_redis.queues.QueueRef`, with the spec it validates sends
against and the keys of its dead-letter queue). The meta HASH is the truth: the scripts read the
attributes they act on from it (visibility timeout, retention, delay, maxReceiveCount, DLQ name),
and ``rev`` numbers the changes (absent: 0, the spec in the registry entry, which never changes
after creation), with ``spec`` the client-side spec of that revision. Send and receive pass the
revision their client holds; when it is behind they do nothing and answer ``{-3, rev, spec}``,
and the client adopts the new spec and calls again (sends are validated again first). A client
therefore never acts on a stale spec, at the cost of one compared field per call. ``get_queue``
(the counts script) returns the spec when it is newer. Retention: a message's expiry score plus
``xshift`` is when it expires; a retention change adds the difference to ``xshift``, so queued
messages follow the new period (as on SQS) without being rewritten.

A ``RedrivePolicy`` set later may name a dead-letter queue in another hash slot (its tag is kept
in the spec blob). On a single node that does not matter (a script may touch any key), and the
move stays atomic. On Redis Cluster the receive script leases such a poison message to the
client instead of moving it (in flight for 30 s, not counted), the client adds it to the DLQ
(``lua/dead_letter-9.lua``, idempotent by message id) and deletes it from the source, fenced by
the lease: at-least-once, never lost (a lease that runs out makes the message visible again, and
the next receive leases it again).

A message lives in exactly one of ``ready``/``gmsgs`` (visible or in flight on FIFO),
``inflight`` and ``delayed``; its envelope and state stay in ``msgs`` until it is
deleted, expires, is moved to the DLQ or is quarantined. (State shares the envelopes' hash:
one large hash table, instead of a second hash that, holding only the messages in flight, is
often small enough for Redis to keep as a listpack with linear-time field updates.)

A delete of a message that had already been moved back to ``ready`` leaves its id there as a
"ghost" (counted in ``meta.ghosts``) that the next receive drops, so no command ever scans a
list. Consequently ``LLEN ready`` may briefly over-count by the ghosts; ``get_queue`` does not.
FIFO queues have no ready list (their visible messages sit in ``gmsgs`` by group): autoscale
them on ``qworker queue stats`` / the Prometheus gauge instead of KEDA's ``redis`` scaler.

The shared record store (``Backend.put_record`` and its siblings: message-move tasks of
``qworker serve --workers N``, worker heartbeats) has two keys per record kind ``K``, in the hash
slot of the tag ``rec:K`` (a tag no queue can have: queue names have no ``:``):

=================================  ====  ========================================================
``PREFIX:{rec:K}:data``            HASH  key -> the value's JSON
``PREFIX:{rec:K}:exp``             ZSET  key -> expiry (ms, Redis clock); keys without a ttl
                                         are not in it
=================================  ====  ========================================================

``lua/records-2.lua`` does every operation, dropping expired records first (bounded) and never
returning one; Redis's clock decides expiry, as it does for messages.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "qworker"

#: the keys of a queue, by suffix. A script takes only the ones it touches, named in its header
#: (``KEYS[i] Q.meta``, see :mod:`qworker_redis.scripts`); creating and dropping a queue take all.
QUEUE_KEY_SUFFIXES: tuple[str, ...] = (
    "meta",
    "ready",
    "inflight",
    "delayed",
    "expiry",
    "msgs",
    "errors",
    "notify",
    "gmsgs",
    "groups",
    "gin",
    "dedup",
    "dedupx",
    "quarantine",
)
KEYS_PER_QUEUE = len(QUEUE_KEY_SUFFIXES)


def registry_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The global HASH of queue name -> registration."""
    return f"{prefix}:queues"


def incarnation_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The global counter that numbers queue incarnations."""
    return f"{prefix}:incarnations"


def record_keys(kind: str, prefix: str = DEFAULT_PREFIX) -> tuple[bytes, bytes]:
    """The HASH of values and the ZSET of expiries of one record kind (one hash slot)."""
    base = f"{prefix}:{{rec:{kind}}}:"
    return (base + "data").encode(), (base + "exp").encode()


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue, computed once per queue and reused for every call."""

    queue: str
    tag: str
    prefix: str
    all: tuple[bytes, ...]  #: every key, in QUEUE_KEY_SUFFIXES order

    @classmethod
    def build(cls, queue: str, tag: str, prefix: str = DEFAULT_PREFIX) -> QueueKeys:
        base = f"{prefix}:{{{tag}}}:{queue}:"
        return cls(queue, tag, prefix, tuple((base + suffix).encode() for suffix in QUEUE_KEY_SUFFIXES))

    def key(self, suffix: str) -> bytes:
        """One key by suffix (``"ready"``, ``"notify"``, ...)."""
        return self.all[QUEUE_KEY_SUFFIXES.index(suffix)]

    @property
    def ready(self) -> bytes:
        """The standard queue's ready LIST (what a KEDA ``redis`` scaler counts with LLEN)."""
        return self.all[1]

    @property
    def notify(self) -> bytes:
        """The LIST long-polling receivers block on."""
        return self.all[7]

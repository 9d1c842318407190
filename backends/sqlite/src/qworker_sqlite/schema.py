"""The SQLite schema and how a connection is opened (pragmas, first-time creation, version check).

Tables:

``queues``
    One row per queue: ``spec`` (the :class:`~qworker.backend.QueueSpec` as JSON), timestamps and
    ``next_sequence``, the counter FIFO sequence numbers come from. ``id`` is AUTOINCREMENT so a
    deleted and re-created queue never reuses an id: receipt handles of the old queue stay
    invalid for the new one.
``messages``
    One row per message. ``seq`` (AUTOINCREMENT: never reused, so a handle of a deleted message
    can never match a newer one) is the send order. ``visible_at`` is the epoch ms from which the
    message can be received (send time + delay, or the end of the current visibility timeout);
    ``token`` is the random part of the latest receipt handle (NULL until the first receive; a
    handle whose token differs is stale); ``expires_at`` is the end of retention. ``body`` and
    ``attrs`` (msgpack) are here when they are small (:data:`INLINE_LIMIT`), else NULL.
``bodies``
    Bodies and attributes of larger messages, keyed by ``seq``, written once and deleted with
    the message (trigger ``messages_drop_body``). A message row is rewritten on every receive
    and visibility change; a large body inline would be copied into the WAL each time (a 64 KiB
    body: 5x slower receives), while a small one is cheaper inline than in a second table.
``fifo_groups``
    FIFO only: one row per message group that has messages, with ``available_at`` = the later of
    the group head's ``visible_at`` and the ``visible_at`` of every received message of the group.
    A group can deliver iff ``available_at <= now``, so a FIFO receive reads only the groups that
    can deliver (index ``fifo_groups_ready``) instead of scanning the backlog (SQS-F-2).
``fifo_dedup``
    FIFO only: deduplication ids seen in the last 5 minutes (SQS-F-3), keyed by queue, scope
    (``''`` for ``DeduplicationScope=queue``, the group id for ``messageGroup``) and id.
``quarantine`` (migration step 3)
    Messages set aside because their row could not be decoded (RELIABILITY T16): the queue,
    the reason, the time, and every column of the message row as it was (a large body and its
    attributes joined in from ``bodies``). Its value columns have no declared type, so SQLite
    keeps each value exactly as it was stored, type and bytes
    (:mod:`qworker_sqlite.quarantine`).

``clock_anchor`` (migration step 4)
    One row: the wall time and boot clock reading at which this boot's host clock starts, and
    the boot's id (:mod:`qworker_sqlite.hostclock`, T14).
``records``
    The shared record store (:meth:`~qworker.backend.Backend.put_record`): JSON ``value`` by
    ``(kind, key)``, ``expires_at`` epoch ms or NULL (never). Expired rows are invisible to
    every read and deleted by the next write of their kind.

Columns added to ``queues`` by migration step 2 (:func:`_migrate_2_queue_attributes_tags_records`):
``tags`` (JSON object, NULL = none: SQS TagQueue), ``purged_ms`` (the last PurgeQueue: one every
60 s) and ``expiry_shift_ms``. A queue's attributes change (SetQueueAttributes rewrites ``spec``
and ``modified_ms``), so every call reads the queue's row in its own transaction. A message's
retention ends at ``expires_at + expiry_shift_ms``: changing ``MessageRetentionPeriod`` by D
adds D to the queue's shift, which moves the expiry of every message already queued (as on SQS)
without rewriting them; messages stored afterwards store ``expires_at`` net of the shift.

Versions and migrations: ``PRAGMA user_version`` is the schema version. A new file gets
:data:`_DDL` (version 1) then every step of :data:`MIGRATIONS` in one transaction; a file of an
older version gets the steps it lacks, in one ``BEGIN IMMEDIATE`` transaction, when a backend
opens it. Each step is a function of its own, appended to :data:`MIGRATIONS`, never edited once
released. A qworker older than the file refuses it (it would not know the new columns).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from qworker.errors import BackendError, BackendUnavailable
from qworker_sqlite.url import SQLiteOptions

#: marks the file as a qworker database (``PRAGMA application_id``; ASCII "qwkr")
APPLICATION_ID = 0x71776B72
#: bodies plus packed attributes up to this many bytes are stored in the message row
INLINE_LIMIT = 1024
#: the WAL file is truncated back to this size after a checkpoint
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

_DDL = (
    """
    CREATE TABLE queues (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        next_sequence INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        token INTEGER,
        received_ms INTEGER,
        first_receive_ms INTEGER,
        sent_ms INTEGER NOT NULL,
        sequence_number INTEGER,
        group_id TEXT,
        dedup_id TEXT,
        message_id TEXT NOT NULL,
        md5_body TEXT NOT NULL,
        md5_attrs TEXT,
        dlq_source TEXT,
        trace_header TEXT,
        last_error TEXT,
        attrs BLOB,
        body TEXT
    )
    """,
    """
    CREATE TABLE bodies (
        seq INTEGER PRIMARY KEY,
        attrs BLOB,
        body TEXT NOT NULL
    )
    """,
    """
    CREATE TRIGGER messages_drop_body AFTER DELETE ON messages WHEN old.body IS NULL BEGIN
        DELETE FROM bodies WHERE seq = old.seq;
    END
    """,
    """
    CREATE INDEX messages_visible ON messages (queue_id, visible_at)
    """,
    """
    CREATE INDEX messages_expiry ON messages (queue_id, expires_at)
    """,
    """
    CREATE INDEX messages_fifo_group ON messages (queue_id, group_id, seq)
        WHERE sequence_number IS NOT NULL
    """,
    """
    CREATE INDEX messages_fifo_received ON messages (queue_id, group_id, visible_at)
        WHERE sequence_number IS NOT NULL AND token IS NOT NULL
    """,
    """
    CREATE TABLE fifo_groups (
        queue_id INTEGER NOT NULL,
        group_id TEXT NOT NULL,
        available_at INTEGER,
        head_seq INTEGER,
        PRIMARY KEY (queue_id, group_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE INDEX fifo_groups_ready ON fifo_groups (queue_id, available_at)
    """,
    """
    CREATE INDEX fifo_groups_order ON fifo_groups (queue_id, head_seq)
    """,
    """
    CREATE TABLE fifo_dedup (
        queue_id INTEGER NOT NULL,
        scope TEXT NOT NULL,
        dedup_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sequence_number INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (queue_id, scope, dedup_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE INDEX fifo_dedup_expiry ON fifo_dedup (queue_id, expires_at)
    """,
)

#: the quarantine (RELIABILITY T16), made by migration step 3
_QUARANTINE_DDL = (
    """
    CREATE TABLE quarantine (
        seq INTEGER PRIMARY KEY,
        queue_id INTEGER NOT NULL,
        reason TEXT NOT NULL,
        quarantined_ms INTEGER NOT NULL,
        message_id, md5_body, md5_attrs, sent_ms, receive_count, first_receive_ms, received_ms,
        visible_at, expires_at, token, sequence_number, group_id, dedup_id, dlq_source,
        trace_header, last_error, attrs, body
    )
    """,
    """
    CREATE INDEX quarantine_queue ON quarantine (queue_id, quarantined_ms)
    """,
)


def _migrate_2_queue_attributes_tags_records(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2 (SetQueueAttributes, tags, PurgeQueueInProgress, the record store): the
    ``queues`` columns ``tags``, ``purged_ms`` and ``expiry_shift_ms``; the ``records`` table."""
    conn.execute("ALTER TABLE queues ADD COLUMN tags TEXT")
    conn.execute("ALTER TABLE queues ADD COLUMN purged_ms INTEGER")
    conn.execute("ALTER TABLE queues ADD COLUMN expiry_shift_ms INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        """
        CREATE TABLE records (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at INTEGER,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID
        """
    )


def _migrate_3_quarantine(conn: sqlite3.Connection) -> None:
    """Version 2 -> 3: the ``quarantine`` table (messages whose row could not be decoded)."""
    for statement in _QUARANTINE_DDL:
        conn.execute(statement)


def _migrate_4_clock_anchor(conn: sqlite3.Connection) -> None:
    """Version 3 -> 4: ``clock_anchor``, the host clock's anchor for this boot (T14,
    :mod:`qworker_sqlite.hostclock`)."""
    conn.execute(
        "CREATE TABLE clock_anchor (id INTEGER PRIMARY KEY CHECK (id = 1), boot_id TEXT NOT NULL, "
        "wall_ms INTEGER NOT NULL, boot_ns INTEGER NOT NULL)"
    )


#: schema migration steps, in order: step ``i`` takes a file from version ``i + 1`` to ``i + 2``.
#: Append new steps (one function each); never change a released one.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_2_queue_attributes_tags_records,
    _migrate_3_quarantine,
    _migrate_4_clock_anchor,
)
#: the schema version this qworker writes (``PRAGMA user_version``)
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def open_connection(options: SQLiteOptions) -> sqlite3.Connection:
    """Open the database, set the pragmas and create or check the schema.

    Raises :class:`~qworker.errors.BackendUnavailable` when the file cannot be opened (missing
    directory, no permission, locked for longer than the busy timeout) and
    :class:`~qworker.errors.BackendError` when it is not a qworker database.
    """
    target = options.path if options.path is not None else ":memory:"
    try:
        conn = sqlite3.connect(
            target,
            timeout=options.busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: transactions are explicit BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # made on the backend's worker thread, used only there
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise BackendUnavailable(f"Cannot open SQLite database {target!r}: {exc}") from exc
    try:
        _configure(conn, options)
        _ensure_schema(conn, target)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _is_busy(exc):
            raise BackendUnavailable(
                f"SQLite database {target!r} stayed locked by another process for more than "
                f"{options.busy_timeout_ms} ms: {exc}"
            ) from exc
        if isinstance(exc, sqlite3.OperationalError):
            raise BackendUnavailable(f"Cannot open SQLite database {target!r}: {exc}") from exc
        raise BackendError(f"Cannot use SQLite database {target!r}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        "locked" in str(exc)
    )


def _configure(conn: sqlite3.Connection, options: SQLiteOptions) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(options.busy_timeout_ms)}")
    if options.path is not None:
        # Switching to WAL needs a moment alone with the file; another process opening it at the
        # same time can make it fail at once, so retry within the busy timeout.
        deadline = time.monotonic() + options.busy_timeout_ms / 1000
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch the journal to WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    conn.execute(f"PRAGMA synchronous = {options.synchronous.upper()}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32000")  # 32 MB of page cache


def _ensure_schema(conn: sqlite3.Connection, target: str) -> None:
    if _schema_state(conn, target) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created or migrated it while we waited for the lock.
        version = _schema_state(conn, target)
        if version == 0:
            # statement by statement: executescript() would commit our transaction first
            for statement in _DDL:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            version = 1
        for step in MIGRATIONS[version - 1 :]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _schema_state(conn: sqlite3.Connection, target: str) -> int:
    """The schema version of a qworker database (1..:data:`SCHEMA_VERSION`), or 0 for a new
    file; raises otherwise."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id == APPLICATION_ID:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if 1 <= version <= SCHEMA_VERSION:
            return int(version)
        if version > SCHEMA_VERSION:
            raise BackendError(
                f"SQLite database {target!r} has schema version {version}, written by a newer qworker "
                f"(this one knows version {SCHEMA_VERSION}). Upgrade qworker to use it."
            )
        raise BackendError(f"SQLite database {target!r} has an unknown schema version {version}.")
    has_tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if application_id == 0 and not has_tables:
        return 0
    raise BackendError(
        f"SQLite database {target!r} is not a qworker database (it already holds other data). Point "
        "the backend URL at a new file, for example sqlite:///qworker.db."
    )

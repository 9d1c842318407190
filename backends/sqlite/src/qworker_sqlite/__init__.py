"""The embedded SQLite backend, qworker's default (``sqlite:///qworker.db``).

Registered as the ``sqlite`` entry point (``qworker_sqlite:SQLiteBackend``). Modules:
``url`` (URL forms and options), ``schema`` (tables, pragmas), ``codec`` (receipt handles,
stored values), ``store`` (transactions, queue catalogue), ``send``, ``receive``, ``acks``
(delete, visibility, failure notes, peek), ``redrive``, ``wakeups`` (long polling) and
``backend`` (the async :class:`SQLiteBackend`).
"""

from qworker_sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]

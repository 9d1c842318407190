"""qworker's Redis backend: SQS semantics in atomic Lua scripts, on one server or a cluster.

URLs (registered as entry points in the ``qworker.backends`` group)::

    redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?OPTIONS]
    rediss://...                       TLS; the server certificate is verified by default
    redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...][?OPTIONS]
    rediss+cluster://...               Redis Cluster over TLS

Options are listed in :mod:`qworker_redis.connection`, the key layout (and the one key a KEDA
``redis`` scaler counts, ``qworker:{TAG}:QUEUE:ready``) in :mod:`qworker_redis.keys`, each
operation's script in ``qworker_redis/lua``.

Guarantees: at-least-once delivery as long as Redis keeps its acknowledged writes (use
``appendonly yes``; ``appendfsync everysec`` survives a killed server process, not a machine
crash; replica failover may lose recent writes). Run with ``maxmemory-policy noeviction``:
``connect()`` warns otherwise.
"""

from qworker_redis.backend import RedisBackend

__all__ = ["RedisBackend"]

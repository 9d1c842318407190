"""The one way the Redis backend talks to Redis: clients, TLS, errors, NOSCRIPT and retries.

Two clients sit under one policy. On a single node, script calls (every hot-path operation)
and long polls go through the pipelined lanes of :mod:`qworker_redis.fastlane`; everything
else, and everything on Redis Cluster (which needs slot routing and MOVED/ASK), goes through
redis-py with hiredis. Whichever carried a command, this module decides what happens to it:

* **TLS**: the URL's ``ssl_*`` options (:mod:`qworker_redis.connection`) configure redis-py,
  and the lanes use the context redis-py's own ``RedisSSLContext`` builds from the same options,
  so both verify the server the same way.
* **Errors**: a lane's error reply becomes the redis-py exception redis-py would raise for it
  (:func:`reply_error`); then, for both: refused credentials or permissions are
  :class:`~qworker.errors.BackendUnavailable` at once, a lost or silent connection is retried,
  and a script's error reply is :class:`~qworker.errors.BackendError`. Texts are redacted.
* **NOSCRIPT** (a new or restarted server): the script is loaded and the call made again.
* **Retries**: a call that could not reach Redis is retried with :func:`qworker.retry.
  backoff_delay` for up to ``retry_timeout`` seconds, then BackendUnavailable. A script that may
  have run before the connection dropped runs again: sends are at-least-once (FIFO sends
  dedupe). redis-py's own retries are off, so a retry is always made knowingly, here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import RedisSSLContext
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    NoPermissionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from qworker.errors import BackendError, BackendUnavailable
from qworker.redaction import redact_text
from qworker.retry import backoff_delay
from qworker_redis.connection import Settings
from qworker_redis.fastlane import (
    Endpoint,
    FastLane,
    ReplyError,
    WaitLanes,
    pack_args,
    pack_command,
    pack_head,
)
from qworker_redis.scripts import Script

log = structlog.get_logger("qworker.redis")

#: what a retry may cure: the connection, not the command
RETRYABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
#: what no retry cures: the server refuses these credentials or this user
_FATAL = (AuthenticationError, AuthenticationWrongNumberOfArgsError, NoPermissionError)
#: the back-off between reconnects: base and cap of :func:`qworker.retry.backoff_delay` (s)
BACKOFF_BASE, BACKOFF_CAP = 0.05, 2.0
_REPLY_ERRORS: tuple[tuple[str, type[RedisError]], ...] = (
    ("NOSCRIPT", NoScriptError),
    ("NOPERM", NoPermissionError),
    ("WRONGPASS", AuthenticationError),
    ("NOAUTH", AuthenticationError),
    ("LOADING", BusyLoadingError),
)
_NOT_CONNECTED = "RedisBackend is not connected: use `async with backend:` or await connect()"


def reply_error(reply: ReplyError) -> RedisError:
    """The redis-py exception for an error reply a lane received (as redis-py maps them)."""
    text = str(reply)
    for prefix, kind in _REPLY_ERRORS:
        if text.startswith(prefix):
            return kind(text)
    return ResponseError(text)


def make_client(settings: Settings) -> Redis | RedisCluster:
    """A redis-py asyncio client (hiredis parser when installed), not yet connected."""
    common: dict[str, Any] = {
        "username": settings.username,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
        "decode_responses": False,
        "retry": Retry(NoBackoff(), 0),
        "protocol": 2,
    }
    if settings.tls:
        common["ssl"] = True
        common.update(settings.ssl)
    if settings.cluster:
        # the cluster client retries a failed node twice, refreshing the slot map in between
        common["retry"] = Retry(NoBackoff(), 2)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in settings.hosts],
            max_connections=settings.max_connections or 2**31,
            **common,
        )
    host, port = settings.hosts[0]
    # redis-py's pool allows 100 connections unless told otherwise; each long-polling receiver
    # holds one, so a worker with more than 100 idle pollers would fail its waits and spin
    return Redis(
        host=host, port=port, db=settings.db, max_connections=settings.max_connections or 2**31, **common
    )


def lane_endpoint(settings: Settings) -> Endpoint:
    """Where the lanes connect (single node): the same server, credentials and TLS as redis-py."""
    context = None
    if settings.tls:
        ssl = settings.ssl
        context = RedisSSLContext(
            keyfile=ssl.get("ssl_keyfile"),
            certfile=ssl.get("ssl_certfile"),
            cert_reqs=ssl.get("ssl_cert_reqs", "required"),
            ca_certs=ssl.get("ssl_ca_certs"),
            check_hostname=bool(ssl.get("ssl_check_hostname", True)),
        ).get()
    hello: list[bytes] = []
    if settings.password is not None:
        user = [settings.username.encode()] if settings.username else []
        hello.append(pack_command([b"AUTH", *user, settings.password.encode()]))
    if settings.db:
        hello.append(pack_command([b"SELECT", b"%d" % settings.db]))
    host, port = settings.hosts[0]
    return Endpoint(
        host, port, context, tuple(hello), settings.socket_connect_timeout, settings.socket_timeout
    )


class Transport:
    """The connections of one backend object and the policy every command follows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster = settings.cluster
        self._client: Redis | RedisCluster | None = None
        self._lane: FastLane | None = None  #: single node: script calls, pipelined
        self._wait_lanes: WaitLanes | None = None  #: single node: long polls
        self._outage_logged = False

    @property
    def display_url(self) -> str:
        return self.settings.display_url

    @property
    def client(self) -> Redis | RedisCluster:
        """The redis-py client (raises when not connected)."""
        if self._client is None:
            raise BackendError(_NOT_CONNECTED)
        return self._client

    def safe(self, exc: BaseException) -> str:
        """The exception's text, redacted: URLs, and the password itself wherever it appears."""
        return redact_text(str(exc) or type(exc).__name__, (self.settings.password,))

    async def connect(self) -> None:
        if self._client is not None:
            return
        settings = self.settings
        client = make_client(settings)
        try:
            async with asyncio.timeout(settings.socket_connect_timeout + settings.socket_timeout):
                if isinstance(client, RedisCluster):
                    await client.initialize()
                await client.execute_command("PING")
        except (RedisError, RedisClusterException, *RETRYABLE) as exc:
            # RedisClusterException ("cannot be connected": no node answered, or every node
            # refused the credentials) is no RedisError: without it here a cluster with a wrong
            # password ended the CLI with "internal error" instead of exit 3
            await client.aclose()
            raise BackendUnavailable(
                f"Cannot connect to Redis at {self.display_url}: {self.safe(exc)}"
            ) from None
        self._client = client
        if not self.cluster:
            endpoint = lane_endpoint(settings)
            self._lane = FastLane(endpoint)
            self._wait_lanes = WaitLanes(endpoint)
        await self._check_server()

    async def _check_server(self) -> None:
        """Warn when the server may evict keys: eviction silently deletes queued messages."""
        client = self.client
        try:
            if isinstance(client, RedisCluster):
                replies = [
                    await client.execute_command("CONFIG", "GET", "maxmemory-policy", target_nodes=node)
                    for node in client.get_primaries()
                ]
            else:
                replies = [await client.execute_command("CONFIG", "GET", "maxmemory-policy")]
        except RedisError as exc:  # CONFIG may be renamed or refused by an ACL: say so, carry on
            log.info("redis.config_unreadable", url=self.display_url, error=self.safe(exc))
            return
        for reply in replies:
            policy = _config_value(reply)
            if policy and policy != "noeviction":
                log.warning(
                    "redis.maxmemory_policy_not_noeviction",
                    url=self.display_url,
                    policy=policy,
                    advice="set maxmemory-policy noeviction: with eviction Redis may delete queued messages",
                )

    async def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.close()
        wait_lanes, self._wait_lanes = self._wait_lanes, None
        if wait_lanes is not None:
            await wait_lanes.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- commands -------------------------------------------------------------------------------

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        """One command through redis-py, retried as :meth:`retrying` says."""
        client = self.client
        return await self.retrying(lambda: client.execute_command(*args, **kwargs))

    async def retrying(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``operation`` (one round trip to Redis), reconnecting with capped, jittered
        exponential back-off for up to ``retry_timeout`` seconds; then BackendUnavailable.
        Every round trip of the backend goes through here (tests pause calls here too)."""
        deadline = 0.0
        attempt = 0
        while True:
            try:
                result = await operation()
            except Exception as exc:
                error = reply_error(exc) if isinstance(exc, ReplyError) else exc
                if isinstance(error, _FATAL):
                    raise BackendUnavailable(
                        f"Redis at {self.display_url} refused us: {self.safe(error)}"
                    ) from None
                if not isinstance(error, RETRYABLE):
                    if error is exc:
                        raise
                    raise error from None
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.settings.retry_timeout
                if now >= deadline:
                    raise BackendUnavailable(
                        f"Redis at {self.display_url} is unavailable: {self.safe(error)}"
                    ) from None
                if not self._outage_logged:
                    self._outage_logged = True
                    log.warning("redis.reconnecting", url=self.display_url, error=self.safe(error))
                delay = backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP)
                attempt += 1
                await asyncio.sleep(min(deadline - now, delay))
                continue
            if self._outage_logged:
                self._outage_logged = False
                log.info("redis.reconnected", url=self.display_url)
            return result

    async def eval(
        self, script: Script, keys: Sequence[bytes], args: Sequence[Any], head: bytes | None = None
    ) -> Any:
        """EVALSHA ``script``; on NOSCRIPT load it and run it again. ``head`` is the packed
        ``EVALSHA sha numkeys KEYS...`` (:func:`~qworker_redis.fastlane.pack_head`), cached per
        queue by the caller. A script's error reply raises BackendError."""
        try:
            if self.cluster:  # redis-py routes by the keys' slot and follows MOVED/ASK
                try:
                    return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
                except NoScriptError:  # EVAL caches it on that node too
                    return await self.call("EVAL", script.source, len(keys), *keys, *args)
            lane = self._lane
            if lane is None:
                raise BackendError(_NOT_CONNECTED)
            if head is None:
                head = pack_head(script.sha, keys)
            payload = pack_args(head, 3 + len(keys), args)
            try:
                return await self.retrying(lambda: lane.execute(payload))
            except NoScriptError:
                await self.call("SCRIPT", "LOAD", script.source)
                return await self.retrying(lambda: lane.execute(payload))
        except ResponseError as exc:
            raise BackendError(f"Redis script {script.name} failed: {self.safe(exc)}") from None

    # -- long polls -----------------------------------------------------------------------------

    def wait_timeout(self, timeout: float) -> float:
        """A BLPOP timeout well below the socket's read timeout (or the client would drop the
        connection at each wait): at most ``socket_timeout`` - 2 s, at least 1 ms."""
        read_timeout = self.settings.socket_timeout
        return max(0.001, min(timeout, max(min(1.0, read_timeout / 2), read_timeout - 2)))

    async def wait(self, notify: bytes, timeout: float) -> None:
        """Block on a notify list (BLPOP) until a script signals or ``timeout`` passes. Errors
        end the wait early; the next script call reports a lasting outage."""
        try:
            await self.client.execute_command("BLPOP", notify, f"{self.wait_timeout(timeout):.3f}")
        except RETRYABLE:
            await asyncio.sleep(min(timeout, 0.1))

    async def wait_then_eval(
        self,
        notify: bytes,
        timeout: float,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        head: bytes,
        waiting: list[FastLane],
    ) -> Any | None:
        """Long-poll, then run ``script``, in one round trip: ``BLPOP`` on ``notify`` and the
        script, pipelined on a lane of their own (``waiting`` holds it meanwhile, for
        :meth:`unblock`). Redis runs the script as soon as the BLPOP returns, so a waiting
        receiver gets a new message one round trip after the send, not two. Returns the
        script's reply, or None when the caller should call the normal way (cluster, NOSCRIPT,
        an error; on Redis Cluster this only waits)."""
        lanes = self._wait_lanes
        if self.cluster or lanes is None:
            await self.wait(notify, timeout)
            return None
        blpop = pack_command([b"BLPOP", notify, b"%.3f" % self.wait_timeout(timeout)])
        payload = blpop + pack_args(head, 3 + len(keys), args)
        lane = lanes.borrow()
        waiting.append(lane)
        try:
            _, reply = await lane.execute_many(payload, 2)
        except RETRYABLE:
            await asyncio.sleep(min(timeout, 0.1))
            return None
        finally:
            waiting.clear()
            await lanes.give_back(lane)
        return None if isinstance(reply, ReplyError) else reply

    async def unblock(self, waiting: list[FastLane]) -> None:
        """End a long poll's BLPOP now (``CLIENT UNBLOCK`` from the shared lane): it returns as if
        its wait had ended and the script behind it runs."""
        lane = self._lane
        client_id = waiting[0].client_id if waiting else None
        if lane is not None and client_id is not None:
            await lane.execute(pack_command([b"CLIENT", b"UNBLOCK", client_id]))


def _config_value(reply: Any) -> str | None:
    if isinstance(reply, dict):
        value = next(iter(reply.values()), None)
    elif isinstance(reply, list | tuple) and len(reply) >= 2:
        value = reply[1]
    else:
        return None
    return value.decode() if isinstance(value, bytes) else value

"""The one way the Redis backend talks to Redis: clients, TLS, errors, NOSCRIPT and retries.

Two clients sit under one policy. On a single node every command goes through the pipelined
lanes of :mod:`qworker_redis.fastlane` (long polls on lanes of their own), and redis-py is not
even imported (it costs ~90 ms of start-up) unless something asks for :attr:`Transport.client`.
On Redis Cluster, which needs slot routing and MOVED/ASK, everything goes through redis-py with
hiredis. Whichever carried a command, this module decides what happens to it:

* **TLS**: the URL's ``ssl_*`` options (:mod:`qworker_redis.connection`) configure redis-py,
  and the lanes use the context redis-py's own ``RedisSSLContext`` builds from the same options,
  so both verify the server the same way.
* **Errors**: a lane's error reply and a redis-py exception both become the backend's own classes
  (:mod:`qworker_redis.replies`); then refused credentials or permissions are
  :class:`~qworker.errors.BackendUnavailable` at once, a lost or silent connection is retried,
  and a script's error reply is :class:`~qworker.errors.BackendError`. Texts are redacted.
* **NOSCRIPT** (a new or restarted server): the script is loaded and the call made again.
* **Retries**: a call that could not reach Redis is retried with :func:`qworker.retry.
  backoff_delay` for up to ``retry_timeout`` seconds, then BackendUnavailable; the back-off is
  the backend object's, shared by every caller (:mod:`qworker_redis.outage`). A script that may
  have run before the connection dropped runs again: sends are at-least-once (FIFO sends
  dedupe). redis-py's own retries are off, so a retry is always made knowingly, here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from qworker.errors import BackendError, BackendUnavailable
from qworker.redaction import redact_text
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
from qworker_redis.outage import Outage
from qworker_redis.replies import (
    AccessRefused,
    ErrorReply,
    ScriptMissing,
    ServerLoading,
    from_redis_py,
    from_reply,
)
from qworker_redis.scripts import Script

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

log = structlog.get_logger("qworker.redis")

#: what a retry may cure: the connection, not the command (ConnectionError is an OSError)
RETRYABLE = (OSError, TimeoutError, ServerLoading)
_NOT_CONNECTED = "RedisBackend is not connected: use `async with backend:` or await connect()"


def reply_error(exc: BaseException) -> BaseException:
    """``exc`` in the backend's own terms (:mod:`qworker_redis.replies`): a lane's error reply
    by its code, a redis-py exception by its class."""
    if isinstance(exc, ReplyError):
        return from_reply(str(exc))
    return from_redis_py(exc)


def make_client(settings: Settings) -> Redis | RedisCluster:
    """A redis-py asyncio client (hiredis parser when installed), not yet connected.

    redis-py is imported here, not at module level: a single node needs it only when something
    asks for :attr:`Transport.client` (tests, tools), and importing it costs ~90 ms of start-up.
    """
    from redis.asyncio import Redis
    from redis.asyncio.cluster import ClusterNode, RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

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
        from redis.asyncio.connection import RedisSSLContext  # the same verification as redis-py

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
        self._client: Redis | RedisCluster | None = None  #: cluster: every command; else on demand
        self._lane: FastLane | None = None  #: single node: every command but blocking ones
        self._wait_lanes: WaitLanes | None = None  #: single node: long polls
        self._outage = Outage(settings.display_url)  #: the back-off all callers share

    @property
    def display_url(self) -> str:
        return self.settings.display_url

    @property
    def connected(self) -> bool:
        return self._client is not None or self._lane is not None

    @property
    def client(self) -> Redis | RedisCluster:
        """The redis-py client (raises when not connected). On a single node nothing in the
        backend uses it: it is made on first use, for tests and tools that want redis-py's API."""
        if not self.connected:
            raise BackendError(_NOT_CONNECTED)
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def safe(self, exc: BaseException) -> str:
        """The exception's text, redacted: URLs, and the password itself wherever it appears."""
        return redact_text(str(exc) or type(exc).__name__, (self.settings.password,))

    async def connect(self) -> None:
        if self.connected:
            return
        if self.cluster:
            await self._connect_cluster()
        else:
            await self._connect_lanes()
        await self._check_server()

    async def _connect_lanes(self) -> None:
        """Single node: the shared lane connects (AUTH, SELECT) and answers a PING."""
        settings = self.settings
        endpoint = lane_endpoint(settings)
        lane = FastLane(endpoint)
        try:
            async with asyncio.timeout(settings.socket_connect_timeout + settings.socket_timeout):
                await lane.execute(pack_command([b"PING"]))
        except (ReplyError, *RETRYABLE) as exc:
            await lane.close()
            error = reply_error(exc)
            raise BackendUnavailable(
                f"Cannot connect to Redis at {self.display_url}: {self.safe(error)}"
            ) from None
        self._lane = lane
        self._wait_lanes = WaitLanes(endpoint)

    async def _connect_cluster(self) -> None:
        from redis.exceptions import RedisClusterException, RedisError

        client = make_client(self.settings)
        timeout = self.settings.socket_connect_timeout + self.settings.socket_timeout
        try:
            async with asyncio.timeout(timeout):
                await client.initialize()  # type: ignore[union-attr]
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

    async def _check_server(self) -> None:
        """Warn when the server may evict keys: eviction silently deletes queued messages."""
        try:
            if self.cluster:
                client: Any = self.client
                replies = [
                    await self._once("CONFIG", "GET", "maxmemory-policy", target_nodes=node)
                    for node in client.get_primaries()
                ]
            else:
                replies = [await self._once("CONFIG", "GET", "maxmemory-policy")]
        except ErrorReply as exc:  # CONFIG may be renamed or refused by an ACL: say so, carry on
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

    async def _once(self, *args: Any, **kwargs: Any) -> Any:
        """One command, not retried (errors as :mod:`qworker_redis.replies` says)."""
        try:
            if self.cluster:
                return await self.client.execute_command(*args, **kwargs)
            lane = self._lane
            if lane is None:
                raise BackendError(_NOT_CONNECTED)
            return await lane.execute(pack_args(b"", 0, args))
        except Exception as exc:
            error = reply_error(exc)
            if error is exc:
                raise
            raise error from None

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
        """One command, retried as :meth:`retrying` says: on the shared lane on a single node
        (replies as Redis sends them: bytes, integers, lists), through redis-py on a cluster
        (``kwargs`` are redis-py's, e.g. ``target_nodes``)."""
        if self.cluster:
            client = self.client
            return await self.retrying(lambda: client.execute_command(*args, **kwargs))
        lane = self._lane
        if lane is None:
            raise BackendError(_NOT_CONNECTED)
        if kwargs:
            raise TypeError(f"single-node commands take no options: {sorted(kwargs)}")
        payload = pack_args(b"", 0, args)
        return await self.retrying(lambda: lane.execute(payload))

    async def retrying(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``operation`` (one round trip to Redis), reconnecting with capped, jittered
        exponential back-off for up to ``retry_timeout`` seconds; then BackendUnavailable.
        The back-off is shared (:class:`~qworker_redis.outage.Outage`): during an outage a new
        call waits for the next turn before it tries. Every round trip of the backend goes
        through here (tests pause calls here too). Errors leave as
        :mod:`qworker_redis.replies` says (an error reply as ErrorReply)."""
        outage = self._outage
        deadline = 0.0
        while True:
            if outage.failures:
                deadline = deadline or time.monotonic() + self.settings.retry_timeout
                if not await outage.wait_turn(deadline):
                    raise self._unavailable(outage.last_error)
            try:
                result = await operation()
            except Exception as exc:
                error = reply_error(exc)
                if isinstance(error, AccessRefused):
                    raise BackendUnavailable(
                        f"Redis at {self.display_url} refused us: {self.safe(error)}"
                    ) from None
                if not isinstance(error, RETRYABLE):
                    if error is exc:
                        raise
                    raise error from None
                outage.failed(self.safe(error))
                deadline = deadline or time.monotonic() + self.settings.retry_timeout
                if time.monotonic() >= deadline:
                    raise self._unavailable(outage.last_error) from None
                continue
            if outage.failures:  # (a plain read first: this runs for every command)
                outage.succeeded()
            return result

    def _unavailable(self, error: str) -> BackendUnavailable:
        return BackendUnavailable(f"Redis at {self.display_url} is unavailable: {error}")

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
                except ScriptMissing:  # EVAL caches it on that node too
                    return await self.call("EVAL", script.source, len(keys), *keys, *args)
            lane = self._lane
            if lane is None:
                raise BackendError(_NOT_CONNECTED)
            if head is None:
                head = pack_head(script.sha, keys)
            payload = pack_args(head, 3 + len(keys), args)
            try:
                return await self.retrying(lambda: lane.execute(payload))
            except ScriptMissing:
                await self.call("SCRIPT", "LOAD", script.source)
                return await self.retrying(lambda: lane.execute(payload))
        except ErrorReply as exc:
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
        except Exception as exc:  # redis-py's: a lost connection ends the wait early
            error = reply_error(exc)
            if not isinstance(error, RETRYABLE):
                raise
            self._outage.failed(self.safe(error))
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
        an error, an outage under way; on Redis Cluster this only waits)."""
        lanes = self._wait_lanes
        if self._outage.failures:  # no new connection now: the normal call waits for its turn
            return None
        if self.cluster or lanes is None:
            await self.wait(notify, timeout)
            return None
        blpop = pack_command([b"BLPOP", notify, b"%.3f" % self.wait_timeout(timeout)])
        payload = blpop + pack_args(head, 3 + len(keys), args)
        lane = lanes.borrow()
        waiting.append(lane)
        try:
            _, reply = await lane.execute_many(payload, 2)
        except RETRYABLE as exc:
            self._outage.failed(self.safe(exc))
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

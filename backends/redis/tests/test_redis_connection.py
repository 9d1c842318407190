"""URLs, TLS, ACL users and connection errors (RELIABILITY section 3.1, T24)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
import structlog

from qworker.backend import QueueSpec, SendEntry
from qworker.errors import BackendUnavailable, ConfigError
from qworker.registry import open_backend
from qworker_redis import RedisBackend
from qworker_redis.connection import parse_url
from qworker_redis.testing import RedisServer, free_port

ACL_USER, ACL_PASSWORD = "qw-tenant", "s3cret-Pa55"  # the user the acl_server fixture makes
CLUSTER_PASSWORD = "cl@ster:pw/1"  # the secure_cluster fixture's requirepass


def test_url_forms() -> None:
    s = parse_url("redis://user:p%40ss@example.com:6380/3?socket_timeout=2.5&prefix=tenant-a")
    assert (s.username, s.password, s.hosts, s.db, s.tls, s.cluster) == (
        "user", "p@ss", [("example.com", 6380)], 3, False, False,
    )  # fmt: skip
    assert (s.socket_timeout, s.prefix) == (2.5, "tenant-a")
    assert s.display_url == "redis://user:***@example.com:6380/3?socket_timeout=2.5&prefix=tenant-a"
    legacy = parse_url("redis://:onlypass@h")
    assert (legacy.username, legacy.password, legacy.hosts) == (None, "onlypass", [("h", 6379)])
    tls = parse_url("rediss://h:1?ssl_ca_certs=/ca.pem")
    assert tls.tls and tls.ssl == {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": "/ca.pem",
    }
    assert parse_url("rediss://h?ssl_cert_reqs=none").ssl["ssl_check_hostname"] is False
    cluster = parse_url("redis+cluster://a:7000,b:7001,[::1]:7002")
    assert cluster.cluster and cluster.hosts == [("a", 7000), ("b", 7001), ("::1", 7002)]
    assert parse_url("rediss+cluster://a:1").tls


@pytest.mark.parametrize(
    "url",
    [
        "redis://h?unknown=1",
        "redis://h/notanumber",
        "redis://a:1,b:2",
        "redis+cluster://a:1/2",
        "redis://h:port",
        "redis://h?ssl_cert_reqs=maybe",
        "redis://h?socket_timeout=-1",
        "redis://h?prefix={x}",
        "memcached://h",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


def test_registry_opens_every_scheme() -> None:
    for url in ("redis://h", "rediss://h", "redis+cluster://h:1", "rediss+cluster://h:1"):
        assert isinstance(open_backend(url), RedisBackend)


async def test_unreachable_server_is_backend_unavailable() -> None:
    backend = RedisBackend(f"redis://:hunter2@127.0.0.1:{free_port()}/0?socket_connect_timeout=1")
    with pytest.raises(BackendUnavailable) as info:
        await backend.connect()
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


async def test_tls_with_the_test_ca_works(tls_server: RedisServer, tls_files: dict[str, str]) -> None:
    """T24: rediss:// verifies the server certificate against the CA given in the URL."""
    url = f"rediss://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={tls_files['ca.pem']}"
    async with RedisBackend(url) as backend:
        await backend.create_queue(QueueSpec("tls-q"))
        await backend.send("tls-q", [SendEntry("over tls")])
        (message,) = await backend.receive("tls-q", wait_seconds=1)
        assert message.body == "over tls"


async def test_tls_verifies_certificates_by_default(tls_server: RedisServer) -> None:
    """T24: without the CA a self-signed server is refused (verification is on by default)."""
    with pytest.raises(BackendUnavailable):
        await RedisBackend(f"rediss://127.0.0.1:{tls_server.port}/0?socket_connect_timeout=2").connect()


async def test_tls_hostname_is_checked(tls_server: RedisServer, tls_files: dict[str, str]) -> None:
    """The certificate names localhost and 127.0.0.1; another name for the same server fails."""
    url = (
        f"rediss://127.0.0.2:{tls_server.port}/0?ssl_ca_certs={tls_files['ca.pem']}&socket_connect_timeout=2"
    )
    with pytest.raises(BackendUnavailable):
        await RedisBackend(url).connect()


async def test_acl_user_connects_and_works(acl_server: RedisServer) -> None:
    """RELIABILITY 3.2: an ACL user limited to qworker:* keys and no @dangerous commands is enough."""
    url = f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{acl_server.port}/0"
    with structlog.testing.capture_logs() as logs:
        async with RedisBackend(url) as backend:
            await backend.create_queue(QueueSpec("acl-q"))
            await backend.send("acl-q", [SendEntry("hello")])
            (message,) = await backend.receive("acl-q", wait_seconds=1)
            assert await backend.delete("acl-q", [message.receipt_handle]) == []
    assert any(entry["event"] == "redis.config_unreadable" for entry in logs)
    assert all(ACL_PASSWORD not in str(entry) for entry in logs)


async def test_wrong_password_is_unavailable_and_redacted(acl_server: RedisServer) -> None:
    backend = RedisBackend(f"redis://{ACL_USER}:wrong-secret@127.0.0.1:{acl_server.port}/0")
    with pytest.raises(BackendUnavailable) as info:
        await backend.connect()
    assert "wrong-secret" not in str(info.value)
    assert backend.display_url == f"redis://{ACL_USER}:***@127.0.0.1:{acl_server.port}/0"


async def test_warns_when_maxmemory_policy_may_evict() -> None:
    server = RedisServer("--maxmemory-policy", "allkeys-lru").start()
    try:
        with structlog.testing.capture_logs() as logs:
            async with RedisBackend(server.url):
                pass
        warnings = [e for e in logs if e["event"] == "redis.maxmemory_policy_not_noeviction"]
        assert warnings and warnings[0]["policy"] == "allkeys-lru"
    finally:
        server.cleanup()


async def test_no_warning_with_noeviction(redis_server: RedisServer) -> None:
    with structlog.testing.capture_logs() as logs:
        async with RedisBackend(redis_server.url):
            pass
    assert not [e for e in logs if e["event"] == "redis.maxmemory_policy_not_noeviction"]


async def test_a_lane_closed_while_it_connects_keeps_no_connection(redis_server: RedisServer) -> None:
    """A backend closed during a worker's shutdown while a call was still connecting must not
    leave that new connection open (a leaked socket per shutdown)."""
    from qworker_redis.fastlane import FastLane, WaitLanes, pack_command
    from qworker_redis.transport import lane_endpoint

    endpoint = lane_endpoint(parse_url(redis_server.url))
    lane = FastLane(endpoint)
    call = asyncio.create_task(lane.execute(pack_command([b"PING"])))
    await asyncio.sleep(0)  # the call is now connecting
    await lane.close()
    with pytest.raises(ConnectionError):
        await call
    assert lane._protocol is None

    lanes = WaitLanes(endpoint)
    borrowed = lanes.borrow()
    assert await borrowed.execute(pack_command([b"PING"])) == b"PONG"
    await lanes.close()
    await lanes.give_back(borrowed)  # a long poll that ends after the close
    assert borrowed._protocol is None
    assert lanes._idle == []


async def test_a_call_without_a_reply_times_out_and_the_lane_reconnects(redis_server: RedisServer) -> None:
    """A reply later than the read timeout: that caller gets TimeoutError, the connection is
    dropped (the calls behind it get ConnectionError, never a reply meant for another), and no
    timer of a call that was answered or given up fires later; the next call reconnects."""
    import dataclasses

    from qworker_redis.fastlane import FastLane, pack_command
    from qworker_redis.transport import lane_endpoint

    ping = pack_command([b"PING"])
    endpoint = dataclasses.replace(lane_endpoint(parse_url(redis_server.url)), read_timeout=0.3)
    lane, admin = FastLane(endpoint), FastLane(endpoint)
    for _ in range(20):  # answered calls: their timers are cancelled
        assert await lane.execute(ping) == b"PONG"
    gave_up = asyncio.create_task(lane.execute(ping))
    await asyncio.sleep(0)
    gave_up.cancel()
    await admin.execute(pack_command([b"CLIENT", b"PAUSE", b"1000", b"ALL"]))
    first = asyncio.create_task(lane.execute(ping))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(lane.execute(ping))
    with pytest.raises(TimeoutError):
        await first  # before the pause's end, which would have answered it
    with pytest.raises(ConnectionError):
        await second
    await asyncio.sleep(1.0)  # the pause is over
    assert await lane.execute(ping) == b"PONG"
    await lane.close()
    await admin.close()


def _cluster_hosts(servers: list[RedisServer]) -> str:
    return ",".join(f"127.0.0.1:{s.port}" for s in servers)


@pytest.mark.parametrize(
    "userinfo",
    [
        pytest.param(f"{ACL_USER}:{ACL_PASSWORD}", id="acl-user"),
        pytest.param(quote(CLUSTER_PASSWORD, safe=""), id="password-only"),
        pytest.param(":" + quote(CLUSTER_PASSWORD, safe=""), id="empty-user"),
        pytest.param("default:" + quote(CLUSTER_PASSWORD, safe=""), id="default-user"),
    ],
)
async def test_cluster_with_credentials_over_tls_works(
    secure_cluster: list[RedisServer], tls_files: dict[str, str], userinfo: str
) -> None:
    """Defect 3: rediss+cluster://user:pw@h1:p1,h2:p2 crashed with "internal error: ValueError"
    (the redactor parsed the host list as one port). Every credential form connects to a TLS
    cluster with requirepass and an ACL user, and no log line shows the password."""
    url = f"rediss+cluster://{userinfo}@{_cluster_hosts(secure_cluster)}?ssl_ca_certs={tls_files['ca.pem']}"
    secrets = (ACL_PASSWORD, CLUSTER_PASSWORD, quote(CLUSTER_PASSWORD, safe=""))
    queue = f"cq-{userinfo[:3].strip(':%')}-{len(userinfo)}"
    with structlog.testing.capture_logs() as logs:
        async with open_backend(url) as backend:
            assert isinstance(backend, RedisBackend)
            shown = backend.display_url
            await backend.create_queue(QueueSpec(queue))
            await backend.send(queue, [SendEntry("through the cluster")])
            (message,) = await backend.receive(queue, wait_seconds=1)
            assert message.body == "through the cluster"
            assert await backend.delete(queue, [message.receipt_handle]) == []
            await backend.delete_queue(queue)
    assert "***@127.0.0.1:" in shown and all(secret not in shown for secret in secrets)
    assert all(secret not in str(entry) for entry in logs for secret in secrets)


async def test_cluster_with_a_wrong_password_is_unavailable_and_redacted(
    secure_cluster: list[RedisServer], tls_files: dict[str, str]
) -> None:
    url = (
        f"rediss+cluster://{ACL_USER}:wrong-S3cret@{_cluster_hosts(secure_cluster)}"
        f"?ssl_ca_certs={tls_files['ca.pem']}&socket_connect_timeout=2"
    )
    with pytest.raises(BackendUnavailable) as info:
        await open_backend(url).connect()
    assert "wrong-S3cret" not in str(info.value) and f"{ACL_USER}:***@" in str(info.value)

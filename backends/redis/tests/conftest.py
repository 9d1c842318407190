"""Private redis-server fixtures: every test talks to servers it started, never the shared one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qworker_redis.testing import RedisServer, start_cluster


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One plain Redis 7 node shared by the tests of the session (queues have unique names)."""
    server = RedisServer("--maxmemory-policy", "noeviction").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[list[RedisServer]]:
    """A 3-node Redis Cluster (no replicas)."""
    servers = start_cluster(3)
    yield servers
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="session")
def cluster_url(redis_cluster: list[RedisServer]) -> str:
    return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in redis_cluster)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl."""
    import subprocess

    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=qworker test CA",
    )
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
    )  # fmt: skip
    return {name: str(d / f"{name}") for name in ("ca.pem", "server.pem", "server.key")}


@pytest.fixture(scope="session")
def tls_server(tls_files: dict[str, str]) -> Iterator[RedisServer]:
    """A Redis node that speaks only TLS (clients are not asked for certificates)."""
    server = RedisServer(
        "--tls-cert-file", tls_files["server.pem"], "--tls-key-file", tls_files["server.key"],
        "--tls-ca-cert-file", tls_files["ca.pem"], "--tls-auth-clients", "no",
        tls=True,
    )  # fmt: skip
    server.start()
    yield server
    server.cleanup()


ACL_USER, ACL_PASSWORD = "qw-tenant", "s3cret-Pa55"


@pytest.fixture(scope="session")
def acl_server() -> Iterator[RedisServer]:
    """A Redis node whose default user is off; one ACL user may touch only qworker:* keys and
    no @dangerous command (so CONFIG GET is refused)."""
    server = RedisServer(
        "--user", "default", "off",
        "--user", ACL_USER, "on", f">{ACL_PASSWORD}", "~qworker:*", "+@all", "-@dangerous",
    )  # fmt: skip
    server.start()
    yield server
    server.cleanup()


#: the default user's password of the secure cluster: '@', ':' and '/' must be percent-encoded
CLUSTER_PASSWORD = "cl@ster:pw/1"


@pytest.fixture(scope="session")
def secure_cluster(tls_files: dict[str, str]) -> Iterator[list[RedisServer]]:
    """A 3-node Redis Cluster that speaks only TLS (the cluster bus too), whose default user has
    ``requirepass`` CLUSTER_PASSWORD and whose ACL user ACL_USER may touch only qworker:* keys
    and no @dangerous command."""
    servers = start_cluster(
        3,
        "--tls-cluster", "yes", "--tls-replication", "yes",
        "--tls-cert-file", tls_files["server.pem"], "--tls-key-file", tls_files["server.key"],
        "--tls-ca-cert-file", tls_files["ca.pem"], "--tls-auth-clients", "no",
        "--requirepass", CLUSTER_PASSWORD,
        "--user", ACL_USER, "on", f">{ACL_PASSWORD}", "~qworker:*", "+@all", "-@dangerous",
        tls=True,
        cli_args=("--tls", "--cacert", tls_files["ca.pem"], "-a", CLUSTER_PASSWORD),
    )  # fmt: skip
    yield servers
    for server in servers:
        server.cleanup()

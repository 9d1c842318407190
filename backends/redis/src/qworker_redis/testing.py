"""Private redis-server processes for tests and benchmarks (never the shared server).

Each :class:`RedisServer` runs ``redis-server`` on a free loopback port with its own temporary
directory, and is stopped by its pid. :func:`start_cluster` makes a 3-node Redis Cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(cluster_bus: bool = False) -> int:
    """A free loopback port (and, for cluster nodes, port + 10000 free too)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster_bus:
            return port
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port found")


class RedisServer:
    """One redis-server process. ``args`` are extra command-line options (``--appendonly yes``)."""

    def __init__(
        self,
        *args: str,
        port: int | None = None,
        tls: bool = False,
        cluster: bool = False,
        cli_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port(cluster_bus=cluster)
        self.dir = Path(tempfile.mkdtemp(prefix="qworker-redis-"))
        self.args = list(args)
        self.tls = tls
        #: what redis-cli needs besides the port: ``--tls --cacert ...``, ``--user``/``--pass``
        self.cli_args = list(cli_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def logfile(self) -> Path:
        return self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        port_args = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        return [
            "redis-server",
            *port_args,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.logfile),
            "--save",
            "",
            "--daemonize",
            "no",
            *self.args,
        ]

    def start(self, timeout: float = 15.0) -> RedisServer:
        log_size = self.logfile.stat().st_size if self.logfile.exists() else 0
        with (self.dir / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.dir / "stderr.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {err}{self._log_tail()}")
            if self.logfile.exists():
                with self.logfile.open("rb") as f:
                    f.seek(log_size)
                    if b"Ready to accept connections" in f.read():
                        return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not start in {timeout}s{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\n" + self.logfile.read_text()[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown save, no AOF rewrite)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args: str) -> str:
        """Run redis-cli against this server (with :attr:`cli_args`) and return its output."""
        result = subprocess.run(
            ["redis-cli", "-p", str(self.port), "--no-auth-warning", *self.cli_args, *args],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return result.stdout


def start_cluster(
    nodes: int = 3, *args: str, tls: bool = False, cli_args: tuple[str, ...] = ()
) -> list[RedisServer]:
    """Start ``nodes`` cluster-enabled servers and join them into one cluster (no replicas).

    ``args`` go to every redis-server (``--requirepass``, ``--user``, the TLS files with
    ``tls=True``); ``cli_args`` are what redis-cli then needs (``--tls --cacert ...``,
    ``--user U --pass P`` or ``-a PASSWORD``).
    """
    servers = [
        RedisServer(
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            *args,
            cluster=True,
            tls=tls,
            cli_args=cli_args,
        )
        for _ in range(nodes)
    ]
    try:
        for server in servers:
            server.start()
        subprocess.run(
            ["redis-cli", "--no-auth-warning", *cli_args, "--cluster", "create",
             *[f"127.0.0.1:{s.port}" for s in servers], "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in s.cli("CLUSTER", "INFO") for s in servers):
                return servers
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")
    except BaseException:
        for server in servers:
            server.cleanup()
        raise

"""``qworker serve`` as a real subprocess, for tests (qworker's own and a third party's).

The process is started with ``python -m qworker serve`` on 127.0.0.1 and a free port, waited
for until ``/readyz`` answers 200, and stopped by its pid (SIGTERM, then SIGKILL after a grace
period). Its output goes to a log file, shown when it fails to start::

    with ServeProcess("sqlite:///tmp/q.db") as server:
        boto3.client("sqs", endpoint_url=server.url, ...)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One ``qworker serve`` process over ``backend_url``."""

    def __init__(
        self,
        backend_url: str,
        *args: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.backend_url = backend_url
        self.args = args
        #: a port picked here can be taken by another process before the server binds it (the
        #: gap between asking the kernel for a free port and binding it): start() then picks again
        self._port_chosen = port is None
        self.port = port or free_port()
        self.env = env or {}
        self._log_dir = Path(log_dir or tempfile.gettempdir())
        self.log_path = self._log_dir / f"qworker-serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "qworker", "serve", "--backend", self.backend_url,
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> Self:
        for attempt in range(3):
            if self._start_once(timeout):
                return self
            if not (self._port_chosen and "address already in use" in self.log() and attempt < 2):
                break
            self.port = free_port()  # taken meanwhile by another process: pick another one
            self.log_path = self._log_dir / f"qworker-serve-{self.port}.log"
        assert self.process is not None
        raise RuntimeError(f"qworker serve exited with {self.process.returncode}:\n{self.log()}")

    def _start_once(self, timeout: float) -> bool:
        """Start the server and wait until it is ready (True) or has exited (False)."""
        env = {**os.environ, "QWORKER_ACCOUNT_ID": "000000000000", **self.env}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.ready():
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"qworker serve was not ready within {timeout} s:\n{self.log()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; the exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

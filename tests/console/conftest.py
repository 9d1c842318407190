"""Fixtures for the console's tests: a SQLite database with queues, the console in-process
(Starlette's TestClient) or as a real ``qworker console`` server, a worker subprocess, and a
real Chromium driven by Playwright.

Browser tests skip, with the reason, only when Chromium or Playwright is truly absent
(``.ci/run`` installs both: Debian's ``chromium`` and the ``playwright`` dev extra).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from qworker.backend import Backend, QueueSpec, RedrivePolicy, SendEntry
from qworker.registry import open_backend

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("QWORKER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T = TypeVar("T")


def on_backend(url: str, action: Callable[[Backend], Awaitable[T]]) -> T:
    """Run ``action`` with a fresh connection to the backend (a test's own, beside the server's)."""

    async def go() -> T:
        async with open_backend(url) as backend:
            return await action(backend)

    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def make_queues(url: str, *specs: QueueSpec) -> None:
    async def create(backend: Backend) -> None:
        for spec in specs:
            await backend.create_queue(spec)

    on_backend(url, create)


def send(url: str, queue: str, *bodies: str, group: str | None = None) -> list[str]:
    async def go(backend: Backend) -> list[str]:
        entries = [SendEntry(b, message_group_id=group) for b in bodies]
        result = await backend.send(queue, entries)
        assert not result.failed, result.failed
        return [r.message_id for r in result.successful]

    return on_backend(url, go)


def work_and_dlq(url: str, *, visibility: float = 2) -> None:
    """Queues ``work`` (visibility ``visibility`` s, one receive then the DLQ) and ``work-dlq``."""
    make_queues(
        url,
        QueueSpec("work-dlq"),
        QueueSpec("work", visibility_timeout=visibility, redrive_policy=RedrivePolicy("work-dlq", 1)),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/console.db"


class ConsoleServer:
    """``qworker console`` in a subprocess, on a free loopback port."""

    def __init__(self, db_url: str, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/console"
        env = {**os.environ, "QWORKER_BACKEND": db_url}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qworker",
                "console",
                "--port",
                str(self.port),
                "--sample-interval",
                "1",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/static/console.css", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    self.log.seek(0)
                    err = self.log.read().decode()
                    raise RuntimeError(f"qworker console did not start: {err}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def console_server(db_url: str) -> Iterator[Callable[..., ConsoleServer]]:
    """Start ``qworker console`` with extra options: ``console_server("--console-read-only")``."""
    servers: list[ConsoleServer] = []

    def start(*args: str) -> ConsoleServer:
        server = ConsoleServer(db_url, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class WorkerProcess:
    """``qworker run tests.console.console_app:handler`` in a subprocess."""

    def __init__(self, db_url: str, queue: str, tmp_path: Path, *args: str, failing: bool = False) -> None:
        self.ledger = tmp_path / "ledger.txt"
        self.fail_flag = tmp_path / "fail"
        if failing:
            self.fail_flag.write_text("fail")
        env = {
            **os.environ,
            "QWORKER_BACKEND": db_url,
            "CONSOLE_TEST_LEDGER": str(self.ledger),
            "CONSOLE_TEST_FAIL_FLAG": str(self.fail_flag),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qworker",
                "run",
                "tests.console.console_app:handler",
                "--queue",
                queue,
                "--timeout",
                "1",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def processed(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def worker(db_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(queue: str, *args: str, failing: bool = False) -> WorkerProcess:
        process = WorkerProcess(db_url, queue, tmp_path, *args, failing=failing)
        workers.append(process)
        return process

    yield start
    for process in workers:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (``playwright install`` cannot download
    browsers here, so the system one is launched by path). Module-scoped: Playwright's sync API
    keeps an event loop running in the test thread while it is open, which other modules'
    ``asyncio.run`` must not meet."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}): apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) at 1280x800; errors on the page fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a 401 is how a poll learns that its session ended (the login test logs out)
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "(Unauthorized)" not in msg.text else None
        ),
    )
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def screenshot(page: Any, name: str) -> None:
    """Take a screenshot; with ``QWORKER_SCREENSHOTS=1`` (``make screenshots``) save it for the
    README (docs/screenshots/NAME.png, committed), so a plain test run leaves the checkout clean."""
    data = page.screenshot(full_page=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("QWORKER_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(data)


def until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.1)

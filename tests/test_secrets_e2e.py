"""End to end, with real processes: a password-only Redis URL never shows its password.

Defect 3 of issue #13: ``redis://PASSWORD@host:port`` (userinfo without a colon, which Redis
clients read as the password) was accepted but not redacted, so the password appeared in CLI
errors, ``qworker check`` and the "worker started" log line. Here ``qworker queue``, ``send``,
``check`` and ``run`` run as subprocesses against a private redis-server with ``requirepass``,
with the right password, a wrong one and an unreachable host; the password is in no byte of
their stdout, stderr, log lines or ``/metrics``, while the commands work (or fail with one clear
``error:`` line and exit 3).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from qworker.errors import ExitCode

pytest.importorskip("qworker_redis")
from qworker_redis.testing import RedisServer, free_port

QWORKER = str(Path(sys.executable).parent / "qworker")
#: '@', ':' and '/' make the percent-encoded form differ from the raw one: both are looked for
PASSWORD = "QXe2e-P@ss:w/rd"
WRONG = "QXwrong-Pa55"
HANDLER = """
import logging, os

def handler(event, context):
    # a handler that logs the backend URL it was given: the log filter must catch it
    logging.getLogger("app").warning("backend is %s", os.environ["QWORKER_BACKEND"])
    print("processed", len(event["Records"]))
"""


def _secret_forms(*secrets: str) -> set[str]:
    return {form for s in secrets for form in (s, quote(s, safe=""), quote(s), s.replace("@", "%40"))}


SECRETS = _secret_forms(PASSWORD, WRONG)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    server = RedisServer("--requirepass", PASSWORD, cli_args=("-a", PASSWORD)).start()
    yield server
    server.cleanup()


def _url(port: int, password: str = PASSWORD, query: str = "") -> str:
    return f"redis://{quote(password, safe='')}@127.0.0.1:{port}/0{query}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    env.update(extra)
    return env


def _run(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QWORKER, *args], cwd=cwd, env=env or _env(), input=stdin, capture_output=True, text=True, timeout=60
    )


def _deleted(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("qworker_messages_deleted_total{") and 'queue="runq"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for form in SECRETS:
            assert form not in text, f"secret {form!r} shown in: {text[:2000]}"


def test_cli_commands_work_with_a_password_only_url_and_never_show_it(
    server: RedisServer, tmp_path: Path
) -> None:
    url = _url(server.port)
    (tmp_path / "app.py").write_text(HANDLER)
    created = _run("queue", "create", "e2e", "--backend", url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = _run("queue", "list", "--backend", url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["e2e"]
    sent = _run(
        "send", "--queue", "e2e", "--backend", url, "-", cwd=tmp_path, stdin='{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    )
    assert sent.returncode == 0, sent.stderr
    checked = _run(
        "check", "app:handler", "--queue", "e2e", "--backend", url, "--app-dir", str(tmp_path), cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = f"redis://***@127.0.0.1:{server.port}/0"
    assert f"{shown} answers" in checked.stdout
    as_json = _run("check", "app:handler", "--queue", "e2e", "--backend", url, "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    assert json.loads(as_json.stdout)["worker"]["backend"]["value"] == shown
    for result in (created, listed, sent, checked, as_json):
        _assert_no_secret(result.stdout, result.stderr)


def test_run_logs_and_metrics_never_show_the_password(server: RedisServer, tmp_path: Path) -> None:
    url = _url(server.port)
    (tmp_path / "app.py").write_text(HANDLER)
    assert _run("queue", "create", "runq", "--backend", url, cwd=tmp_path).returncode == 0
    assert (
        _run("send", "--queue", "runq", "--backend", url, "-", cwd=tmp_path, stdin="a\nb\n").returncode == 0
    )
    port = free_port()
    process = subprocess.Popen(
        [QWORKER, "run", "app:handler", "--queue", "runq", "--app-dir", str(tmp_path), "--log-format", "json",
         "--metrics-port", str(port), "--graceful-timeout", "5"],
        cwd=tmp_path, env=_env(QWORKER_BACKEND=url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    metrics = ""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    metrics = response.read().decode()
            except OSError:
                metrics = ""
            if _deleted(metrics) == 2:
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert _deleted(metrics) == 2, stderr
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    (started,) = [line for line in lines if line["event"] == "worker started"]
    assert started["backend"] == f"redis://***@127.0.0.1:{server.port}/0"
    handler_lines = [line for line in lines if line["event"].startswith("backend is ")]
    assert handler_lines and all("redis://***@127.0.0.1" in line["event"] for line in handler_lines)
    _assert_no_secret(stdout, stderr, metrics)


@pytest.mark.parametrize("case", ["wrong-password", "unreachable", "unreachable-cluster"])
def test_wrong_password_and_unreachable_exit_3_without_the_secret(
    server: RedisServer, tmp_path: Path, case: str
) -> None:
    if case == "wrong-password":
        url = _url(server.port, WRONG)
    elif case == "unreachable":
        url = _url(free_port(), query="?socket_connect_timeout=1")
    else:
        url = (
            f"rediss+cluster://qw:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
            "?socket_connect_timeout=1"
        )
    (tmp_path / "app.py").write_text(HANDLER)
    app = ("app:handler", "--queue", "q", "--app-dir", str(tmp_path))
    results = [
        _run("queue", "list", "--backend", url, cwd=tmp_path),
        _run("check", *app, "--backend", url, cwd=tmp_path),
        _run("run", *app, "--log-format", "json", cwd=tmp_path, env=_env(QWORKER_BACKEND=url)),
    ]
    for result in results:
        assert result.returncode == ExitCode.BACKEND_UNREACHABLE, result.stdout + result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(error_lines) == 1, result.stderr
        assert "***@127.0.0.1" in error_lines[0]
        if case == "wrong-password":
            assert "invalid username-password pair" in error_lines[0]
        _assert_no_secret(result.stdout, result.stderr)

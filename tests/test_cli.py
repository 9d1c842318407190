"""The ``qworker`` command line: queue commands, error reporting, exit codes, env vars, entry points.

Every test uses its own SQLite file in a temp dir and the real SQLite backend. Sends and redrives
are in test_cli_send.py and test_cli_redrive.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from qworker import __version__
from qworker.backend import Backend, FailureNote, SendEntry
from qworker.cli import cli
from qworker.commands.common import CommandError, QworkerGroup, describe
from qworker.errors import BackendUnavailable
from qworker.registry import open_backend

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def invoke(url: str | None, *args: str, input: str | bytes | None = None, **env: str) -> Result:
    """Run ``qworker ARGS [--backend URL]`` in-process."""
    argv = [*args, "--backend", url] if url is not None else list(args)
    return CliRunner().invoke(cli, argv, input=input, env=env or None)


def api(url: str, action: Callable[[Backend], Awaitable[Any]]) -> Any:
    """Run ``action`` against the backend directly (what a worker would do)."""

    async def go() -> Any:
        async with open_backend(url) as backend:
            return await action(backend)

    return asyncio.run(go())


def stats(url: str, queue: str) -> dict[str, str]:
    result = invoke(url, "queue", "stats", queue)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def visible_and_in_flight(url: str, queue: str) -> tuple[str, str]:
    attrs = stats(url, queue)
    return attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]


def assert_error(result: Result, exit_code: int, *fragments: str) -> None:
    """One ``error:`` line on stderr, no traceback, the exit code, and each fragment in the text."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- global -----------------------------------------------------------------------------------


def test_version() -> None:
    result = invoke(None, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"qworker {__version__}"


def test_no_command_shows_help() -> None:
    result = invoke(None)
    assert result.exit_code == 2
    assert "queue" in result.output
    assert "send" in result.output


def test_click_usage_error_is_one_error_line() -> None:
    result = invoke(None, "queue", "create")
    assert_error(result, 2, "Missing argument 'NAME'", "qworker queue create --help")
    assert "Usage:" not in result.output


def test_unknown_option_is_usage_error(url: str) -> None:
    assert_error(invoke(url, "queue", "list", "--bogus"), 2, "No such option '--bogus'")


def test_unknown_backend_scheme_exits_2() -> None:
    result = invoke("nosuch://host/x", "queue", "list")
    assert_error(result, 2, "No qworker backend handles nosuch://", "sqlite://")


def test_backend_url_without_scheme_exits_2() -> None:
    assert_error(invoke("qworker.db", "queue", "list"), 2, "Invalid backend URL", "sqlite:///qworker.db")


@pytest.mark.parametrize("command", [["queue", "list"], ["send", "--queue", "q", "x"], ["redrive", "dlq"]])
def test_unreachable_backend_exits_3(tmp_path: Path, command: list[str]) -> None:
    result = invoke(f"sqlite:///{tmp_path}/no/such/dir/q.db", *command)
    assert_error(result, 3, "cannot reach sqlite:///", "no/such/dir/q.db", "QWORKER_BACKEND")


def test_password_in_backend_url_never_printed() -> None:
    # The SQLite backend's own error quotes the URL as given; the CLI redacts it.
    result = invoke("sqlite://user:s3cret@host/x.db", "queue", "list")
    assert_error(result, 2, "sqlite://user:***@host/x.db")
    assert "s3cret" not in result.output


def test_backend_unavailable_message_names_redacted_url_and_exit_code() -> None:
    exc = BackendUnavailable("connection refused")
    text = describe(exc, "redis://user:s3cret@db.internal:6379/0")
    assert "s3cret" not in text
    assert "redis://user:***@db.internal:6379/0" in text
    assert "QWORKER_BACKEND" in text
    assert exc.exit_code == 3


def test_error_lines_redact_every_url_password_and_stay_one_line() -> None:
    error = CommandError("failed talking to rediss://admin:hunter2@cache:6380/1\n  and sqs://x\n")
    assert error.format_message() == "failed talking to rediss://admin:***@cache:6380/1 and sqs://x"


def test_unexpected_exception_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    # A command with a bug: the group reports it in one line, with how to get the traceback.
    @click.group(cls=QworkerGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    result = CliRunner().invoke(group, ["boom"])
    assert_error(result, 1, "internal error: ZeroDivisionError", "QWORKER_DEBUG=1")
    monkeypatch.setenv("QWORKER_DEBUG", "1")
    result = CliRunner().invoke(group, ["boom"])
    assert isinstance(result.exception, ZeroDivisionError)


# --- queue create / list / stats ----------------------------------------------------------------


def test_create_with_every_attribute_then_stats(url: str) -> None:
    assert invoke(url, "queue", "create", "orders-dlq").exit_code == 0
    result = invoke(
        url, "queue", "create", "orders",
        "--visibility-timeout", "45", "--retention", "3600", "--delay", "2",
        "--max-message-size", "2048", "--receive-wait", "1",
        "--dlq", "orders-dlq", "--max-receive-count", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "orders\n"
    attrs = stats(url, "orders")
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["MessageRetentionPeriod"] == "3600"
    assert attrs["DelaySeconds"] == "2"
    assert attrs["MaximumMessageSize"] == "2048"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "1"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:orders-dlq",
        "maxReceiveCount": 3,
    }
    assert attrs["QueueArn"].endswith(":orders")
    for count in ("", "NotVisible", "Delayed"):
        assert attrs[f"ApproximateNumberOfMessages{count}"] == "0"
    assert "FifoQueue" not in attrs


def test_create_fifo_with_dedup_options(url: str) -> None:
    args = ["jobs.fifo", "--fifo", "--content-based-dedup", "--dedup-scope", "messageGroup"]
    result = invoke(url, "queue", "create", *args)
    assert result.exit_code == 0, result.output
    attrs = stats(url, "jobs.fifo")
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "true"
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"


def test_create_name_ending_in_fifo_is_fifo_without_flag(url: str) -> None:
    assert invoke(url, "queue", "create", "plain.fifo").exit_code == 0
    assert stats(url, "plain.fifo")["FifoQueue"] == "true"


def test_create_is_idempotent_but_refuses_other_attributes(url: str) -> None:
    assert invoke(url, "queue", "create", "q", "--visibility-timeout", "10").exit_code == 0
    assert invoke(url, "queue", "create", "q", "--visibility-timeout", "10").exit_code == 0
    result = invoke(url, "queue", "create", "q", "--visibility-timeout", "20")
    assert_error(result, 2)
    assert stats(url, "q")["VisibilityTimeout"] == "10"


def test_create_fifo_flag_needs_fifo_name(url: str) -> None:
    result = invoke(url, "queue", "create", "orders", "--fifo")
    assert_error(result, 2, "--fifo", "orders.fifo")
    assert invoke(url, "queue", "list").stdout == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--dlq", "dead"], ["--dlq needs --max-receive-count"]),
        (["--max-receive-count", "3"], ["--max-receive-count needs --dlq"]),
        (["--content-based-dedup"], ["--content-based-dedup is for FIFO queues only", "q.fifo"]),
        (["--dedup-scope", "queue"], ["--dedup-scope is for FIFO queues only"]),
        (["--visibility-timeout", "50000"], ["--visibility-timeout", "43200"]),
        (["--retention", "10"], ["--retention", "60"]),
        (["--delay", "901"], ["--delay"]),
        (["--max-message-size", "100"], ["--max-message-size", "1024"]),
        (["--receive-wait", "21"], ["--receive-wait"]),
        (["--dlq", "dead", "--max-receive-count", "1001"], ["--max-receive-count", "1000"]),
        (["--visibility-timeout", "soon"], ["--visibility-timeout", "'soon' is not a valid float"]),
        (["--dedup-scope", "group"], ["--dedup-scope"]),
    ],
)
def test_create_rejects_bad_attributes(url: str, args: list[str], fragments: list[str]) -> None:
    assert invoke(url, "queue", "create", "dead").exit_code == 0
    result = invoke(url, "queue", "create", "q", *args)
    assert_error(result, 2, *fragments)
    assert invoke(url, "queue", "list").stdout == "dead\n"


def test_create_rejects_invalid_queue_name(url: str) -> None:
    assert_error(invoke(url, "queue", "create", "bad name!"), 2, "Invalid queue name")


def test_create_rejects_dlq_of_other_type(url: str) -> None:
    assert invoke(url, "queue", "create", "dead.fifo").exit_code == 0
    result = invoke(url, "queue", "create", "q", "--dlq", "dead.fifo", "--max-receive-count", "2")
    assert_error(result, 2, "same type")


def test_create_rejects_missing_dlq(url: str) -> None:
    result = invoke(url, "queue", "create", "q", "--dlq", "nowhere", "--max-receive-count", "2")
    assert_error(result, 2, "nowhere")
    assert invoke(url, "queue", "list").stdout == ""


def test_list_sorted_with_prefix(url: str) -> None:
    for name in ("b-two", "a-one", "b-one"):
        assert invoke(url, "queue", "create", name).exit_code == 0
    assert invoke(url, "queue", "list").stdout == "a-one\nb-one\nb-two\n"
    assert invoke(url, "queue", "list", "--prefix", "b-").stdout == "b-one\nb-two\n"
    assert invoke(url, "queue", "list", "--prefix", "zzz").stdout == ""


@pytest.mark.parametrize(
    "command", [["stats"], ["purge"], ["delete"], ["peek"], ["tags"], ["set-attributes", "--delay", "1"]]
)
def test_unknown_queue_exits_2_with_hint(url: str, command: list[str]) -> None:
    result = invoke(url, "queue", command[0], "ghost", *command[1:])
    assert_error(result, 2, "does not exist", "'ghost'", "qworker queue create ghost")


def test_unknown_fifo_queue_hint_has_fifo_flag(url: str) -> None:
    assert_error(invoke(url, "queue", "stats", "ghost.fifo"), 2, "qworker queue create ghost.fifo --fifo")


# --- set-attributes / tags ---------------------------------------------------------------------


def test_set_attributes_changes_what_is_given_and_says_so(url: str) -> None:
    assert invoke(url, "queue", "create", "q", "--visibility-timeout", "45", "--delay", "2").exit_code == 0
    result = invoke(url, "queue", "set-attributes", "q", "--visibility-timeout", "60", "--retention", "600")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "MessageRetentionPeriod: 345600 -> 600",
        "VisibilityTimeout: 45 -> 60",
    ]
    attrs = stats(url, "q")
    assert (attrs["VisibilityTimeout"], attrs["MessageRetentionPeriod"], attrs["DelaySeconds"]) == (
        "60",
        "600",
        "2",
    )
    same = invoke(url, "queue", "set-attributes", "q", "--delay", "2")
    assert same.exit_code == 0 and same.stderr == "queue q: nothing changed\n"


def test_set_attributes_redrive_policy(url: str) -> None:
    for name in ("q", "dlq", "dlq2"):
        invoke(url, "queue", "create", name)
    assert_error(invoke(url, "queue", "set-attributes", "q", "--dlq", "dlq"), 2, "--max-receive-count")
    assert_error(invoke(url, "queue", "set-attributes", "q", "--max-receive-count", "3"), 2, "--dlq NAME")
    assert (
        invoke(url, "queue", "set-attributes", "q", "--dlq", "dlq", "--max-receive-count", "3").exit_code == 0
    )
    assert '"maxReceiveCount": 3' in stats(url, "q")["RedrivePolicy"]
    assert (
        invoke(url, "queue", "set-attributes", "q", "--max-receive-count", "5").exit_code == 0
    )  # keeps the DLQ
    assert invoke(url, "queue", "set-attributes", "q", "--dlq", "dlq2").exit_code == 0  # keeps the count
    policy = json.loads(stats(url, "q")["RedrivePolicy"])
    assert (policy["deadLetterTargetArn"].endswith(":dlq2"), policy["maxReceiveCount"]) == (True, 5)
    assert_error(invoke(url, "queue", "set-attributes", "q", "--no-dlq", "--dlq", "dlq"), 2, "--no-dlq")
    assert invoke(url, "queue", "set-attributes", "q", "--no-dlq").exit_code == 0
    assert "RedrivePolicy" not in stats(url, "q")
    assert_error(
        invoke(url, "queue", "set-attributes", "q", "--dlq", "ghost", "--max-receive-count", "2"),
        2,
        "Dead letter target does not exist",
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ([], ["nothing to change"]),
        (["--visibility-timeout", "43201"], ["--visibility-timeout"]),
        (["--content-based-dedup"], ["FIFO queues only"]),
        (["--dedup-scope", "messageGroup"], ["FIFO queues only"]),
    ],
)
def test_set_attributes_refuses(url: str, args: list[str], fragments: list[str]) -> None:
    invoke(url, "queue", "create", "q")
    assert_error(invoke(url, "queue", "set-attributes", "q", *args), 2, *fragments)


def test_set_attributes_fifo_deduplication(url: str) -> None:
    invoke(url, "queue", "create", "f.fifo")
    result = invoke(
        url, "queue", "set-attributes", "f.fifo", "--content-based-dedup", "--dedup-scope", "messageGroup"
    )
    assert result.exit_code == 0, result.output
    attrs = stats(url, "f.fifo")
    assert (attrs["ContentBasedDeduplication"], attrs["DeduplicationScope"]) == ("true", "messageGroup")
    assert invoke(url, "queue", "set-attributes", "f.fifo", "--no-content-based-dedup").exit_code == 0
    assert stats(url, "f.fifo")["ContentBasedDeduplication"] == "false"


def test_create_with_tags_then_tag_untag_and_list(url: str) -> None:
    result = invoke(url, "queue", "create", "q", "--tag", "team=payments", "--tag", "env=")
    assert result.exit_code == 0, result.output
    assert json.loads(invoke(url, "queue", "tags", "q").stdout) == {"env": "", "team": "payments"}
    invoke(url, "queue", "create", "q", "--tag", "team=other")  # exists: its tags stay
    assert invoke(url, "queue", "tag", "q", "cost=42", "team=core").exit_code == 0
    assert invoke(url, "queue", "untag", "q", "env", "absent").exit_code == 0
    assert json.loads(invoke(url, "queue", "tags", "q").stdout) == {"cost": "42", "team": "core"}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--tag", "no-equals"], "expected KEY=VALUE"),
        (["--tag", "=value"], "expected KEY=VALUE"),
        (["--tag", "k=" + "v" * 257], "between 0 and 256"),
        ([arg for i in range(51) for arg in ("--tag", f"k{i}=v")], "at most 50 tags"),
    ],
)
def test_create_refuses_bad_tags(url: str, args: list[str], fragment: str) -> None:
    assert_error(invoke(url, "queue", "create", "q", *args), 2, fragment)
    assert invoke(url, "queue", "list").stdout == ""


# --- purge / delete -----------------------------------------------------------------------------


def _send(url: str, queue: str, *bodies: str) -> None:
    result = api(url, lambda backend: backend.send(queue, [SendEntry(body) for body in bodies]))
    assert not result.failed


def test_purge_empties_queue_and_keeps_it(url: str) -> None:
    invoke(url, "queue", "create", "q")
    _send(url, "q", "a", "b", "c")
    api(url, lambda backend: backend.receive("q", 1))
    assert visible_and_in_flight(url, "q") == ("2", "1")
    result = invoke(url, "queue", "purge", "q")
    assert result.exit_code == 0, result.output
    assert "purged queue q" in result.stderr
    assert visible_and_in_flight(url, "q") == ("0", "0")


def test_purge_again_within_60_seconds_exits_2_with_sqs_error(url: str) -> None:
    invoke(url, "queue", "create", "q")
    assert invoke(url, "queue", "purge", "q").exit_code == 0
    _send(url, "q", "kept")
    result = invoke(url, "queue", "purge", "q")
    assert_error(
        result,
        2,
        "Only one PurgeQueue operation on q is allowed every 60 seconds.",
        "try again in ",
    )
    assert visible_and_in_flight(url, "q") == ("1", "0")


def test_delete_removes_queue(url: str) -> None:
    invoke(url, "queue", "create", "q")
    invoke(url, "queue", "create", "keep")
    _send(url, "q", "a")
    result = invoke(url, "queue", "delete", "q")
    assert result.exit_code == 0, result.output
    assert invoke(url, "queue", "list").stdout == "keep\n"
    assert_error(invoke(url, "queue", "delete", "q"), 2, "does not exist")


# --- peek -------------------------------------------------------------------------------------


@pytest.fixture
def peek_queue(url: str) -> tuple[str, str]:
    """A queue with one in-flight message (receive count 1, a recorded error) and two visible ones."""
    invoke(url, "queue", "create", "q", "--visibility-timeout", "600")
    result = invoke(
        url, "send", "--queue", "q", "first", "second", "third", "--attribute", "kind=String:test"
    )
    assert result.exit_code == 0, result.output

    async def fail_one(backend: Backend) -> str:
        [message] = await backend.receive("q", 1)
        await backend.record_failures("q", [FailureNote(message.receipt_handle, "ValueError: bad order")])
        return message.message_id

    return url, api(url, fail_one)


def test_peek_json_lines_show_state_receives_and_last_error(peek_queue: tuple[str, str]) -> None:
    url, failed_id = peek_queue
    result = invoke(url, "queue", "peek", "q")  # stdout is not a terminal: JSON lines
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert {row["Body"] for row in rows} == {"first", "second", "third"}
    by_id = {row["MessageId"]: row for row in rows}
    failed = by_id.pop(failed_id)
    assert failed["State"] == "in_flight"
    assert failed["ReceiveCount"] == 1
    assert failed["LastError"] == "ValueError: bad order"
    for row in by_id.values():
        assert (row["State"], row["ReceiveCount"], row["LastError"]) == ("visible", 0, None)
        assert row["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "test"}}
        assert isinstance(row["VisibleAt"], int)
    # peek changed nothing
    assert visible_and_in_flight(url, "q") == ("2", "1")


def test_peek_limit(peek_queue: tuple[str, str]) -> None:
    url, _ = peek_queue
    result = invoke(url, "queue", "peek", "q", "-n", "2", "--json")
    assert len(result.stdout.splitlines()) == 2
    assert_error(invoke(url, "queue", "peek", "q", "-n", "0"), 2, "-n")


def test_peek_table(peek_queue: tuple[str, str]) -> None:
    url, failed_id = peek_queue
    result = invoke(url, "queue", "peek", "q", "--table", COLUMNS="200")
    assert result.exit_code == 0, result.output
    assert "message id" in result.stdout
    assert "last error" in result.stdout
    assert failed_id in result.stdout
    assert "in_flight" in result.stdout
    assert "ValueError: bad order" in result.stdout
    assert "second" in result.stdout


def test_peek_empty_queue(url: str) -> None:
    invoke(url, "queue", "create", "q")
    assert invoke(url, "queue", "peek", "q", "--json").stdout == ""
    assert "q has no messages" in invoke(url, "queue", "peek", "q", "--table").stdout


# --- environment variables ----------------------------------------------------------------------


def test_backend_and_options_from_environment(url: str, tmp_path: Path) -> None:
    env = {"QWORKER_BACKEND": url, "QWORKER_QUEUE_CREATE_VISIBILITY_TIMEOUT": "77"}
    result = invoke(None, "queue", "create", "envq", **env)
    assert result.exit_code == 0, result.output
    assert stats(url, "envq")["VisibilityTimeout"] == "77"
    result = invoke(None, "send", "hello", QWORKER_BACKEND=url, QWORKER_QUEUE="envq")
    assert result.exit_code == 0, result.output
    assert stats(url, "envq")["ApproximateNumberOfMessages"] == "1"
    # --backend on the command line wins over the environment
    other = f"sqlite:///{tmp_path}/other.db"
    assert invoke(other, "queue", "list", QWORKER_BACKEND=url).stdout == ""
    assert invoke(None, "queue", "list", QWORKER_BACKEND=url).stdout == "envq\n"


def test_help_names_environment_variables() -> None:
    result = invoke(None, "send", "--help")
    for name in ("QWORKER_BACKEND", "QWORKER_QUEUE", "QWORKER_SEND_GROUP_ID", "QWORKER_SEND_ATTRIBUTE"):
        assert name in result.stdout


# --- the real entry points ----------------------------------------------------------------------


def _run(argv: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=30)


def test_console_script_default_backend_in_working_directory(tmp_path: Path) -> None:
    qworker = str(VENV_BIN / "qworker")
    assert _run([qworker, "--version"], tmp_path).stdout.strip() == f"qworker {__version__}"
    assert _run([qworker, "queue", "create", "q"], tmp_path).returncode == 0
    assert (tmp_path / "qworker.db").exists()  # default backend sqlite:///qworker.db, relative
    sent = _run([qworker, "send", "--queue", "q", "-"], tmp_path, stdin='{"a": 1}\n\n{"a": 2}\n')
    assert sent.returncode == 0, sent.stderr
    assert len(sent.stdout.split()) == 2
    missing = _run([qworker, "queue", "stats", "ghost"], tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr


def test_python_dash_m(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    python = [sys.executable, "-m", "qworker"]
    assert _run([*python, "--version"], tmp_path).stdout.strip() == f"qworker {__version__}"
    assert _run([*python, "queue", "create", "q", "--backend", url], tmp_path).returncode == 0
    out = _run([*python, "queue", "stats", "q", "--backend", url], tmp_path)
    assert json.loads(out.stdout)["ApproximateNumberOfMessages"] == "0"
    bad = _run([*python, "queue", "create", "q", "--fifo", "--backend", url], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --fifo")


@pytest.mark.parametrize("columns", ["80", "130"])
def test_peek_table_stays_readable_with_a_real_traceback(url: str, tmp_path: Path, columns: str) -> None:
    """Issue 14 §6: a dead letter's stored error is a whole traceback; at 80 columns the table
    used to lose its state, receive-count and body columns. Every message shows its id, state,
    receive count, body and the error's type and message, and no line passes the width."""
    invoke(url, "queue", "create", "dlq")
    invoke(
        url, "queue", "create", "q", "--dlq", "dlq", "--max-receive-count", "1", "--visibility-timeout", "1"
    )
    invoke(url, "send", "--queue", "q", '{"order": 17}', "plain body")
    (tmp_path / "failing.py").write_text(
        "def handler(event, context):\n"
        "    def deeper(n):\n"
        "        if not n:\n"
        "            raise ValueError('order has no customer: ' + 'x' * 300)\n"
        "        deeper(n - 1)\n"
        "    deeper(8)\n"
    )
    # a real process: an in-process `run` would configure this process's logging for good
    run = subprocess.run(
        [sys.executable, "-m", "qworker", "run", "failing:handler", "--queue", "q", "--timeout", "1",
         "--app-dir", str(tmp_path), "--until-empty", "--log-level", "error", "--backend", url],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    time.sleep(1.1)  # the failed messages move to the DLQ on their next receive
    api(url, lambda backend: backend.receive("q", 10, wait_seconds=0))
    [stored] = {m.last_error for m in api(url, lambda backend: backend.peek("dlq", 10))}
    assert stored is not None and "Traceback" not in stored.splitlines()[0] and "deeper" in stored
    result = invoke(url, "queue", "peek", "dlq", "--table", COLUMNS=columns)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= int(columns) for line in lines), lines
    text = result.stdout
    for message in api(url, lambda backend: backend.peek("dlq", 10)):
        assert message.message_id in text
    assert text.count("visible") >= 2 and "ValueError: order has no" in text
    assert '{"order": 17}' in text and "plain body" in text
    assert " 1 " in text or "recv 1" in text

"""``qworker send``: bodies from arguments, files and stdin; attributes; FIFO ids; validation that
sends nothing when any input is bad (SQS-L-1 size, SQS-L-2 delay, SQS-L-5 attributes, SQS-F-2
group id, SQS-F-3 deduplication); the progress bar on a terminal.

Real SQLite backend, one temp file per test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pty
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qworker.backend import Backend, MessageAttributeValue, QueueSpec, ReceivedMessage
from qworker.cli import cli
from qworker.commands.common import CommandError
from qworker.commands.send import SEND_BATCH, plan_entries, send_entries
from qworker.commands.send_input import Body
from qworker.errors import QueueDoesNotExist
from qworker.registry import open_backend


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/send.db"


def invoke(url: str, *args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--backend", url], input=input)


def api(url: str, action: Callable[[Backend], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with open_backend(url) as backend:
            return await action(backend)

    return asyncio.run(go())


def receive_all(url: str, queue: str) -> list[ReceivedMessage]:
    return api(url, lambda backend: backend.receive(queue, 100_000, wait_seconds=0))


def counts(url: str, queue: str) -> tuple[int, int, int]:
    info = api(url, lambda backend: backend.get_queue(queue))
    return info.counts.visible, info.counts.in_flight, info.counts.delayed


def create(url: str, *args: str) -> None:
    result = invoke(url, "queue", "create", *args)
    assert result.exit_code == 0, result.output


def assert_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def message_ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    ids = result.stdout.splitlines()
    for message_id in ids:
        uuid.UUID(message_id)
    return ids


# --- happy paths --------------------------------------------------------------------------------


def test_send_arguments_prints_ids_in_order(url: str) -> None:
    create(url, "q")
    ids = message_ids(invoke(url, "send", "--queue", "q", '{"n": 1}', "two", "three"))
    assert len(ids) == len(set(ids)) == 3
    received = {m.message_id: m.body for m in receive_all(url, "q")}
    assert [received[i] for i in ids] == ['{"n": 1}', "two", "three"]


def test_send_attributes_of_every_type(url: str) -> None:
    # SQS-L-5: String, Number, Binary (base64 on the command line), custom type labels.
    create(url, "q")
    result = invoke(
        url, "send", "--queue", "q", "body",
        "--attribute", "tenant=String:acme:eu=1",
        "--attribute", "retries=Number.int:3",
        "--attribute", "blob=Binary:" + base64.b64encode(b"\x00\xffdata").decode(),
        "--attribute", "doc=String.json:{\"a\": 1}",
    )  # fmt: skip
    message_ids(result)
    [message] = receive_all(url, "q")
    assert message.message_attributes == {
        "tenant": MessageAttributeValue("String", string_value="acme:eu=1"),
        "retries": MessageAttributeValue("Number.int", string_value="3"),
        "blob": MessageAttributeValue("Binary", binary_value=b"\x00\xffdata"),
        "doc": MessageAttributeValue("String.json", string_value='{"a": 1}'),
    }
    assert message.md5_of_message_attributes is not None


def test_send_file_lines_as_written(url: str, tmp_path: Path) -> None:
    create(url, "q")
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": 1}\n\n   \n  indented and trailing  \r\nnot json at all\n{"id": "\xc3\xa9"}')
    ids = message_ids(invoke(url, "send", "--queue", "q", "--file", str(path)))
    received = {m.message_id: m.body for m in receive_all(url, "q")}
    assert [received[i] for i in ids] == [
        '{"id": 1}',
        "  indented and trailing  ",
        "not json at all",
        '{"id": "é"}',
    ]


@pytest.mark.parametrize("how", [["-"], ["--file", "-"]])
def test_send_stdin(url: str, how: list[str]) -> None:
    create(url, "q")
    ids = message_ids(invoke(url, "send", "--queue", "q", *how, input="one\ntwo\n\nthree\n"))
    received = {m.message_id: m.body for m in receive_all(url, "q")}
    assert [received[i] for i in ids] == ["one", "two", "three"]


def test_send_many_lines_in_batches(url: str, tmp_path: Path) -> None:
    create(url, "q")
    total = SEND_BATCH * 2 + 7
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(total)))
    ids = message_ids(invoke(url, "send", "--queue", "q", "--file", str(path)))
    assert len(ids) == len(set(ids)) == total
    received = {m.message_id: json.loads(m.body)["n"] for m in receive_all(url, "q")}
    assert [received[i] for i in ids] == list(range(total))
    assert invoke(url, "send", "--queue", "q", "--file", str(path)).stderr == ""  # no progress off a tty


def test_send_fifo_with_group_and_dedup_ids(url: str) -> None:
    # SQS-F-2 order within a group; SQS-F-3 the same dedup id within 5 minutes is not enqueued again.
    create(url, "jobs.fifo", "--fifo")
    args = ["send", "--queue", "jobs.fifo", "--group-id", "g1", "--dedup-id", "batch-{n}", "a", "b", "c"]
    first = message_ids(invoke(url, *args))
    assert len(first) == 3
    again = message_ids(invoke(url, *args))
    assert again == first  # accepted, reported with the original ids, not enqueued twice
    single = message_ids(
        invoke(url, "send", "--queue", "jobs.fifo", "--group-id", "g2", "--dedup-id", "x", "d")
    )
    assert counts(url, "jobs.fifo") == (4, 0, 0)
    received = receive_all(url, "jobs.fifo")
    group1 = [m for m in received if m.message_group_id == "g1"]
    assert [m.body for m in group1] == ["a", "b", "c"]
    assert [m.attributes["MessageDeduplicationId"] for m in group1] == ["batch-1", "batch-2", "batch-3"]
    [d] = [m for m in received if m.message_group_id == "g2"]
    assert (d.message_id, d.attributes["MessageDeduplicationId"]) == (single[0], "x")


def test_send_fifo_content_based_dedup_needs_no_dedup_id(url: str) -> None:
    create(url, "cb.fifo", "--fifo", "--content-based-dedup")
    message_ids(invoke(url, "send", "--queue", "cb.fifo", "--group-id", "g", "same", "same", "other"))
    assert counts(url, "cb.fifo") == (2, 0, 0)


def test_send_delay(url: str) -> None:
    create(url, "q")
    message_ids(invoke(url, "send", "--queue", "q", "--delay", "60", "later"))
    message_ids(invoke(url, "send", "--queue", "q", "now"))
    assert counts(url, "q") == (1, 0, 1)


# --- errors: nothing is sent --------------------------------------------------------------------


def test_unknown_queue(url: str) -> None:
    assert_error(
        invoke(url, "send", "--queue", "ghost", "x"), 2, "does not exist", "qworker queue create ghost"
    )


def test_no_queue_names_both_ways(url: str) -> None:
    assert_error(invoke(url, "send", "x"), 2, "--queue NAME", "QWORKER_QUEUE")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ([], ["nothing to send"]),
        (["a", "--file", "-"], ["not both"]),
        (["a", "-"], ["'-'", "only BODY argument"]),
        (["--delay", "901", "x"], ["--delay"]),
        (["--file", "/does/not/exist.jsonl"], ["--file", "does not exist"]),
    ],
)
def test_bad_arguments(url: str, args: list[str], fragments: list[str]) -> None:
    create(url, "q")
    assert_error(invoke(url, "send", "--queue", "q", *args), 2, *fragments)
    assert counts(url, "q") == (0, 0, 0)


def test_empty_file(url: str, tmp_path: Path) -> None:
    create(url, "q")
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    assert_error(
        invoke(url, "send", "--queue", "q", "--file", str(path)), 2, "nothing to send", "empty.jsonl"
    )


@pytest.mark.parametrize(
    ("attribute", "fragments"),
    [
        ("novalue", ["expected NAME=TYPE:VALUE"]),
        ("name=String", ["expected NAME=TYPE:VALUE"]),
        ("=String:x", ["expected NAME=TYPE:VALUE"]),
        ("n=Text:x", ["unknown type 'Text'", "String, Number or Binary"]),
        ("n=string:x", ["unknown type 'string'"]),
        ("n=Number:abc", ["cast", "number"]),
        ("n=Binary:not base64!", ["base64"]),
        ("n=String:", ["non-empty"]),
        ("AWS.trace=String:x", ["'AWS.trace'", "invalid"]),
        ("bad name=String:x", ["'bad name'"]),
    ],
)
def test_bad_attribute(url: str, attribute: str, fragments: list[str]) -> None:
    create(url, "q")
    result = invoke(url, "send", "--queue", "q", "--attribute", attribute, "x")
    assert_error(result, 2, "--attribute", *fragments)
    assert counts(url, "q") == (0, 0, 0)


def test_duplicate_and_too_many_attributes(url: str) -> None:
    create(url, "q")
    twice = ["--attribute", "a=String:1", "--attribute", "a=String:2"]
    assert_error(invoke(url, "send", "--queue", "q", *twice, "x"), 2, "'a' is given twice")
    eleven = [arg for n in range(11) for arg in ("--attribute", f"a{n}=String:v")]
    assert_error(invoke(url, "send", "--queue", "q", *eleven, "x"), 2, "exceeds the allowed maximum [10]")


def test_fifo_without_group_id(url: str) -> None:
    create(url, "jobs.fifo", "--fifo", "--content-based-dedup")
    assert_error(invoke(url, "send", "--queue", "jobs.fifo", "x"), 2, "FIFO", "--group-id")
    assert counts(url, "jobs.fifo") == (0, 0, 0)


def test_fifo_without_dedup_id_or_content_based_dedup(url: str) -> None:
    create(url, "jobs.fifo", "--fifo")
    result = invoke(url, "send", "--queue", "jobs.fifo", "--group-id", "g", "x")
    assert_error(result, 2, "--dedup-id", "--content-based-dedup")


def test_fifo_refuses_message_delay(url: str) -> None:
    create(url, "jobs.fifo", "--fifo", "--content-based-dedup")
    result = invoke(url, "send", "--queue", "jobs.fifo", "--group-id", "g", "--delay", "5", "x")
    assert_error(result, 2, "--delay is not allowed on FIFO queue jobs.fifo")


def test_dedup_id_on_standard_queue(url: str) -> None:
    create(url, "q")
    assert_error(invoke(url, "send", "--queue", "q", "--dedup-id", "d", "x"), 2, "--dedup-id is for FIFO")


def test_one_dedup_id_for_several_messages_would_lose_them(url: str) -> None:
    create(url, "jobs.fifo", "--fifo")
    result = invoke(url, "send", "--queue", "jobs.fifo", "--group-id", "g", "--dedup-id", "d", "x", "y")
    assert_error(result, 2, "only the first", "{n}")
    assert counts(url, "jobs.fifo") == (0, 0, 0)


def test_invalid_group_id_blames_the_option(url: str) -> None:
    create(url, "jobs.fifo", "--fifo", "--content-based-dedup")
    result = invoke(url, "send", "--queue", "jobs.fifo", "--group-id", "has space", "x")
    assert_error(result, 2, "MessageGroupId", "the options, not a body")


def test_body_over_queue_limit_in_big_file_sends_nothing(url: str, tmp_path: Path) -> None:
    # SQS-L-1: the size limit is the queue's MaximumMessageSize, counted with the attributes.
    create(url, "q", "--max-message-size", "1024")
    lines = [json.dumps({"n": n}) for n in range(10_000)]
    lines[7_776] = json.dumps({"n": 7776, "pad": "x" * 2000})
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(url, "send", "--queue", "q", "--file", str(path))
    assert_error(result, 2, "line 7777 of", "big.jsonl", "1024 bytes", "Nothing was sent")
    assert result.stdout == ""
    assert counts(url, "q") == (0, 0, 0)


def test_several_bad_lines_are_counted(url: str, tmp_path: Path) -> None:
    create(url, "q", "--max-message-size", "1024")
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(("y" * 1100 if n % 2 else "ok") + "\n" for n in range(12)))
    result = invoke(url, "send", "--queue", "q", "--file", str(path))
    assert_error(result, 2, "line 2 of", "line 4 of", "line 6 of", "and 3 more invalid messages")
    assert counts(url, "q") == (0, 0, 0)


def test_attribute_size_counts_toward_limit(url: str) -> None:
    create(url, "q", "--max-message-size", "1024")
    result = invoke(url, "send", "--queue", "q", "--attribute", "pad=String:" + "p" * 1000, "x" * 100)
    assert_error(result, 2, "1024 bytes")


def test_forbidden_character_and_bad_utf8_name_the_line(url: str, tmp_path: Path) -> None:
    create(url, "q")
    path = tmp_path / "ctl.jsonl"
    path.write_bytes(b"fine\nbell\x07here\n")
    assert_error(invoke(url, "send", "--queue", "q", "--file", str(path)), 2, "line 2 of", "#x7")
    path.write_bytes(b"fine\n\n\xff\xfe\n")
    assert_error(invoke(url, "send", "--queue", "q", "--file", str(path)), 2, "line 3 of", "not valid UTF-8")
    assert counts(url, "q") == (0, 0, 0)


def test_body_argument_error_names_the_argument(url: str) -> None:
    create(url, "q")
    assert_error(invoke(url, "send", "--queue", "q", "ok", "bad\x00"), 2, "argument 2")


def test_queue_and_options_from_environment(url: str) -> None:
    create(url, "jobs.fifo", "--fifo")
    env = {
        "QWORKER_BACKEND": url,
        "QWORKER_QUEUE": "jobs.fifo",
        "QWORKER_SEND_GROUP_ID": "env-group",
        "QWORKER_SEND_DEDUP_ID": "env-{n}",
    }
    result = CliRunner().invoke(cli, ["send", "a", "b"], env=env)
    assert len(message_ids(result)) == 2
    received = receive_all(url, "jobs.fifo")
    assert [(m.body, m.message_group_id) for m in received] == [("a", "env-group"), ("b", "env-group")]


# --- progress bar -------------------------------------------------------------------------------


def test_progress_bar_only_on_a_terminal(url: str, tmp_path: Path) -> None:
    # stderr is a pseudo-terminal, stdout a pipe: the bar is drawn on stderr, the ids stay on stdout.
    create(url, "q")
    path = tmp_path / "many.jsonl"
    path.write_text("".join(f"{n}\n" for n in range(1500)))
    controller, terminal = pty.openpty()
    shown = bytearray()

    def drain() -> None:  # read while the command runs, so a full terminal buffer never blocks it
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the other end is closed and everything was read
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    env.update(COLUMNS="100", TERM="xterm")
    try:
        process = subprocess.run(
            [sys.executable, "-m", "qworker", "send", "--queue", "q", "--file", str(path), "--backend", url],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
            timeout=30,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    assert process.returncode == 0
    assert len(process.stdout.split()) == 1500
    assert b"sending" in shown
    assert b"1500/1500" in shown


# --- the backend refuses what validation allowed ------------------------------------------------


def test_refused_entries_stop_the_send_and_say_what_was_sent(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The queue's limit changed after validation (planned against a 1 MiB queue, sent to a 1 KiB one):
    # the backend refuses the big entry of the second batch; the third batch is never sent.
    create(url, "small", "--max-message-size", "1024")
    bodies = [
        Body("x" * 2000 if n == SEND_BATCH + 50 else f"m{n}", f"line {n + 1} of f") for n in range(1200)
    ]
    entries = plan_entries(QueueSpec("big"), bodies, {}, None, None, None)
    with pytest.raises(CommandError) as caught:
        api(url, lambda backend: send_entries(backend, "small", entries, bodies))
    assert caught.value.exit_code == 1
    text = caught.value.format_message()
    assert f"refused, first line {SEND_BATCH + 51} of f" in text
    assert f"{2 * SEND_BATCH - 1} of 1200 messages were sent" in text
    assert f"inputs after line {2 * SEND_BATCH} of f were not sent" in text
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 * SEND_BATCH - 1
    assert counts(url, "small") == (2 * SEND_BATCH - 1, 0, 0)


def test_queue_gone_before_first_batch_is_the_plain_error(url: str) -> None:
    bodies = [Body("x", "argument 1")]
    entries = plan_entries(QueueSpec("q"), bodies, {}, None, None, None)
    with pytest.raises(QueueDoesNotExist):
        api(url, lambda backend: send_entries(backend, "q", entries, bodies))


def test_closed_stdout_stops_sending_and_says_how_many_were_sent(url: str, tmp_path: Path) -> None:
    # 5000 ids (185 kB) cannot all fit in a pipe buffer: closing the reader makes a write fail.
    create(url, "q")
    path = tmp_path / "many.txt"
    path.write_text("".join(f"{n}\n" for n in range(5000)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWORKER_")}
    with subprocess.Popen(
        [sys.executable, "-m", "qworker", "send", "--queue", "q", "--file", str(path), "--backend", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        uuid.UUID(process.stdout.readline().decode().strip())
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=30) == 1
    assert stderr.startswith("error: stdout was closed, so sending stopped: "), stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    visible = counts(url, "q")[0]
    assert 0 < visible < 5000
    assert visible % SEND_BATCH == 0
    assert (
        f"{visible} of 5000 messages were sent, from line 1 of {path} to line {visible} of {path}" in stderr
    )

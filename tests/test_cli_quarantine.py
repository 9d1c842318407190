"""``qworker queue quarantine list|restore|drop NAME`` and the stats key, on SQLite and Redis (T16).

Each test runs twice (the ``backend_url`` fixture): on a SQLite file and on a private Redis. The
messages are damaged through the backend's own storage (``tests/corruption.py``), then the
commands run in-process as a user would type them.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy, SendEntry
from qworker.cli import cli
from qworker.commands.quarantine_output import escape_bytes
from qworker.registry import open_backend
from tests.corruption import corrupt_message, overwrite_raw


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)


def invoke(url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--backend", url], input=input)


def api(url: str, action: Callable[[Any], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with open_backend(url) as backend:
            return await action(backend)

    return asyncio.run(go())


def quarantined_queue(url: str, *, dlq: bool = False, raw: bytes | None = None) -> tuple[list[str], str, str]:
    """Queue ``q`` (with dead-letter queue ``q-dlq`` if asked) holding ``ok`` and two messages
    set aside by a receive: one with damaged attributes, one with a damaged body (or with ``raw``
    as its stored data). Returns (ok id, attributes victim, body victim)."""

    async def setup(backend: Any) -> tuple[list[str], str, str]:
        policy = None
        if dlq:
            await backend.create_queue(QueueSpec("q-dlq"))
            policy = RedrivePolicy("q-dlq", 5)
        await backend.create_queue(QueueSpec("q", redrive_policy=policy, visibility_timeout=600))
        attributes = {"k": MessageAttributeValue("String", "v")}
        sent = await backend.send(
            "q", [SendEntry(text, message_attributes=attributes) for text in ("ok", "payload", "gone")]
        )
        ok, bad_attrs, bad_body = (r.message_id for r in sent.successful)
        await corrupt_message(backend, "q", bad_attrs, "attributes")
        if raw is None:
            await corrupt_message(backend, "q", bad_body, "body")
        else:
            await overwrite_raw(backend, "q", bad_body, raw)
        got = await backend.receive("q", max_messages=10, wait_seconds=1)
        assert [m.body for m in got] == ["ok"]
        return [ok], bad_attrs, bad_body

    return api(url, setup)


def listed(url: str) -> list[dict[str, Any]]:
    result = invoke(url, "queue", "quarantine", "list", "q", "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_stats_and_list_show_the_quarantine(backend_url: str) -> None:
    """T16: stats has ApproximateNumberOfMessagesQuarantined; list shows id, reason, time, size
    and an escaped preview, oldest first; -n limits it; the table names the queue."""
    _, bad_attrs, bad_body = quarantined_queue(backend_url)
    stats = json.loads(invoke(backend_url, "queue", "stats", "q").output)
    assert stats["ApproximateNumberOfMessagesQuarantined"] == "2"
    assert stats["ApproximateNumberOfMessagesNotVisible"] == "1"
    entries = listed(backend_url)
    assert {e["MessageId"] for e in entries} == {bad_attrs, bad_body}
    assert all(e["Reason"] and e["QuarantinedAt"] > 1_600_000_000_000 and e["RawSize"] > 0 for e in entries)
    assert all(set(e) == {"MessageId", "Reason", "QuarantinedAt", "RawSize", "RawPreview"} for e in entries)
    limited = invoke(backend_url, "queue", "quarantine", "list", "q", "-n", "1", "--json")
    assert len(limited.output.splitlines()) == 1
    table = invoke(backend_url, "queue", "quarantine", "list", "q", "--table")
    assert table.exit_code == 0 and "q: 2 quarantined message(s)" in table.output
    assert bad_attrs in table.output


def test_list_escapes_what_the_raw_data_holds(backend_url: str) -> None:
    """T16: a preview never sends the raw bytes to the terminal: escape sequences, bidi overrides
    and bytes that are not UTF-8 are shown escaped."""
    quarantined_queue(backend_url, raw="\x1b[2J\u202eevil".encode() + b"\xff")
    previews = " ".join(e["RawPreview"] for e in listed(backend_url))
    table = invoke(backend_url, "queue", "quarantine", "list", "q", "--table").output
    for shown in (previews, table):
        assert "\x1b" not in shown and "\u202e" not in shown
    assert "\\u001b[2J\\u202eevil\\xff" in previews


def test_escape_bytes() -> None:
    """The preview escaping: printable UTF-8 stays, the rest is escaped, the cut is marked."""
    assert escape_bytes("héllo wörld".encode(), 50) == "héllo wörld"
    assert escape_bytes(b"a\\b\n\t\x00\x7f\xff", 50) == "a\\\\b\\n\\t\\u0000\\u007f\\xff"
    assert escape_bytes("\u202e\U000e0001".encode(), 50) == "\\u202e\\U000e0001"
    assert escape_bytes(b"abcdef", 3) == "abc..."
    assert escape_bytes(b"abc", 10, more=True) == "abc..."


def test_restore_refuses_undecodable_then_body_only_puts_it_back(backend_url: str) -> None:
    """T16: restore refuses a message that still cannot be decoded (exit 1, the reason, it stays);
    --body-only puts the body back on its queue with the same id; an unreadable body is refused
    even then."""
    _, bad_attrs, bad_body = quarantined_queue(backend_url)
    refused = invoke(backend_url, "queue", "quarantine", "restore", "q", bad_attrs)
    assert refused.exit_code == 1
    assert "MessageUndecodable" in refused.output and "--body-only" in refused.output
    assert len(listed(backend_url)) == 2
    done = invoke(backend_url, "queue", "quarantine", "restore", "q", bad_attrs, bad_body, "--body-only")
    assert done.exit_code == 1  # the body one could not be
    assert done.stdout.splitlines() == [bad_attrs]
    assert f"error: {bad_body}: MessageUndecodable" in done.output
    assert [e["MessageId"] for e in listed(backend_url)] == [bad_body]
    back = api(backend_url, lambda b: b.receive("q", max_messages=10, wait_seconds=1))
    assert [(m.message_id, m.body, m.message_attributes) for m in back] == [(bad_attrs, "payload", {})]


def test_restore_to_the_dlq_or_another_queue(backend_url: str) -> None:
    """T16: --to-dlq puts a message on the queue's dead-letter queue as its dead letter (a
    redrive takes it home); --to QUEUE on another queue; --to-dlq without a DLQ, both options,
    or a queue of the other type are usage errors."""
    _, bad_attrs, _ = quarantined_queue(backend_url, dlq=True)
    assert (
        invoke(
            backend_url, "queue", "quarantine", "restore", "q", bad_attrs, "--to-dlq", "--to", "x"
        ).exit_code
        == 2
    )
    result = invoke(backend_url, "queue", "quarantine", "restore", "q", bad_attrs, "--to-dlq", "--body-only")
    assert result.exit_code == 0, result.output
    assert "restored 1 message(s) to q-dlq" in result.output
    (dead,) = api(backend_url, lambda b: b.peek("q-dlq", 10))
    assert dead.message_id == bad_attrs and dead.attributes["DeadLetterQueueSourceArn"].endswith(":q")
    assert invoke(backend_url, "redrive", "q-dlq").exit_code == 0
    assert [p.body for p in api(backend_url, lambda b: b.peek("q", 10))] == ["ok", "payload"]

    api(backend_url, lambda b: b.create_queue(QueueSpec("other")))
    api(backend_url, lambda b: b.create_queue(QueueSpec("other.fifo", content_based_deduplication=True)))
    victim = set_aside_one(backend_url)
    restore = ("queue", "quarantine", "restore", "q", victim, "--body-only", "--to")
    wrong = invoke(backend_url, *restore, "other.fifo")
    assert wrong.exit_code == 2 and "both be FIFO or both standard" in wrong.output
    moved = invoke(backend_url, *restore, "other")
    assert moved.exit_code == 0, moved.output
    assert [(p.message_id, p.body) for p in api(backend_url, lambda b: b.peek("other", 10))] == [
        (victim, "again")
    ]
    no_dlq = invoke(backend_url, "queue", "quarantine", "restore", "other", "x", "--to-dlq")
    assert no_dlq.exit_code == 2 and "no dead-letter queue" in no_dlq.output


def set_aside_one(url: str) -> str:
    """One more message of ``q`` set aside (damaged attributes); its id."""

    async def go(backend: Any) -> str:
        attributes = {"k": MessageAttributeValue("String", "v")}
        (sent,) = (await backend.send("q", [SendEntry("again", message_attributes=attributes)])).successful
        await corrupt_message(backend, "q", sent.message_id, "attributes")
        await backend.receive("q", max_messages=10, wait_seconds=0)
        assert sent.message_id in {q.message_id for q in await backend.quarantined("q")}
        return sent.message_id

    return api(url, go)


def test_drop_asks_then_drops_one_or_all(backend_url: str) -> None:
    """T16: drop asks for confirmation (no: nothing dropped), --yes skips it; one id or --all;
    unknown ids exit 1; ids and --all together, or neither, are usage errors."""
    _, bad_attrs, bad_body = quarantined_queue(backend_url)
    assert invoke(backend_url, "queue", "quarantine", "drop", "q").exit_code == 2
    assert invoke(backend_url, "queue", "quarantine", "drop", "q", bad_attrs, "--all").exit_code == 2
    declined = invoke(backend_url, "queue", "quarantine", "drop", "q", bad_attrs, input="n\n")
    assert declined.exit_code == 1 and len(listed(backend_url)) == 2
    accepted = invoke(backend_url, "queue", "quarantine", "drop", "q", bad_attrs, input="y\n")
    assert accepted.exit_code == 0 and "dropped 1 message(s)" in accepted.output
    assert [e["MessageId"] for e in listed(backend_url)] == [bad_body]
    unknown = invoke(backend_url, "queue", "quarantine", "drop", "q", "no-such-id", "--yes")
    assert unknown.exit_code == 1 and "not in the quarantine" in unknown.output
    everything = invoke(backend_url, "queue", "quarantine", "drop", "q", "--all", "--yes")
    assert everything.exit_code == 0 and "dropped 1 message(s)" in everything.output
    assert listed(backend_url) == []
    assert (
        json.loads(invoke(backend_url, "queue", "stats", "q").output)[
            "ApproximateNumberOfMessagesQuarantined"
        ]
        == "0"
    )


def test_commands_on_a_missing_queue(backend_url: str) -> None:
    """The quarantine commands name a missing queue the way every queue command does (exit 2)."""
    for args in (("list", "nope"), ("restore", "nope", "x"), ("drop", "nope", "x", "--yes")):
        result = invoke(backend_url, "queue", "quarantine", *args)
        assert result.exit_code == 2 and "does not exist" in result.output, (args, result.output)

"""The console's small parts on their own: history ring, sampler pacing and DLQ links, sessions,
forms, presentation."""

from __future__ import annotations

import asyncio
import time

import pytest

from qworker.backend import QueueSpec, RedrivePolicy, SendEntry
from qworker.console import present, sessions
from qworker.console.forms import FormError, redrive_request, send_entry
from qworker.console.history import History, Point
from qworker.console.sampler import IDLE_AFTER, IDLE_INTERVAL, Sampler
from qworker.console.workers import WorkerDirectory
from qworker.memory import MemoryBackend


def test_history_keeps_the_last_points_and_returns_the_new_ones() -> None:
    history = History(3)
    for i in range(5):
        history.add(Point(float(i), i, 0, None))
    assert [p.at for p in history.points] == [2.0, 3.0, 4.0]
    assert history.columns(3.0) == [[4.0], [4], [0], [None]]


def test_the_sampler_links_dead_letter_queues_and_slows_down_when_nobody_looks() -> None:
    backend = MemoryBackend()

    async def go() -> Sampler:
        await backend.create_queue(QueueSpec("dlq"))
        await backend.create_queue(QueueSpec("a", redrive_policy=RedrivePolicy("dlq", 3)))
        await backend.send("dlq", [SendEntry("x"), SendEntry("y")])
        sampler = Sampler(backend, WorkerDirectory(backend), interval=5, history_seconds=60)
        await sampler.sample_now()
        return sampler

    sampler = asyncio.run(go())
    queues = sampler.sample.queues
    assert queues["a"].dead_letter_queue == "dlq" and queues["a"].dlq_depth == 2
    assert queues["dlq"].sources == ("a",) and queues["dlq"].is_dlq
    assert queues["dlq"].oldest_age is not None and queues["a"].oldest_age is None
    sampler._last_view = time.monotonic() - IDLE_AFTER - 1
    assert sampler._delay() == IDLE_INTERVAL
    sampler.touch()
    assert sampler._delay() == 5 and sampler._wake.is_set()


def test_sessions_are_signed_and_csrf_tokens_are_per_session() -> None:
    secret = b"s" * 32
    one, two = sessions.new_session("admin"), sessions.new_session("admin")
    value = sessions.encode(secret, one)
    assert sessions.decode(secret, value, 60) == one
    assert sessions.decode(b"x" * 32, value, 60) is None  # another server's secret
    assert sessions.decode(secret, value[:-2] + "AA", 60) is None  # tampered
    assert sessions.decode(secret, value, -1) is None  # expired
    assert sessions.csrf_ok(secret, one, sessions.csrf_token(secret, one))
    assert not sessions.csrf_ok(secret, two, sessions.csrf_token(secret, one))
    assert sessions.bearer_key({"k": "v"}, "Bearer k:v") == "k"
    assert sessions.bearer_key({"k": "v"}, "Bearer k:w") is None
    assert sessions.bearer_key({"k": "v"}, "Basic k:v") is None


def test_forms_check_what_sqs_would_refuse() -> None:
    with pytest.raises(FormError, match="empty"):
        send_entry({"body": [""]}, fifo=False)
    with pytest.raises(FormError, match="group id"):
        send_entry({"body": ["x"]}, fifo=True)
    with pytest.raises(FormError, match="between 0 and 900"):
        send_entry({"body": ["x"], "delay": ["901"]}, fifo=False)
    entry = send_entry(
        {"body": ["x"], "attr_name": ["a", ""], "attr_type": ["Number", "String"], "attr_value": ["1", ""]},
        fifo=False,
    )
    assert entry.message_attributes["a"].data_type == "Number" and len(entry.message_attributes) == 1
    assert redrive_request({"scope": ["all"], "message_id": ["m"]}).selected == ()
    with pytest.raises(FormError, match="Select the messages"):
        redrive_request({"scope": ["selected"]})
    with pytest.raises(FormError, match="between 1 and 500"):
        redrive_request({"rate": ["501"]})


def test_bodies_are_pretty_printed_only_when_json() -> None:
    assert present.pretty_body('{"a":[1,2]}') == ('{\n  "a": [\n    1,\n    2\n  ]\n}', True)
    assert present.pretty_body("<b>x</b>") == ("<b>x</b>", False)  # escaped by the template
    assert present.pretty_body("[not json") == ("[not json", False)
    assert present.age(3725) == "1h 02m" and present.age(None) == "—"

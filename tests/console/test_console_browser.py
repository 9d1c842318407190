"""The console in a real browser (Chromium through Playwright) against a real ``qworker console``
server and, where it matters, a real ``qworker run`` worker, all on one SQLite file.

T27 (RELIABILITY §3.9) lives here too: hostile bodies render as text, actions need their CSRF
token, read-only mode has no actions; and the login when access keys are set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qworker.backend import Capabilities, QueueSpec, RedrivePolicy
from tests.console.conftest import make_queues, on_backend, screenshot, send, until, work_and_dlq

pytestmark = pytest.mark.timeout(120)


def _cell(page: Any, queue: str, field: str) -> Any:
    return page.locator(f'tr[data-queue="{queue}"] [data-field="{field}"]')


def _dead_letters(db_url: str, worker: Any, *bodies: str) -> Any:
    """``work`` and ``work-dlq`` with ``bodies`` dead-lettered by a real worker that fails them."""
    work_and_dlq(db_url)
    send(db_url, "work", *bodies)
    process = worker("work", "--until-empty", "--batch-size", "1", failing=True)
    process.process.wait(60)

    def moved() -> bool:
        counts = on_backend(db_url, lambda b: b.get_queue("work-dlq"))
        return counts.counts.visible == len(bodies)

    until(moved, what="messages in the dead-letter queue")
    return process


def test_overview_shows_counts_and_updates_live(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("orders-dlq"), QueueSpec("emails"), QueueSpec("jobs.fifo"))
    make_queues(db_url, QueueSpec("orders", redrive_policy=RedrivePolicy("orders-dlq", 3)))
    send(db_url, "orders", '{"order": 1}', '{"order": 2}', '{"order": 3}')
    send(db_url, "orders-dlq", '{"order": 0}')
    server = console_server()
    page.goto(f"{server.base}/")
    assert page.get_by_role("link", name="orders", exact=True).is_visible()
    assert _cell(page, "orders", "visible").inner_text() == "3"
    assert page.locator('tr[data-queue="jobs.fifo"]').get_by_text("FIFO", exact=True).is_visible()
    dlq_cell = page.locator('tr[data-queue="orders"] td').nth(4)
    assert dlq_cell.get_by_role("link", name="orders-dlq").is_visible()
    assert _cell(page, "orders", "dlq_depth").inner_text() == "1"
    assert page.locator("table.queues thead th").count() == 7

    send(db_url, "orders", '{"order": 4}', '{"order": 5}')
    visible = "tr[data-queue='orders'] [data-field='visible']"
    page.wait_for_function(f'() => document.querySelector("{visible}").textContent === "5"', timeout=15_000)
    page.wait_for_selector('[data-chart="orders"] canvas')
    page.wait_for_timeout(2500)  # a few more samples on the charts
    screenshot(page, "overview")


def test_live_updates_cost_at_most_one_request_a_second(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("a"))
    server = console_server()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/" in r.url else None)
    page.goto(f"{server.base}/")
    page.wait_for_timeout(6000)
    assert 1 <= len(requests) <= 6, requests
    make_queues(db_url, QueueSpec("b"))
    page.get_by_text("Queues were created or deleted").wait_for()


def test_queue_page_shows_body_and_dead_letter_error(
    db_url: str, console_server: Any, worker: Any, page: Any
) -> None:
    _dead_letters(db_url, worker, '{"customer": "ada", "amount": 42}')
    send(db_url, "work", "plain text body")
    server = console_server()
    page.goto(f"{server.base}/queues/work")
    row = page.locator("tr.message").first
    row.locator("summary").click()
    assert "plain text body" in row.locator("pre.body").inner_text()

    page.goto(f"{server.base}/")
    page.get_by_role("link", name="work-dlq").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("work-dlq")
    assert page.get_by_text("Dead-letter queue of").is_visible()
    dead = page.locator("tr.message").first
    assert "payment service said no" in dead.locator("td.error-cell").inner_text()
    dead.locator("summary").click()
    assert '"customer": "ada"' in dead.locator("pre.body").inner_text()  # pretty-printed JSON
    traceback = dead.locator("pre.traceback").inner_text()
    assert "ValueError" in traceback and "console_app.py" in traceback
    screenshot(page, "dead-letter-queue")


def test_redrive_moves_dead_letters_back_and_a_worker_consumes_them(
    db_url: str, console_server: Any, worker: Any, page: Any, tmp_path: Path
) -> None:
    first = _dead_letters(db_url, worker, "job-1", "job-2", "job-3")
    first.fail_flag.unlink()
    consumer = worker("work")
    server = console_server()
    page.goto(f"{server.base}/queues/work-dlq")
    page.get_by_label("Rate (messages/s, 1–500; empty: as fast as possible)").fill("50")
    page.get_by_role("button", name="Redrive", exact=True).click()
    page.wait_for_url(re.compile(r"notice=redrive"))
    status = page.locator("li.task [role=status]")
    status.filter(has_text="done").wait_for(timeout=20_000)
    assert "3 moved" in status.inner_text()
    until(
        lambda: sorted(consumer.processed()) == ["job-1", "job-2", "job-3"], what="the worker consumed them"
    )
    assert on_backend(db_url, lambda b: b.get_queue("work-dlq")).counts.visible == 0


def test_redrive_of_selected_messages_and_cancel(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("dl"), QueueSpec("other"))
    ids = send(db_url, "dl", "keep-me", "move-me")
    make_queues(db_url, QueueSpec("src", redrive_policy=RedrivePolicy("dl", 1)))
    server = console_server()
    page.goto(f"{server.base}/queues/dl")
    page.get_by_label("Only the selected messages below").check()
    page.get_by_label(f"Select message {ids[1]}").check()
    page.get_by_label("Move to").select_option("other")
    page.get_by_role("button", name="Redrive", exact=True).click()
    page.locator("li.task [role=status]").filter(has_text="done").wait_for()
    assert [m.body for m in on_backend(db_url, lambda b: b.peek("other", 10))] == ["move-me"]
    assert [m.body for m in on_backend(db_url, lambda b: b.peek("dl", 10))] == ["keep-me"]

    send(db_url, "dl", *[f"slow-{i}" for i in range(20)])
    page.goto(f"{server.base}/queues/dl")
    page.get_by_label("Move to").select_option("other")
    page.get_by_label("Rate (messages/s, 1–500; empty: as fast as possible)").fill("1")
    page.get_by_role("button", name="Redrive", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    page.locator("li.task [role=status]").filter(has_text="cancelled").first.wait_for()
    assert on_backend(db_url, lambda b: b.get_queue("dl")).counts.visible >= 15


def test_purge_asks_first(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("bulk"))
    send(db_url, "bulk", "a", "b", "c", "d")
    server = console_server()
    page.goto(f"{server.base}/queues/bulk")
    page.get_by_role("button", name="Purge").click()
    warning = page.get_by_role("alert")
    assert "bulk" in warning.inner_text() and "all 4 messages" in warning.inner_text()
    assert on_backend(db_url, lambda b: b.get_queue("bulk")).counts.visible == 4  # nothing yet
    page.get_by_role("button", name="Purge").click()
    page.wait_for_url(re.compile(r"notice=purged"))
    assert on_backend(db_url, lambda b: b.get_queue("bulk")).counts.visible == 0


def test_send_and_delete_from_the_queue_page(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("inbox"), QueueSpec("ordered.fifo"))
    server = console_server()
    page.goto(f"{server.base}/queues/inbox")
    page.get_by_label("Body").fill('{"hello": "world"}')
    page.locator("#attr-name-0").fill("source")
    page.locator("#attr-value-0").fill("console")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"notice=sent"))
    (message,) = on_backend(db_url, lambda b: b.peek("inbox", 10))
    assert message.body == '{"hello": "world"}'
    assert message.message_attributes["source"].string_value == "console"
    page.locator("tr.message").get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"notice=deleted"))
    assert on_backend(db_url, lambda b: b.peek("inbox", 10)) == []

    page.goto(f"{server.base}/queues/ordered.fifo")
    page.get_by_label("Body").fill("first")
    page.get_by_label("Message group id").fill("g1")
    page.get_by_label("Deduplication id").fill("d1")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"notice=sent"))
    (fifo,) = on_backend(db_url, lambda b: b.peek("ordered.fifo", 10))
    assert fifo.attributes["MessageGroupId"] == "g1"


def test_hostile_bodies_render_as_text(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("evil"))
    bodies = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "{{7*7}} <b>bold</b>"]
    send(db_url, "evil", *bodies)
    server = console_server()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.base}/queues/evil")
    for row in page.locator("tr.message").all():
        row.locator("summary").click()
    shown = [p.inner_text() for p in page.locator("pre.body").all()]
    assert shown == bodies
    assert page.locator("img[src=x]").count() == 0 and page.locator("main b").count() == 0
    page.wait_for_timeout(500)
    assert dialogs == []


def test_action_without_the_csrf_token_is_refused(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("guarded"))
    send(db_url, "guarded", "x")
    server = console_server()
    page.goto(f"{server.base}/queues/guarded")
    missing = page.request.post(f"{server.base}/queues/guarded/purge", form={"confirm": "guarded"})
    assert missing.status == 403
    other = page.context.browser.new_context()
    try:
        other_page = other.new_page()
        other_page.goto(f"{server.base}/")
        foreign = other_page.locator("body").get_attribute("data-csrf")
    finally:
        other.close()
    stolen = page.request.post(
        f"{server.base}/queues/guarded/purge", form={"confirm": "guarded", "csrf": foreign or ""}
    )
    assert stolen.status == 403
    assert on_backend(db_url, lambda b: b.get_queue("guarded")).counts.visible == 1


def test_read_only_mode_has_no_actions(db_url: str, console_server: Any, page: Any) -> None:
    work_and_dlq(db_url)
    send(db_url, "work", "x")
    send(db_url, "work-dlq", "dead")
    server = console_server("--console-read-only")
    for queue in ("work", "work-dlq"):
        page.goto(f"{server.base}/queues/{queue}")
        page.locator("tr.message").first.wait_for()
        for name in ("Send", "Purge", "Delete", "Redrive", "Cancel", "Save attributes"):
            assert page.get_by_role("button", name=name, exact=True).count() == 0, name
    token = page.locator("body").get_attribute("data-csrf")
    refused = page.request.post(
        f"{server.base}/queues/work/purge", form={"confirm": "work", "csrf": token or ""}
    )
    assert refused.status == 403
    assert on_backend(db_url, lambda b: b.get_queue("work")).counts.visible == 1


def test_login_is_required_when_access_keys_are_set(db_url: str, console_server: Any, page: Any) -> None:
    make_queues(db_url, QueueSpec("private"))
    server = console_server("--access-key", "admin:s3cret-value")
    page.goto(f"{server.base}/queues/private")
    assert page.url.endswith("/console/login")
    page.get_by_label("Access key id").fill("admin")
    page.get_by_label("Secret access key").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert "Wrong access key id or secret" in page.get_by_role("alert").inner_text()
    page.get_by_label("Access key id").fill("admin")
    page.get_by_label("Secret access key").fill("s3cret-value")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="private").wait_for()
    assert "s3cret-value" not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "qworker_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name=re.compile("Log out")).click()
    page.goto(f"{server.base}/")
    assert page.url.endswith("/console/login")


def test_phone_width_has_no_page_overflow(db_url: str, console_server: Any, browser: Any) -> None:
    make_queues(db_url, QueueSpec("a-rather-long-queue-name-for-a-small-screen"), QueueSpec("b.fifo"))
    send(db_url, "a-rather-long-queue-name-for-a-small-screen", '{"k": "' + "v" * 300 + '"}')
    server = console_server()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for path in ("/", "/queues/a-rather-long-queue-name-for-a-small-screen", "/workers"):
            page.goto(f"{server.base}{path}")
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (path, overflow)
    finally:
        context.close()


@pytest.mark.skipif(
    not getattr(Capabilities(), "records", False),
    reason="the backend protocol has no shared record store yet (branch backend-api adds it)",
)
def test_the_workers_page_lists_a_running_worker(
    db_url: str, console_server: Any, worker: Any, page: Any
) -> None:
    work_and_dlq(db_url)
    process = worker("work")
    server = console_server()
    page.goto(f"{server.base}/workers")
    row = page.locator("table.workers tbody tr").filter(has_text=str(process.process.pid))
    row.wait_for(timeout=20_000)  # the worker's first heartbeat, then the table's own refresh
    assert row.get_by_role("link", name="work").is_visible()
    process.stop()
    page.locator("table.workers tbody").get_by_text("No live workers").wait_for(timeout=20_000)

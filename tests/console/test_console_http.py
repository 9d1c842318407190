"""The console over HTTP, in process (Starlette's TestClient): the guard (CSP, cookies, CSRF,
read-only, login, bearer tokens, Host), the live-update API, the worker registry page, attribute
edits, and the 1,000-queue overview timing."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from starlette.testclient import TestClient

from qworker.backend import Capabilities, QueueSpec, RedrivePolicy, SendEntry
from qworker.console import ConsoleSettings, create_console, standalone_app
from qworker.console.settings import LOOPBACK_HOSTS
from qworker.console.workers import WorkerDirectory
from qworker.memory import MemoryBackend
from qworker.runtime.metrics import MappingMetrics
from qworker.runtime.registry_heartbeat import RECORD_KIND, RegistryHeartbeat

SECRET = b"k" * 32


class RecordingModel(MemoryBackend):
    """The reference model (it has the record store, set_queue_attributes and delete_by_id)."""


class NoRecordsModel(MemoryBackend):
    """The reference model without the shared record store, as on SQS."""

    capabilities = Capabilities(delete_by_id=True, quarantine=True, records=False)

    async def list_records(self, kind: str) -> dict[str, Any]:
        from qworker.errors import UnsupportedOperation

        raise UnsupportedOperation("no record store")


def client_for(backend: Any, **settings: Any) -> TestClient:
    settings.setdefault("secret", SECRET)
    settings.setdefault("allowed_hosts", LOOPBACK_HOSTS)
    console = create_console(backend, ConsoleSettings(**settings))
    return TestClient(standalone_app(console, own_backend=False), base_url="http://127.0.0.1")


def csrf_of(html: str) -> str:
    match = re.search(r'data-csrf="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def model() -> RecordingModel:
    backend = RecordingModel()

    async def setup() -> None:
        await backend.create_queue(QueueSpec("dlq"))
        await backend.create_queue(QueueSpec("work", redrive_policy=RedrivePolicy("dlq", 2)))
        await backend.send("work", [SendEntry("hello"), SendEntry("<script>alert(1)</script>")])

    asyncio.run(setup())
    return backend


@pytest.fixture
def client(model: RecordingModel) -> Iterator[TestClient]:
    with client_for(model) as client:
        yield client


def test_pages_carry_a_strict_csp_and_a_safe_session_cookie(client: TestClient) -> None:
    response = client.get("/console/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "<script>" not in re.sub(r'<script src="[^"]+" defer></script>', "", response.text)


def test_message_bodies_are_escaped(client: TestClient) -> None:
    html = client.get("/console/queues/work").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html


def test_a_post_needs_this_sessions_csrf_token(client: TestClient, model: RecordingModel) -> None:
    token = csrf_of(client.get("/console/queues/work").text)
    assert client.post("/console/queues/work/purge", data={"confirm": "work"}).status_code == 403
    with client_for(model) as other:
        foreign = csrf_of(other.get("/console/").text)
    response = client.post("/console/queues/work/purge", data={"confirm": "work", "csrf": foreign})
    assert response.status_code == 403
    assert asyncio.run(model.get_queue("work")).counts.visible == 2
    asked = client.post("/console/queues/work/purge", data={"csrf": token})
    assert asked.status_code == 200 and "all 2 messages" in asked.text  # the confirmation page
    done = client.post(
        "/console/queues/work/purge", data={"confirm": "work", "csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert asyncio.run(model.get_queue("work")).counts.visible == 0


def test_read_only_hides_and_refuses_every_action(model: RecordingModel) -> None:
    with client_for(model, read_only=True) as client:
        html = client.get("/console/queues/dlq").text
        assert 'method="post"' not in html.replace('action="/console/logout"', "")
        token = csrf_of(html)
        for path in ("send", "purge", "delete", "redrive", "attributes"):
            response = client.post(f"/console/queues/work/{path}", data={"csrf": token, "body": "x"})
            assert response.status_code == 403, path
    assert asyncio.run(model.get_queue("work")).counts.visible == 2


def test_access_keys_need_a_login_or_a_bearer_token(model: RecordingModel) -> None:
    keys = {"admin": "s3cret-value"}
    with client_for(model, access_keys=keys) as client:
        first = client.get("/console/queues/work", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/console/login"
        assert client.get("/console/api/live", headers={"accept": "application/json"}).status_code == 401
        token = csrf_of(client.get("/console/login").text)
        wrong = client.post(
            "/console/login", data={"csrf": token, "access_key_id": "admin", "secret_access_key": "x"}
        )
        assert wrong.status_code == 401
        ok = client.post(
            "/console/login",
            data={"csrf": token, "access_key_id": "admin", "secret_access_key": "s3cret-value"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        page = client.get("/console/queues/work")
        assert page.status_code == 200 and "s3cret-value" not in page.text
        assert csrf_of(page.text) != token  # logging in starts a new session
    with client_for(model, access_keys=keys) as api:
        bearer = {"authorization": "Bearer admin:s3cret-value"}
        assert api.get("/console/queues/work", headers=bearer).status_code == 200
        sent = api.post(
            "/console/queues/work/send", data={"body": "via bearer"}, headers=bearer, follow_redirects=False
        )
        assert sent.status_code == 303  # no cookie is sent along, so no CSRF token is needed
        bad = {"authorization": "Bearer admin:nope"}
        assert api.post("/console/queues/work/send", data={"body": "x"}, headers=bad).status_code == 401


def test_a_loopback_console_refuses_other_host_names(client: TestClient) -> None:
    assert client.get("/console/", headers={"host": "attacker.example"}).status_code == 421
    assert client.get("/console/", headers={"host": "localhost:9324"}).status_code == 200


def test_no_secret_is_shown(model: RecordingModel) -> None:
    from qworker.registry import redact_url

    display = redact_url("redis://user:hunter2@redis.internal:6379/0")
    with client_for(model, backend_display=display) as client:
        html = client.get("/console/").text
    assert "hunter2" not in html and "redis://user:***@redis.internal:6379/0" in html


def test_live_api_sends_rows_only_when_the_sample_changed(client: TestClient, model: RecordingModel) -> None:
    first = client.get("/console/api/live?full=work").json()
    rows = {r["name"]: r for r in first["rows"]}
    assert rows["work"]["visible"] == 2 and rows["work"]["dlq_depth"] == 0
    assert len(first["series"]["work"]) == 4
    again = client.get(f"/console/api/live?v={first['version']}&since={first['at']}&charts=work").json()
    assert "rows" not in again and again["series"]["work"][0] == []


def test_attributes_are_edited_with_set_queue_attributes(client: TestClient, model: RecordingModel) -> None:
    token = csrf_of(client.get("/console/queues/work").text)
    form = {
        "csrf": token,
        "visibility_timeout": "45",
        "retention": "3600",
        "delay": "5",
        "dlq": "",
        "max_receive_count": "",
    }
    assert client.post("/console/queues/work/attributes", data=form).status_code == 200
    spec = asyncio.run(model.get_queue("work")).spec
    assert (spec.visibility_timeout, spec.message_retention_period, spec.delay_seconds) == (45, 3600, 5)
    assert spec.redrive_policy is None
    bad = client.post("/console/queues/work/attributes", data={**form, "visibility_timeout": "99999"})
    assert bad.status_code == 400 and "Visibility timeout must be between 0 and 43200" in bad.text


def test_the_workers_page_lists_live_workers_from_the_registry(model: RecordingModel) -> None:
    metrics = MappingMetrics("billing", "work")
    metrics.deleted.value, metrics.failed.value, metrics.concurrency_target.value = 41, 2, 4

    def mappings() -> Sequence[tuple[str, str, int | None, MappingMetrics]]:
        return [("billing", "work", 8, metrics)]

    heartbeat = RegistryHeartbeat(model, mappings, worker_id="host-a:123:abcd")
    asyncio.run(heartbeat.beat())
    assert list(asyncio.run(model.list_records(RECORD_KIND))) == ["host-a:123:abcd"]
    with client_for(model) as client:
        html = client.get("/console/workers").text
    assert "billing" in html and ">41<" in html and ">2<" in html and "4 / 8" in html
    directory = WorkerDirectory(model)
    asyncio.run(directory.refresh())
    assert directory.processed_by_queue() == {"work": 41.0}


def test_the_workers_page_says_when_the_registry_is_unavailable() -> None:
    with client_for(NoRecordsModel()) as client:  # no record store (as on SQS)
        assert "registry is unavailable on this backend" in client.get("/console/workers").text


def test_a_malformed_worker_record_is_skipped(model: RecordingModel) -> None:
    asyncio.run(model.put_record(RECORD_KIND, "junk", {"mappings": "<b>not a list</b>"}, 30))
    directory = WorkerDirectory(model)
    asyncio.run(directory.refresh())
    assert [w.id for w in directory.workers] == []


def test_the_overview_of_1000_queues_renders_in_under_300_ms(tmp_path: Any, record_property: Any) -> None:
    """Target of issue 16: the page renders from the sampler's cache, not from 1,000 backend calls."""
    from qworker.registry import open_backend

    url = f"sqlite:///{tmp_path}/many.db"

    async def setup() -> None:
        async with open_backend(url) as backend:
            for i in range(500):
                await backend.create_queue(QueueSpec(f"q{i:04d}-dlq"))
                await backend.create_queue(
                    QueueSpec(f"q{i:04d}", redrive_policy=RedrivePolicy(f"q{i:04d}-dlq", 3))
                )
                await backend.send(f"q{i:04d}", [SendEntry("m")])

    asyncio.run(setup())
    console = create_console(
        open_backend(url), ConsoleSettings(secret=SECRET, allowed_hosts=LOOPBACK_HOSTS, sample_interval=300)
    )
    with TestClient(standalone_app(console), base_url="http://127.0.0.1") as client:
        sample_round = console.sampler.last_round_seconds
        assert len(console.sampler.sample.queues) == 1000
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            response = client.get("/console/")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
        live = time.perf_counter()
        client.get("/console/api/live")
        live = time.perf_counter() - live
    median = statistics.median(timings)
    record_property("overview_1000_median_s", median)
    print(
        f"\n1000-queue overview: median {median * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms; "
        f"/api/live {live * 1000:.1f} ms; one sampler round {sample_round * 1000:.0f} ms"
    )
    assert response.text.count("<tr data-queue=") == 1000
    assert median < 0.3


def test_the_console_command_refuses_an_open_console_off_loopback() -> None:
    from click.testing import CliRunner

    from qworker.cli import cli

    result = CliRunner().invoke(cli, ["console", "--host", "0.0.0.0", "--backend", "sqlite://"])
    assert result.exit_code == 2 and "--access-key" in result.output
    result = CliRunner().invoke(cli, ["console", "--access-key", "no-colon", "--backend", "sqlite://"])
    assert result.exit_code == 2 and "ID:SECRET" in result.output


def test_the_console_mounts_in_a_plain_asgi_router(model: RecordingModel) -> None:
    """How ``qworker serve`` (plain ASGI, the SQS API at ``/``) serves the console on its port."""
    from qworker.console import is_console_path, mounted

    console = create_console(model, ConsoleSettings(secret=SECRET))
    console_app = mounted(console)

    async def sqs_api(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"sqs"})

    async def server(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await console.start()
                await send({"type": "lifespan.startup.complete"})
            await console.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
        target = console_app if is_console_path(scope["path"]) else sqs_api
        await target(scope, receive, send)

    with TestClient(server, base_url="http://127.0.0.1") as client:
        assert client.get("/").text == "sqs"
        assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
        page = client.get("/console/queues/work")
        assert page.status_code == 200 and 'href="/console/static/console.css"' in page.text
        assert "Path=/console" in page.headers["set-cookie"]
        assert client.get("/console/static/htmx.min.js").status_code == 200


def test_the_console_works_on_each_local_backend(backend_url: str) -> None:
    """Overview, queue page, Send and Delete on SQLite and on Redis (``backend_url`` runs twice)."""
    from qworker.registry import open_backend

    async def setup() -> None:
        async with open_backend(backend_url) as backend:
            await backend.create_queue(QueueSpec("b-dlq"))
            await backend.create_queue(QueueSpec("b", redrive_policy=RedrivePolicy("b-dlq", 1)))
            await backend.send("b", [SendEntry('{"n": 1}')])

    asyncio.run(setup())
    console = create_console(
        open_backend(backend_url), ConsoleSettings(secret=SECRET, allowed_hosts=LOOPBACK_HOSTS)
    )
    with TestClient(standalone_app(console), base_url="http://127.0.0.1") as client:
        overview = client.get("/console/").text
        assert 'data-queue="b"' in overview and 'data-queue="b-dlq"' in overview
        page = client.get("/console/queues/b").text
        assert "&#34;n&#34;: 1" in page or "&quot;n&quot;: 1" in page
        token = csrf_of(page)
        assert client.post("/console/queues/b/send", data={"csrf": token, "body": "two"}).status_code == 200
        message_id = re.findall(r'name="message_id" value="([^"]+)"', client.get("/console/queues/b").text)[0]
        client.post("/console/queues/b/delete", data={"csrf": token, "message_id": message_id})
        rows = {r["name"]: r for r in client.get("/console/api/live").json()["rows"]}
        assert rows["b"]["visible"] == 1 and rows["b"]["dlq_depth"] == 0


def test_quarantined_messages_are_shown_escaped(model: RecordingModel, client: TestClient) -> None:
    (message,) = [m for m in asyncio.run(model.peek("work", 10)) if m.body == "hello"]
    model.corrupt("work", message.message_id, "body")
    asyncio.run(model.receive("work", 10))  # the receive sets it aside
    page = client.get("/console/queues/work").text
    assert "Quarantine" in page and message.message_id in page
    assert "<script>" not in page.split("Quarantine", 1)[1].split("</table>", 1)[0]

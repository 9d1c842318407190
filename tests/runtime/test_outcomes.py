"""What happens to a batch's messages after the handler ran (ESM-F-*, ESM-P-*)."""

from __future__ import annotations

import asyncio
import itertools
import time

from structlog.testing import capture_logs

from qworker.backend import Backend
from qworker.runtime.config import RetryBackoff
from tests.runtime.conftest import Ledger, make_queue, mapping, run_worker_until_empty, send_json


async def test_success_deletes_the_whole_batch(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-F-1: no error and no partial response: every message of the batch is deleted."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(25)])
    assert await run_worker_until_empty(backend_url, mapping("async_handler", "q")) == 0
    assert sorted(ledger.bodies()) == sorted(f'{{"n": {i}}}' for i in range(25))
    counts = (await backend.get_queue("q")).counts
    assert (counts.visible, counts.in_flight) == (0, 0)


async def test_function_error_keeps_messages_until_the_visibility_timeout(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-F-2, ESM-P-5, ESM-F-3: an exception deletes nothing; the batch comes back after the
    visibility timeout (not at once), with ApproximateReceiveCount + 1; then the DLQ."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="q-dlq", max_receive_count=2)
    await send_json(backend, "q", [{"n": 1, "fail": True}])
    assert await run_worker_until_empty(backend_url, mapping("async_handler", "q", timeout=1)) == 0
    lines = ledger.lines()
    assert [line["counts"] for line in lines] == [[1], [2]]
    assert lines[1]["time"] - lines[0]["time"] >= 0.95, "retried before the visibility timeout"
    dead = await backend.peek("q-dlq", 10)
    assert [m.message_id for m in dead] == lines[0]["ids"]
    assert dead[0].last_error is not None and "RuntimeError: a record asked to fail" in dead[0].last_error


async def test_timeout_is_a_function_error(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-F-2: an invocation that runs past --timeout fails; its messages are kept."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="q-dlq", max_receive_count=1)
    await send_json(backend, "q", [{"sleep": 5}])
    started = time.monotonic()
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, mapping("async_handler", "q", timeout=0.5)) == 0
    assert time.monotonic() - started < 4, "the handler was not cut at its timeout"
    assert ledger.lines() == [], "a timed-out invocation must not run to completion"
    batches = [e for e in logs if e["event"] == "batch"]
    assert batches[0]["outcome"] == "timeout"
    assert "Task timed out after 0.50 seconds" in batches[0]["reason"]
    assert (await backend.get_queue("q-dlq")).counts.visible == 1


async def test_without_report_flag_batch_item_failures_are_ignored_loudly(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-P-1: without ReportBatchItemFailures a returned batchItemFailures is ignored (all deleted),
    and qworker warns that it was ignored (SPEC 6.1)."""
    await make_queue(backend, "q")
    await send_json(backend, "q", [{"partial": True}, {"ok": 1}])
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, mapping("partial_handler", "q")) == 0
    assert len(ledger.lines()) == 1
    assert (await backend.get_queue("q")).counts.visible == 0
    warnings = [e for e in logs if "ReportBatchItemFailures is off" in e["event"]]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"


async def test_partial_batch_response_keeps_only_listed_messages(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-P-2: listed messages are kept and come back after their visibility timeout; others deleted."""
    await make_queue(backend, "q", visibility_timeout=1, dlq="q-dlq", max_receive_count=2)
    await send_json(backend, "q", [{"n": 1, "partial": True}, {"n": 2}, {"n": 3}])
    config = mapping("partial_handler", "q", timeout=1, report_batch_item_failures=True)
    with capture_logs() as logs:
        assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert sorted(lines[0]["bodies"]) == sorted(['{"n": 1, "partial": true}', '{"n": 2}', '{"n": 3}'])
    assert [line["bodies"] for line in lines[1:]] == [['{"n": 1, "partial": true}']]
    assert lines[1]["counts"] == [2]
    outcomes = [e["outcome"] for e in logs if e["event"] == "batch"]
    assert outcomes == ["partial_failure", "all_items_failed"]
    assert [m.body for m in await backend.peek("q-dlq", 10)] == ['{"n": 1, "partial": true}']


async def _run_with_response(
    backend: Backend, backend_url: str, response: object, queue: str = "q"
) -> tuple[str, int, str]:
    await make_queue(backend, queue, visibility_timeout=600)
    await send_json(backend, queue, [{"response": response}, {"other": 1}])
    config = mapping("echo_response_handler", queue, report_batch_item_failures=True)
    runner_task = asyncio.create_task(run_worker_until_empty(backend_url, config))
    deadline = time.monotonic() + 10
    with capture_logs() as logs:
        while not [e for e in logs if e["event"] == "batch"]:
            assert time.monotonic() < deadline, "no batch was logged"
            await asyncio.sleep(0.02)
    runner_task.cancel()
    await asyncio.gather(runner_task, return_exceptions=True)
    batch = next(e for e in logs if e["event"] == "batch")
    counts = (await backend.get_queue(queue)).counts
    return batch["outcome"], counts.visible + counts.in_flight, batch.get("reason", "")


async def test_success_responses(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-P-3: {} / None / {"batchItemFailures": []} / {"batchItemFailures": null} = success."""
    for index, response in enumerate(({}, None, {"batchItemFailures": []}, {"batchItemFailures": None})):
        outcome, left, _ = await _run_with_response(backend, backend_url, response, f"q{index}")
        assert (outcome, left) == ("success", 0), response


async def test_invalid_responses_fail_the_whole_batch_with_the_rule_named(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """ESM-P-4: empty/null itemIdentifier, wrong key, unknown id, invalid JSON: nothing is deleted,
    and the log names the rule (SPEC 6.1: AWS never says why)."""
    cases = [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"foo": "notvalid"}]},
        "$unknown-id",
        "not json at all",
        [1, 2],
    ]
    for index, response in enumerate(cases):
        outcome, left, reason = await _run_with_response(backend, backend_url, response, f"q{index}")
        assert outcome == "invalid_response", response
        assert left == 2, f"{response!r}: messages were deleted"
        assert "ESM-P-" in reason, reason


async def test_unserializable_return_value_is_a_function_error(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """Lambda's Runtime.MarshalError: a return value that is not JSON fails the invocation."""
    outcome, left, reason = await _run_with_response(backend, backend_url, "$not-serializable")
    assert outcome == "function_error"
    assert left == 2
    assert "Runtime.MarshalError" in reason


async def test_effective_visibility_timeout_rule(backend: Backend, backend_url: str, ledger: Ledger) -> None:
    """ESM-F-4: window + timeout > queue visibility => messages are hidden for window + timeout + 30 s."""
    await make_queue(backend, "q", visibility_timeout=3)
    await send_json(backend, "q", [{"sleep": 1.5}])
    config = mapping("async_handler", "q", batch_size=20, batch_window=1, timeout=2.5)
    task = asyncio.create_task(run_worker_until_empty(backend_url, config))
    try:
        for _ in range(200):
            peeked = await backend.peek("q", 1)
            if peeked and peeked[0].state == "in_flight":
                break
            await asyncio.sleep(0.01)
        hidden_for = (peeked[0].visible_at / 1000) - time.time()
        assert 30 < hidden_for <= 1 + 2.5 + 30 + 0.5, hidden_for
    finally:
        await task


async def test_retry_backoff_redelivers_sooner_than_the_visibility_timeout(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """qworker option: exponential back-off via ChangeMessageVisibility instead of the full timeout."""
    await make_queue(backend, "q", visibility_timeout=30, dlq="q-dlq", max_receive_count=3)
    await send_json(backend, "q", [{"fail": True}])
    config = mapping("async_handler", "q", retry_backoff=RetryBackoff(base=0.2, maximum=1))
    started = time.monotonic()
    assert await run_worker_until_empty(backend_url, config) == 0
    lines = ledger.lines()
    assert [line["counts"] for line in lines] == [[1], [2], [3]]
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(lines)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps  # 0.2 * 2**0, 0.2 * 2**1
    assert time.monotonic() - started < 20, "messages waited for the 30 s visibility timeout"


class _FlakyDeletes:
    """A real backend whose first ``failures`` delete calls fail as if the server were down."""

    def __init__(self, inner: Backend, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.delete_calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def delete(self, queue: str, receipt_handles: list[str]) -> list:
        from qworker.errors import BackendUnavailable

        self.delete_calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise BackendUnavailable("connection reset (injected)")
        return await self._inner.delete(queue, receipt_handles)


async def test_deletes_are_retried_after_transient_failures(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """A delete that fails transiently is retried with back-off; the batch is not processed again."""
    from qworker.runtime.worker import Worker, WorkerOptions
    from tests.runtime.conftest import APP_DIR

    await make_queue(backend, "q", visibility_timeout=30)
    await send_json(backend, "q", [{"n": i} for i in range(5)])
    flaky = _FlakyDeletes(backend, failures=3)
    options = WorkerOptions(until_empty=True, app_dir=str(APP_DIR))
    worker = Worker([mapping("async_handler", "q")], options, backend=flaky)  # type: ignore[arg-type]
    assert await worker.serve() == 0
    assert flaky.delete_calls >= 4
    assert len(ledger.ids()) == 5 and (await backend.get_queue("q")).counts.in_flight == 0


class _FlakyReceives(_FlakyDeletes):
    """A real backend whose first ``failures`` receives fail as if the server were down."""

    async def delete(self, queue: str, receipt_handles: list[str]) -> list:
        return await self._inner.delete(queue, receipt_handles)

    async def receive(self, queue: str, *args: object, **kwargs: object) -> list:
        from qworker.errors import BackendUnavailable

        if self.failures > 0:
            self.failures -= 1
            raise BackendUnavailable("connection refused (injected)")
        return await self._inner.receive(queue, *args, **kwargs)  # type: ignore[arg-type]


async def test_worker_rides_out_a_backend_outage_with_capped_backoff(
    backend: Backend, backend_url: str, ledger: Ledger
) -> None:
    """Backend gone mid-run: the worker retries with jittered, capped back-off (no crash loop,
    no exit) and processes everything once the backend is back."""
    from qworker.runtime.worker import Worker, WorkerOptions
    from tests.runtime.conftest import APP_DIR

    await make_queue(backend, "q")
    await send_json(backend, "q", [{"n": i} for i in range(3)])
    flaky = _FlakyReceives(backend, failures=4)
    worker = Worker(
        [mapping("async_handler", "q")], WorkerOptions(until_empty=True, app_dir=str(APP_DIR)), backend=flaky
    )  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert await worker.serve() == 0
    retries = [e for e in logs if e["event"] == "backend unavailable; retrying"]
    assert len(retries) == 4
    assert all(0 <= e["retry_in"] <= 10 for e in retries)
    assert len(ledger.ids()) == 3

"""The "test your handler" helpers: events Powertools accepts, and Lambda's outcome rules applied
to one invocation (``qworker.testing.lambda_events``, ``qworker.testing.handlers``).

Their match with what a real worker passes is checked end to end in
``tests/runtime/test_handler_helpers_match_the_runtime.py``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsModel

from qworker import digest
from qworker.backend import MessageAttributeValue
from qworker.events import SYSTEM_ATTRIBUTE_ORDER
from qworker.testing.handlers import run_handler, run_handler_async
from qworker.testing.lambda_events import attribute_value, lambda_context, sqs_event, sqs_record

ATTRIBUTES = {
    "kind": "order",
    "count": 3,
    "price": 7.5,
    "blob": b"\x00\xff",
    "custom": MessageAttributeValue("String.json", "{}"),
}


def fail_negative(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler that reports the records whose ``n`` is negative."""
    failures = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] < 0]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}


# -- events and contexts --------------------------------------------------------------------


def test_a_standard_event_validates_with_powertools() -> None:
    event = sqs_event({"n": 1}, "plain text", queue="orders", message_attributes=ATTRIBUTES)
    parsed = SqsModel.model_validate(event)
    first, second = parsed.Records
    assert first.body == '{"n": 1}' and second.body == "plain text"
    assert first.md5OfBody == digest.md5_of_body('{"n": 1}')
    assert first.messageAttributes["blob"].binaryValue == "AP8="
    assert first.messageAttributes["count"].stringValue == "3"
    assert first.eventSourceARN == "arn:aws:sqs:us-east-1:000000000000:orders"
    assert first.attributes.ApproximateReceiveCount == "1"
    assert first.attributes.MessageGroupId is None
    assert first.messageId != second.messageId and first.receiptHandle != second.receiptHandle
    record = event["Records"][0]
    assert list(record) == [
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    ]  # fmt: skip
    assert all(isinstance(v, str) for v in record["attributes"].values())


def test_a_fifo_event_has_groups_sequence_numbers_and_deduplication_ids() -> None:
    event = sqs_event(
        "a", "b", "c", queue="jobs", fifo=True, group_id="customer-7", dedup_ids=["1", "2", "3"]
    )
    parsed = SqsModel.model_validate(event)
    assert {r.eventSourceARN.rsplit(":", 1)[1] for r in parsed.Records} == {"jobs.fifo"}
    assert [r.attributes.MessageGroupId for r in parsed.Records] == ["customer-7"] * 3
    assert [r.attributes.MessageDeduplicationId for r in parsed.Records] == ["1", "2", "3"]
    numbers = [int(r["attributes"]["SequenceNumber"]) for r in event["Records"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    content_based = sqs_event("a", queue="x.fifo")["Records"][0]["attributes"]
    assert content_based["MessageDeduplicationId"] == digest.content_deduplication_id("a")
    assert content_based["MessageGroupId"] == "default"
    names = list(content_based)
    assert names == [n for n in SYSTEM_ATTRIBUTE_ORDER if n in content_based]  # Lambda's order


def test_retries_dead_letters_and_overrides() -> None:
    record = sqs_record("x", queue="dlq", receive_count=4, dead_letter_source="jobs", trace_header="Root=1-a")
    attrs = record["attributes"]
    assert attrs["ApproximateReceiveCount"] == "4"
    assert attrs["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
    assert attrs["AWSTraceHeader"] == "Root=1-a"
    assert next(iter(attrs)) == "DeadLetterQueueSourceArn"
    event = sqs_event("y", attributes={"SentTimestamp": "1700000000000"})
    assert event["Records"][0]["attributes"]["SentTimestamp"] == "1700000000000"
    SqsModel.model_validate({"Records": [record]})
    with pytest.raises(ValueError, match="2 ids for 1 bodies"):
        sqs_event("a", fifo=True, dedup_ids=["1", "2"])
    with pytest.raises(TypeError, match="boolean"):
        attribute_value(True)


def test_region_and_account_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("QWORKER_ACCOUNT_ID", "123456789012")
    record = sqs_event("x", queue="q")["Records"][0]
    assert (record["eventSourceARN"], record["awsRegion"]) == (
        "arn:aws:sqs:eu-west-3:123456789012:q",
        "eu-west-3",
    )
    assert record["attributes"]["SenderId"] == "123456789012"
    assert lambda_context("f").invoked_function_arn == "arn:aws:lambda:eu-west-3:123456789012:function:f"


def test_lambda_context_is_lambdas() -> None:
    context = lambda_context("orders", timeout=30, memory=512)
    assert context.function_name == "orders"
    assert context.memory_limit_in_mb == "512"  # a string, as in Lambda
    assert context.log_group_name == "/aws/lambda/orders"
    assert context.function_version == "$LATEST"
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert lambda_context().aws_request_id != lambda_context().aws_request_id


# -- Lambda's rules on one invocation ---------------------------------------------------------


def test_returning_none_deletes_the_batch() -> None:
    event = sqs_event("a", "b")
    run = run_handler(lambda event, context: None, event)
    assert (run.outcome, run.kept, run.deleted_bodies) == ("success", [], ["a", "b"])


def test_an_exception_keeps_the_whole_batch_and_is_reported_not_raised() -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise ValueError("bad order")

    run = run_handler(handler, sqs_event("a", "b"), report_batch_item_failures=True)
    assert (run.outcome, run.deleted, run.kept_bodies) == ("function_error", [], ["a", "b"])
    assert run.error is not None and run.error.startswith("ValueError: bad order")
    assert "in handler" in run.error  # the handler's traceback


def test_partial_batch_response_keeps_the_listed_messages() -> None:
    event = sqs_event({"n": 1}, {"n": -1}, {"n": 2}, {"n": -2})
    run = run_handler(fail_negative, event, report_batch_item_failures=True)
    assert run.outcome == "partial_failure"
    assert run.kept_bodies == ['{"n": -1}', '{"n": -2}']
    assert run.deleted_bodies == ['{"n": 1}', '{"n": 2}']
    assert run.reason.startswith("ESM-P-2")


def test_without_report_batch_item_failures_the_response_is_ignored_and_said_so() -> None:
    """The most reported pitfall (ESM-P-1): everything is deleted, the listed ones included."""
    run = run_handler(fail_negative, sqs_event({"n": 1}, {"n": -1}))
    assert (run.outcome, run.kept) == ("success", [])
    assert run.warning is not None and "ESM-P-1" in run.warning


def test_responses_lambda_cannot_read_keep_everything() -> None:
    event = sqs_event({"n": -1}, {"n": 1})

    def unknown_id(event: dict[str, Any], context: Any) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    def not_an_object(event: dict[str, Any], context: Any) -> Any:
        return []

    for handler in (unknown_id, not_an_object):
        run = run_handler(handler, event, report_batch_item_failures=True)
        assert (run.outcome, run.deleted) == ("invalid_response", []), handler
        assert run.reason.startswith("ESM-P-"), run.reason
    every = run_handler(
        lambda e, c: {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in e["Records"]]},
        event,
        report_batch_item_failures=True,
    )
    assert (every.outcome, every.deleted) == ("all_items_failed", [])


def test_a_response_lambda_cannot_serialize_is_a_function_error() -> None:
    run = run_handler(
        lambda e, c: {"batchItemFailures": {1, 2}}, sqs_event("a"), report_batch_item_failures=True
    )
    assert (run.outcome, run.deleted) == ("function_error", [])
    assert "MarshalError" in run.reason


def test_fifo_strict_keeps_what_follows_a_failure_in_its_group() -> None:
    event = sqs_event({"n": -1}, {"n": 2}, {"n": 3}, fifo=True)
    loose = run_handler(fail_negative, event, report_batch_item_failures=True)
    strict = run_handler(fail_negative, event, report_batch_item_failures=True, fifo_strict=True)
    assert loose.kept_bodies == ['{"n": -1}']
    assert strict.kept_bodies == ['{"n": -1}', '{"n": 2}', '{"n": 3}']


def test_a_powertools_batch_processor_handler() -> None:
    """A handler written with Powertools' BatchProcessor, unchanged."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: Any) -> None:
        if json.loads(record.body)["n"] < 0:
            raise ValueError("negative")

    def handler(event: dict[str, Any], context: Any) -> Any:
        return process_partial_response(event, record_handler, processor, context)

    event = sqs_event({"n": 1}, {"n": -5}, {"n": 3})
    run = run_handler(handler, event, lambda_context(timeout=10), report_batch_item_failures=True)
    assert (run.outcome, run.kept_bodies) == ("partial_failure", ['{"n": -5}'])


def test_timeouts_as_the_worker_times_out() -> None:
    async def slow_async(event: dict[str, Any], context: Any) -> None:
        await asyncio.sleep(5)

    started = time.monotonic()
    run = run_handler(slow_async, sqs_event("a"), timeout=0.2)
    assert (run.outcome, run.kept_bodies) == ("timeout", ["a"])
    assert run.error is not None and "Task timed out after 0.20 seconds" in run.error
    assert time.monotonic() - started < 2
    context = lambda_context(timeout=0.2)  # the timeout from what the context has left
    sync = run_handler(lambda e, c: time.sleep(0.5), sqs_event("b"), context)
    assert sync.outcome == "timeout"


async def test_from_async_tests_await_run_handler_async() -> None:
    async def handler(event: dict[str, Any], context: Any) -> None:
        assert context.get_remaining_time_in_millis() > 0

    run = await run_handler_async(handler, sqs_event("a"))
    assert run.outcome == "success"
    with pytest.raises(RuntimeError, match="run_handler_async"):
        run_handler(handler, sqs_event("a"))


# -- qworker.testing needs only the [testing] extra ------------------------------------------


def test_qworker_testing_imports_only_what_the_testing_extra_installs() -> None:
    """The public test helpers (the conformance suite, the event builders, the handler runner)
    import with nothing but the standard library, qworker's own packages and the distributions
    ``pip install 'qworker[testing]'`` brings (the core's dependencies and the extra's, with
    theirs). Checked in a child process where every other installed distribution is hidden, as
    if absent (their modules fail to import), so optional imports of present packages, such as
    rich's of ``attr``, do not count."""
    allowed = _distributions_of("qworker", extra="testing")
    hidden = sorted(
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if not module.startswith(("_", "qworker")) and not {_normalize(d) for d in owners} & allowed
    )
    code = (
        "import importlib.abc, sys\n"
        f"HIDDEN = set({hidden!r})\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in HIDDEN:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (hidden)', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import qworker.testing.conformance, qworker.testing.lambda_events, qworker.testing.handlers\n"
        "from qworker.testing.handlers import run_handler\n"
        "from qworker.testing.lambda_events import sqs_event\n"
        "assert run_handler(lambda e, c: None, sqs_event('x')).outcome == 'success'\n"
    )
    assert "pytest" not in hidden and "hypothesis" not in hidden and "playwright" in hidden
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _distributions_of(root: str, extra: str) -> set[str]:
    """``root`` with ``extra`` and everything they require, transitively (installed ones)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(root, extra)]
    while todo:
        name, wanted = todo.pop()
        if _normalize(name) in seen:
            continue
        seen.add(_normalize(name))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or marker.evaluate({"extra": wanted or ""}):
                todo.append((requirement.name, ""))
    return seen


def test_the_readme_example_with_the_example_handler() -> None:
    """README, "Test your handler", with examples/orders.py as ``app``."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "orders.py"
    spec = importlib.util.spec_from_file_location("readme_orders", path)
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    event = sqs_event({"order_id": 1, "amount": 12.5}, {"order_id": 2, "amount": -1})
    run = run_handler(app.handler, event, lambda_context(timeout=30), report_batch_item_failures=True)
    assert run.outcome == "partial_failure"
    assert run.kept_bodies == ['{"order_id": 2, "amount": -1}']

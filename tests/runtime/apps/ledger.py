"""Test handlers that record every invocation in a ledger outside the system under test.

The ledger is a JSON-lines file named by ``QW_TEST_LEDGER``; each invocation appends one line
(one ``write`` of a complete line on an ``O_APPEND`` file, so concurrent invocations and
processes never interleave) *before* it returns. Message bodies are JSON objects that steer the
handler: ``{"id": ..., "fail": true}`` raises, ``{"sleep": 0.5}`` sleeps, ``{"partial": true}``
is listed in ``batchItemFailures`` by the partial handlers, ``{"spin": 2}`` busy-loops (sync).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

_lock = threading.Lock()
_concurrency = {"now": 0, "max": 0}


def _ledger(event: dict[str, Any], context: Any, kind: str, path: str | None = None, **extra: Any) -> None:
    records = event["Records"]
    line = {
        "kind": kind,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "ids": [r["messageId"] for r in records],
        "bodies": [r["body"] for r in records],
        "counts": [int(r["attributes"]["ApproximateReceiveCount"]) for r in records],
        "groups": [r["attributes"].get("MessageGroupId") for r in records],
        "time": time.time(),
        **extra,
    }
    fd = os.open(path or os.environ["QW_TEST_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def _bodies(event: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for record in event["Records"]:
        try:
            value = json.loads(record["body"])
        except ValueError:
            value = {}
        out.append(value if isinstance(value, dict) else {})
    return out


def _enter() -> int:
    with _lock:
        _concurrency["now"] += 1
        _concurrency["max"] = max(_concurrency["max"], _concurrency["now"])
        return _concurrency["now"]


def _leave() -> None:
    with _lock:
        _concurrency["now"] -= 1


async def async_handler(event: dict[str, Any], context: Any) -> Any:
    path = os.environ["QW_TEST_LEDGER"]
    concurrent = _enter()
    start = time.time()
    try:
        bodies = _bodies(event)
        delay = max((b.get("sleep", 0) for b in bodies), default=0)
        if delay:
            await asyncio.sleep(delay)
        block = max((b.get("block", 0) for b in bodies), default=0)
        if block:  # a blocking call inside an async handler: the event loop stops meanwhile
            time.sleep(block)
        failed = any(b.get("fail") for b in bodies)
        _ledger(
            event,
            context,
            "async",
            path,
            concurrent=concurrent,
            failed=failed,
            start=start,
            remaining_ms=context.get_remaining_time_in_millis(),
        )
        if failed:
            raise RuntimeError("a record asked to fail")
        return None
    finally:
        _leave()


def sync_handler(event: dict[str, Any], context: Any) -> Any:
    path = os.environ["QW_TEST_LEDGER"]  # read now: a timed-out thread may finish after the test
    concurrent = _enter()
    try:
        bodies = _bodies(event)
        delay = max((b.get("sleep", 0) for b in bodies), default=0)
        if delay:
            time.sleep(delay)
        spin = max((b.get("spin", 0) for b in bodies), default=0)
        end = time.monotonic() + spin
        while time.monotonic() < end:
            pass
        failed = any(b.get("fail") for b in bodies)
        _ledger(event, context, "sync", path, concurrent=concurrent, failed=failed)
        if failed:
            raise RuntimeError("a record asked to fail")
        return None
    finally:
        _leave()


async def partial_handler(event: dict[str, Any], context: Any) -> Any:
    """Lists the records whose body says ``partial`` in ``batchItemFailures``."""
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record, body in zip(event["Records"], _bodies(event), strict=True)
        if body.get("partial")
    ]
    _ledger(event, context, "partial", listed=[f["itemIdentifier"] for f in failures])
    return {"batchItemFailures": failures}


async def echo_response_handler(event: dict[str, Any], context: Any) -> Any:
    """Returns the first record's body's ``response`` value as is (to test response rules)."""
    _ledger(event, context, "echo")
    response = _bodies(event)[0].get("response", None)
    if response == "$unknown-id":
        return {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}
    if response == "$first-id":
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    if response == "$not-serializable":
        return {"batchItemFailures": {1, 2}}
    return response


def capture_handler(event: dict[str, Any], context: Any) -> Any:
    """Writes the whole event and the context's attributes to the ledger."""
    fd = os.open(os.environ["QW_TEST_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client_context": context.client_context,
        },
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "_HANDLER"))},
    }
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def exiting_handler(event: dict[str, Any], context: Any) -> Any:
    """Calls sys.exit, as some scripts turned into handlers do."""
    raise SystemExit(3)


async def async_exiting_handler(event: dict[str, Any], context: Any) -> Any:
    raise SystemExit(3)


class CustomBaseError(BaseException):
    """A BaseException subclass a library might raise (not an Exception)."""


def _raise_what_the_body_says(event: dict[str, Any]) -> None:
    kind = _bodies(event)[0].get("raise")
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt("raised by the handler")
    if kind == "custom":
        raise CustomBaseError("a custom BaseException")


def raising_sync_handler(event: dict[str, Any], context: Any) -> Any:
    """Raises the BaseException its first body names (``{"raise": "KeyboardInterrupt"}`` or
    ``"custom"``), else records the batch."""
    _raise_what_the_body_says(event)
    _ledger(event, context, "sync")


async def raising_async_handler(event: dict[str, Any], context: Any) -> Any:
    """The async twin of :func:`raising_sync_handler`."""
    _raise_what_the_body_says(event)
    _ledger(event, context, "async")


def exit_once_handler(event: dict[str, Any], context: Any) -> Any:
    """Calls ``os._exit`` on a ``{"raise": "exit"}`` body the first time only (a marker file named
    by ``QW_TEST_EXIT_MARKER`` remembers it), then records batches as usual."""
    marker = os.environ["QW_TEST_EXIT_MARKER"]
    if _bodies(event)[0].get("raise") == "exit" and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(int(_bodies(event)[0].get("code", 7)))
    _ledger(event, context, "sync")


async def deaf_handler(event: dict[str, Any], context: Any) -> Any:
    """Swallows its cancellation and sleeps on (a handler that ignores being cancelled)."""
    end = time.monotonic() + float(_bodies(event)[0].get("sleep", 30))
    while time.monotonic() < end:
        try:
            await asyncio.sleep(end - time.monotonic())
        except asyncio.CancelledError:
            continue

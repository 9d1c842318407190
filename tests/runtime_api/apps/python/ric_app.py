"""A Python handler run through AWS's awslambdaric (--isolation runtime-api)."""

from __future__ import annotations

import json
import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    line = {
        "kind": "awslambdaric",
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "bodies": [r["body"] for r in records],
    }
    with open(os.environ["QW_TEST_LEDGER"], "a") as ledger:
        ledger.write(json.dumps(line) + "\n")
    failed = [r["messageId"] for r in records if json.loads(r["body"]).get("fail")]
    if any(json.loads(r["body"]).get("raise") for r in records):
        raise ValueError("asked to raise")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

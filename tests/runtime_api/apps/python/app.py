"""A Python function beside the Node ones in the SAM template (runs in process)."""

from __future__ import annotations

import json
import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    line = {"kind": "python", "request_id": context.aws_request_id, "bodies": [r["body"] for r in records]}
    with open(os.environ["QW_TEST_LEDGER"], "a") as ledger:
        ledger.write(json.dumps(line) + "\n")
    failed = [r["messageId"] for r in records if json.loads(r["body"]).get("fail")]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

"""Payments handler: a FIFO queue, processed in order within each account (the message group).

On a FIFO queue with ``ReportBatchItemFailures``, processing stops at the first failure and that
record plus every later one is reported, so no payment of an account overtakes an earlier one.
"""

import json
import os


def handler(event, context):
    currency = os.environ.get("CURRENCY", "EUR")
    records = event["Records"]
    for index, record in enumerate(records):
        payment = json.loads(record["body"])
        if payment.get("amount", 0) <= 0:
            failed = records[index:]
            _log(context, event, processed=index, failed=len(failed), currency=currency)
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}
    _log(context, event, processed=len(records), failed=0, currency=currency)
    return {"batchItemFailures": []}


def _log(context, event, **fields):
    records = event["Records"]
    print(
        json.dumps(
            {
                "function": context.function_name,
                "memory_mb": context.memory_limit_in_mb,
                "queue": records[0]["eventSourceARN"].rsplit(":", 1)[-1],
                "records": len(records),
                "groups": [r["attributes"]["MessageGroupId"] for r in records],
                "payment_ids": [json.loads(r["body"])["payment_id"] for r in records],
                **fields,
            }
        ),
        flush=True,
    )

"""Orders handler: an ordinary AWS Lambda SQS handler, run unchanged by qworker.

Each record's body is an order (JSON). Orders below ``MIN_AMOUNT`` are invalid: they are listed in
``batchItemFailures`` (the event source mapping has ``ReportBatchItemFailures``), so only they are
retried and, after the queue's ``maxReceiveCount``, moved to its dead-letter queue.
"""

import json
import os


def handler(event, context):
    minimum = float(os.environ.get("MIN_AMOUNT", "0"))
    failures = []
    total = 0.0
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order["amount"] < minimum:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        total += order["amount"]
    # one structured log line per invocation (CloudWatch Logs on Lambda, stdout under qworker)
    print(
        json.dumps(
            {
                "function": context.function_name,
                "memory_mb": context.memory_limit_in_mb,
                "stage": os.environ.get("STAGE"),
                "table": os.environ.get("ORDERS_TABLE"),
                "queue": event["Records"][0]["eventSourceARN"].rsplit(":", 1)[-1],
                "records": len(event["Records"]),
                "order_ids": [json.loads(r["body"])["order_id"] for r in event["Records"]],
                "failed": len(failures),
                "total": round(total, 2),
            }
        ),
        flush=True,
    )
    return {"batchItemFailures": failures}

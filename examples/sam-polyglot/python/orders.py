"""Orders: a Python handler (qworker imports and runs it in process)."""

import json


def handler(event, context):
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order.get("amount", 0) <= 0:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        print(f"order {order['id']} for {order['amount']}")
    return {"batchItemFailures": failures}

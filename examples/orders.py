"""An SQS handler written for AWS Lambda, unchanged: it runs on Lambda or under qworker.

Each record's body is an order (JSON). Orders with a negative amount are invalid: they are
reported in ``batchItemFailures`` so only they are retried (and, after ``maxReceiveCount``
receives, end up in the dead-letter queue), while the rest of the batch is deleted.
"""

import json
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    failures = []
    total = 0.0
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order["amount"] < 0:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        total += order["amount"]
    logger.info(
        "processed %d orders worth %.2f, %d invalid (request %s)",
        len(event["Records"]) - len(failures),
        total,
        len(failures),
        context.aws_request_id,
    )
    return {"batchItemFailures": failures}

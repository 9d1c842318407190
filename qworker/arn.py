"""Queue ARNs for backends that are not Amazon SQS.

Handlers read ``eventSourceARN`` and ``awsRegion`` from records (SPEC EVT-7), and SQS attributes
such as ``RedrivePolicy.deadLetterTargetArn`` and ``DeadLetterQueueSourceArn`` name queues by ARN.
qworker makes stable ARNs from the region (``AWS_REGION``, then ``AWS_DEFAULT_REGION``, default
``us-east-1``) and the account (``QWORKER_ACCOUNT_ID``, default ``000000000000``).
"""

from __future__ import annotations

import os

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"


def region() -> str:
    """The AWS region records report in ``awsRegion``."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def account_id() -> str:
    """The account id used in synthesized ARNs."""
    return os.environ.get("QWORKER_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID


def queue_arn(queue: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:QUEUE`` for a queue name."""
    return f"arn:aws:sqs:{region()}:{account_id()}:{queue}"


def queue_name_from_arn(value: str) -> str:
    """The queue name in an SQS queue ARN (its last ``:`` field); a plain name is returned as is."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) != 6 or parts[2] != "sqs" or not parts[5]:
            raise ValueError(f"not an SQS queue ARN: {value!r}")
        return parts[5]
    return value


def region_of(queue_arn_text: str) -> str:
    """The region field of an SQS queue ARN (``awsRegion`` of its records); the configured
    region when the value is not an ARN."""
    parts = queue_arn_text.split(":")
    if len(parts) == 6 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return region()

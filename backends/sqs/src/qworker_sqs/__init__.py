"""qworker's Amazon SQS backend (``sqs://``): a thin, correct adapter over aiobotocore.

Users who already have SQS queues run::

    qworker run app:handler --backend sqs:// --queue orders
    qworker run app:handler --backend sqs:// --queue https://sqs.eu-west-1.amazonaws.com/123456789012/orders

SQS itself does the queue semantics; the backend maps the protocol onto the SQS API and handles
its limits (:mod:`qworker_sqs.backend`). URL options are in :mod:`qworker_sqs.url`; credentials
come only from the standard AWS chain. Redrive uses StartMessageMoveTask, with a documented
fallback for endpoints that lack it (:mod:`qworker_sqs.redrive`).
"""

from qworker_sqs.backend import SQSBackend

__all__ = ["SQSBackend"]

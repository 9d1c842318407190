"""Build the ``event`` and ``context`` a handler gets, for your handler's unit tests.

A handler written for Lambda is a plain function; testing it needs an SQS event and a context.
Hand-written event dicts drift from what really arrives (a missing ``md5OfMessageAttributes``,
attributes as ints instead of strings, a ``messageAttributes`` value without its ``null``
``binaryValue``...). These builders use the code the worker itself uses: the records come from
:func:`qworker.events.build_record`, the system attributes from
:func:`qworker.backend.system_attributes`, the digests from :mod:`qworker.digest`, the context from
:class:`qworker.context.FunctionInfo`. So the event has exactly the keys, order and value types of
the one ``qworker run`` passes (and Lambda's: it validates against Powertools' ``SqsModel``)::

    from qworker.testing.lambda_events import lambda_context, sqs_event

    event = sqs_event({"order_id": 1}, "plain text", message_attributes={"kind": "order"})
    handler(event, lambda_context(timeout=30))

Run the handler with :func:`qworker.testing.handlers.run_handler` to see which messages Lambda's
rules (partial batch responses included) would delete and which it would keep.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from qworker import arn, digest, events
from qworker.backend import MessageAttributeValue, ReceivedMessage, system_attributes
from qworker.context import FunctionInfo, LambdaContext

__all__ = ["attribute_value", "lambda_context", "sqs_event", "sqs_record"]

#: a value for ``message_attributes``: str (String), int, float or Decimal (Number), bytes
#: (Binary), or a :class:`~qworker.backend.MessageAttributeValue` for custom types
AttributeInput = str | int | float | Decimal | bytes | MessageAttributeValue


def attribute_value(value: AttributeInput) -> MessageAttributeValue:
    """A message attribute from a plain value: ``str`` is String, a number is Number (``bool``
    is refused: SQS has no boolean type), ``bytes`` is Binary."""
    if isinstance(value, MessageAttributeValue):
        return value
    if isinstance(value, bool):
        raise TypeError("SQS has no boolean attributes: use a String or a Number")
    if isinstance(value, bytes):
        return MessageAttributeValue("Binary", binary_value=value)
    if isinstance(value, int | float | Decimal):
        return MessageAttributeValue("Number", string_value=str(value))
    if isinstance(value, str):
        return MessageAttributeValue("String", string_value=value)
    raise TypeError(f"a message attribute is str, a number, bytes or MessageAttributeValue, not {value!r}")


def sqs_record(
    body: object,
    *,
    queue: str = "q",
    message_id: str | None = None,
    message_attributes: Mapping[str, AttributeInput] | None = None,
    attributes: Mapping[str, str] | None = None,
    group_id: str | None = None,
    dedup_id: str | None = None,
    sequence_number: str | None = None,
    receive_count: int = 1,
    sent_timestamp: int | None = None,
    trace_header: str | None = None,
    dead_letter_source: str | None = None,
) -> dict[str, Any]:
    """One record of ``event["Records"]``, as the worker builds it for a message of ``queue``.

    ``body`` is the message body: a ``str`` as is, anything else as its JSON. On a FIFO queue
    (a name ending in ``.fifo``) the record has ``MessageGroupId`` (``group_id``, default
    ``"default"``), ``MessageDeduplicationId`` (``dedup_id``, default: content-based, the
    body's SHA-256) and ``SequenceNumber``. ``receive_count`` is ``ApproximateReceiveCount``
    (2 and more: a retry); ``dead_letter_source`` (a queue name) makes it a dead letter, with
    ``DeadLetterQueueSourceArn``. ``attributes`` overrides system attributes by name (strings,
    as SQS sends them).
    """
    text = body if isinstance(body, str) else json.dumps(body)
    fifo = queue.endswith(".fifo")
    now_ms = int(time.time() * 1000)
    sent = now_ms if sent_timestamp is None else sent_timestamp
    values = {name: attribute_value(value) for name, value in (message_attributes or {}).items()}
    system = system_attributes(
        receive_count=receive_count,
        sent_ms=sent,
        first_receive_ms=max(sent, now_ms),
        sender_id=arn.account_id(),
        sequence_number=(sequence_number or _sequence_number()) if fifo else None,
        group_id=(group_id or "default") if fifo else None,
        dedup_id=(dedup_id or digest.content_deduplication_id(text)) if fifo else None,
        trace_header=trace_header,
        dead_letter_source_arn=arn.queue_arn(dead_letter_source) if dead_letter_source else None,
    )
    system.update(attributes or {})
    message = ReceivedMessage(
        message_id=message_id or str(uuid.uuid4()),
        receipt_handle=_receipt_handle(),
        body=text,
        md5_of_body=digest.md5_of_body(text),
        attributes=system,
        message_attributes=values,
        md5_of_message_attributes=digest.md5_of_message_attributes(values),
    )
    source_arn = arn.queue_arn(queue)
    return events.build_record(message, source_arn, arn.region_of(source_arn))


def sqs_event(
    *bodies: object,
    queue: str = "q",
    fifo: bool = False,
    group_id: str | None = None,
    dedup_ids: Iterable[str] | None = None,
    message_attributes: Mapping[str, AttributeInput] | None = None,
    attributes: Mapping[str, str] | None = None,
    receive_count: int = 1,
) -> dict[str, list[dict[str, Any]]]:
    """``{"Records": [...]}``: one record per body, in order, as one batch of ``queue``.

    ``fifo=True`` (or a queue name ending in ``.fifo``) makes FIFO records: one message group
    (``group_id``), increasing sequence numbers, and deduplication ids (``dedup_ids``, one per
    body, default content-based). ``message_attributes`` and ``attributes`` apply to every
    record; for records that differ, build them with :func:`sqs_record` and wrap them as
    ``{"Records": [...]}``.
    """
    if fifo and not queue.endswith(".fifo"):
        queue = f"{queue}.fifo"
    dedup = list(dedup_ids) if dedup_ids is not None else [None] * len(bodies)
    if len(dedup) != len(bodies):
        raise ValueError(f"dedup_ids has {len(dedup)} ids for {len(bodies)} bodies")
    records = [
        sqs_record(
            body,
            queue=queue,
            group_id=group_id,
            dedup_id=dedup_id,
            message_attributes=message_attributes,
            attributes=attributes,
            receive_count=receive_count,
        )
        for body, dedup_id in zip(bodies, dedup, strict=True)
    ]
    return events.build_event(records)


def lambda_context(
    function_name: str = "test-function",
    *,
    timeout: float = 3.0,
    memory: int = 128,
    region: str | None = None,
    account_id: str | None = None,
) -> LambdaContext:
    """A context as the worker makes it for each invocation: a fresh ``aws_request_id``, the
    function's ARN, log group and stream, and ``get_remaining_time_in_millis()`` counting down
    from ``timeout`` seconds starting now. Defaults are Lambda's (3 s, 128 MB)."""
    function = FunctionInfo(
        function_name,
        memory_mb=memory,
        timeout=timeout,
        region=region or arn.region(),
        account_id=account_id or arn.account_id(),
    )
    return function.context()


_sequence = iter(range(18_000_000_000_000_000_000, 19_000_000_000_000_000_000))


def _sequence_number() -> str:
    """Increasing 20-digit sequence numbers, as SQS gives a FIFO queue's messages."""
    return str(next(_sequence))


def _receipt_handle() -> str:
    """An opaque handle shaped like SQS's (base64 text starting ``AQEB``): handlers must not
    parse it, and this one can only be told apart from a real one by the queue."""
    return "AQEB" + base64.b64encode(os.urandom(96)).decode()

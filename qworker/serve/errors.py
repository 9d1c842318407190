"""SQS's errors as the server sends them: one exception type, rendered per protocol.

An SQS error has two names. The AWS JSON 1.0 protocol names it by its model shape
(``__type``: ``QueueDoesNotExist``, ``InvalidParameterValueException``) and carries the older
query-protocol code in the ``x-amzn-query-error`` header (``AWS.SimpleQueueService.NonExistentQueue;
Sender``); the query protocol puts only that code in its XML ``<Code>``. botocore shows a JSON
error as ``Error.Code`` = the query code and ``Error.QueryErrorCode`` = the shape name, so both
must be right for a program written against SQS to recognise the error. The table below is the
SQS model's (``awsQueryError`` traits, the same codes and statuses Amazon SQS sends); errors that
are not modelled (unknown action, bad signature, malformed body) use the shared AWS names.
"""

from __future__ import annotations

from typing import NamedTuple

from qworker.errors import (
    BackendUnavailable,
    InvalidAttributeName,
    QueueDoesNotExist,
    QueueNameExists,
    QWorkerError,
    ReceiptHandleIsInvalid,
    UnsupportedOperation,
)


class _Kind(NamedTuple):
    query_code: str
    status: int
    sender_fault: bool = True


_PREFIX = "AWS.SimpleQueueService."

#: JSON shape name -> (query code, HTTP status, sender fault)
KINDS: dict[str, _Kind] = {
    "QueueDoesNotExist": _Kind(_PREFIX + "NonExistentQueue", 400),
    "QueueNameExists": _Kind("QueueAlreadyExists", 400),
    "QueueDeletedRecently": _Kind(_PREFIX + "QueueDeletedRecently", 400),
    "InvalidParameterValueException": _Kind("InvalidParameterValue", 400),
    "MissingRequiredParameterException": _Kind("MissingParameter", 400),
    "InvalidAttributeName": _Kind("InvalidAttributeName", 400),
    "InvalidAttributeValue": _Kind("InvalidAttributeValue", 400),
    "InvalidMessageContents": _Kind("InvalidMessageContents", 400),
    "ReceiptHandleIsInvalid": _Kind("ReceiptHandleIsInvalid", 400),
    "MessageNotInflight": _Kind(_PREFIX + "MessageNotInflight", 400),
    "InvalidIdFormat": _Kind("InvalidIdFormat", 400),
    "EmptyBatchRequest": _Kind(_PREFIX + "EmptyBatchRequest", 400),
    "TooManyEntriesInBatchRequest": _Kind(_PREFIX + "TooManyEntriesInBatchRequest", 400),
    "BatchEntryIdsNotDistinct": _Kind(_PREFIX + "BatchEntryIdsNotDistinct", 400),
    "InvalidBatchEntryId": _Kind(_PREFIX + "InvalidBatchEntryId", 400),
    "BatchRequestTooLong": _Kind(_PREFIX + "BatchRequestTooLong", 400),
    "PurgeQueueInProgress": _Kind(_PREFIX + "PurgeQueueInProgress", 403),
    "OverLimit": _Kind("OverLimit", 403),
    "UnsupportedOperation": _Kind(_PREFIX + "UnsupportedOperation", 400),
    "ResourceNotFoundException": _Kind("ResourceNotFoundException", 404),
    "RequestThrottled": _Kind("RequestThrottled", 400),
    "InvalidSecurity": _Kind(_PREFIX + "InvalidSecurity", 403),
    "InvalidAddress": _Kind("InvalidAddress", 404),
    # not in the SQS model: the protocol's and the authentication layer's own errors
    "InvalidAction": _Kind("InvalidAction", 400),
    "MissingAction": _Kind("MissingAction", 400),
    "UnknownOperationException": _Kind("InvalidAction", 400),
    "SerializationException": _Kind("MalformedInput", 400),
    "MalformedQueryString": _Kind("MalformedQueryString", 400),
    "RequestEntityTooLarge": _Kind("RequestEntityTooLarge", 413),
    "RequestTimeout": _Kind("RequestTimeout", 408),
    "InternalFailure": _Kind("InternalFailure", 500, False),
    "ServiceUnavailable": _Kind("ServiceUnavailable", 503, False),
}


class SQSError(Exception):
    """An SQS error response: ``name`` is the JSON shape name (a key of :data:`KINDS`, or any
    code the authentication layer gives, used for both protocols)."""

    def __init__(self, name: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        kind = KINDS.get(name)
        self.query_code = kind.query_code if kind else name
        self.status = status if status is not None else (kind.status if kind else 400)
        self.sender_fault = kind.sender_fault if kind else self.status < 500

    @property
    def fault(self) -> str:
        """``Sender`` or ``Receiver``, as both protocols spell it."""
        return "Sender" if self.sender_fault else "Receiver"


def invalid_parameter(message: str) -> SQSError:
    return SQSError("InvalidParameterValueException", message)


def invalid_value(name: str, value: object, reason: str) -> SQSError:
    """SQS's usual wording: ``Value V for parameter P is invalid. Reason: R``."""
    return invalid_parameter(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> SQSError:
    return SQSError("MissingRequiredParameterException", f"The request must contain the parameter {name}.")


def queue_does_not_exist(query: bool) -> SQSError:
    """The query protocol's text differs from the JSON protocol's (both recorded from SQS)."""
    text = "The specified queue does not exist for this wsdl version." if query else ""
    return SQSError("QueueDoesNotExist", text or "The specified queue does not exist.")


def from_qworker_error(exc: QWorkerError, *, query: bool) -> SQSError:
    """The SQS error for an error a backend raised."""
    if isinstance(exc, QueueDoesNotExist):
        return queue_does_not_exist(query)
    if isinstance(exc, QueueNameExists):
        return SQSError("QueueNameExists", str(exc))
    if isinstance(exc, InvalidAttributeName):
        return SQSError("InvalidAttributeName", str(exc))
    if isinstance(exc, ReceiptHandleIsInvalid):
        return SQSError("ReceiptHandleIsInvalid", str(exc))
    if isinstance(exc, UnsupportedOperation):
        return SQSError("UnsupportedOperation", str(exc))
    if isinstance(exc, BackendUnavailable):
        return SQSError("ServiceUnavailable", "The backend is unavailable; retry later.")
    code = getattr(exc, "code", "")
    if code.endswith("PurgeQueueInProgress"):
        return SQSError("PurgeQueueInProgress", str(exc))
    if code in ("InvalidParameterValue", "InvalidAttributeValue"):
        name = "InvalidParameterValueException" if code == "InvalidParameterValue" else code
        return SQSError(name, str(exc))
    return SQSError("InternalFailure", "The server failed to process the request.")


def entry_error_name(code: str) -> str:
    """A backend's per-entry error code as SQS spells it in a batch result (``Code``)."""
    if code == "MessageNotInflight":
        return _PREFIX + "MessageNotInflight"
    return code

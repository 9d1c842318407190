"""SQS's errors as qworker's: botocore exceptions and error codes -> :mod:`qworker.errors`.

SQS speaks two dialects of error codes. Its JSON protocol names an error ``QueueDoesNotExist``
while the older query protocol (and botocore's ``Code`` for query-compatible services) says
``AWS.SimpleQueueService.NonExistentQueue``; botocore puts the other one in ``QueryErrorCode``.
Every check here looks at both, so the backend behaves the same on AWS and on SQS-compatible
servers.

Some SQS-compatible servers answer a JSON-protocol request with the query protocol's XML error
document (moto does for authentication failures); botocore then reports the HTTP status as the
code and the XML as the message. The code and message inside are read back out
(:func:`error_fields`), and a bare HTTP 403 counts as a refusal of the credentials or of the
policy, so those servers get the same clear errors as AWS.

Texts pass through :func:`qworker.redaction.redact_text` before they become qworker errors: a
``SignatureDoesNotMatch`` message can quote the access key id, and RELIABILITY.md §3.4 says no
key material reaches a log.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
    UnknownCredentialError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from qworker.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    QWorkerError,
    ReceiptHandleIsInvalid,
    UnsupportedOperation,
)
from qworker.redaction import redact_text as redact

_PREFIX = "AWS.SimpleQueueService."

QUEUE_MISSING = frozenset({"NonExistentQueue", "QueueDoesNotExist"})
QUEUE_EXISTS = frozenset({"QueueAlreadyExists", "QueueNameExists"})
#: the credentials themselves were refused: wrong, expired or unknown
CREDENTIALS_REFUSED = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidAccessKeyId",
        "InvalidSecurity",
        "AuthFailure",
    }
)
#: the credentials are fine, the policy says no
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})
#: worth another try later (SQS says so with SenderFault=false too)
TRANSIENT = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "KmsUnavailable",
        "SlowDown",
        "500",
        "502",
        "503",
        "504",
    }
)
INVALID_REQUEST = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidParameterCombination",
        "MissingParameter",
        "InvalidAttributeValue",
        "InvalidMessageContents",
        "BatchEntryIdsNotDistinct",
        "InvalidBatchEntryId",
        "TooManyEntriesInBatchRequest",
        "BatchRequestTooLong",
        "EmptyBatchRequest",
        "ValidationError",
        "InvalidAddress",
        "OverLimit",
    }
)
#: what an endpoint answers for an operation it does not implement
NOT_IMPLEMENTED = frozenset(
    {
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "NotImplemented",
        "UnsupportedOperation",
        "501",
    }
)

_NETWORK = (
    BotoConnectionError,
    HTTPClientError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)
#: the chain found nothing usable (SSOError covers expired or missing SSO logins)
_NO_CREDENTIALS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    UnknownCredentialError,
    SSOError,
    TokenRetrievalError,
)


def normalize_code(code: str) -> str:
    """``AWS.SimpleQueueService.MessageNotInflight`` -> ``MessageNotInflight``."""
    return code[len(_PREFIX) :] if code.startswith(_PREFIX) else code


_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


def error_fields(exc: ClientError) -> dict[str, str]:
    """The error's ``Code``, ``QueryErrorCode`` and ``Message``, read out of an XML error document
    when the server sent one where JSON was expected (see the module docstring)."""
    error: Mapping[str, Any] = exc.response.get("Error", {})
    fields = {key: str(error[key]) for key in ("Code", "QueryErrorCode", "Message") if error.get(key)}
    message = fields.get("Message", "").strip()
    if message.startswith("<"):
        code = _XML_CODE.search(message)
        text = _XML_MESSAGE.search(message)
        if code is not None:
            fields["QueryErrorCode"] = html.unescape(code.group(1).strip())
            fields["Message"] = html.unescape(text.group(1).strip()) if text else ""
        else:  # an HTML page from a proxy or a server error
            fields["Message"] = "(the endpoint answered with an HTML error page)"
    return fields


def error_codes(exc: ClientError) -> frozenset[str]:
    """Every name SQS gave this error (both dialects, without the ``AWS.SimpleQueueService.`` prefix)."""
    fields = error_fields(exc)
    codes = {normalize_code(fields[key]) for key in ("Code", "QueryErrorCode") if key in fields}
    status = http_status(exc)
    if status:
        codes.add(str(status))
    return frozenset(codes)


def error_text(exc: ClientError) -> str:
    """``Code: message`` of an error, redacted."""
    fields = error_fields(exc)
    code = fields.get("QueryErrorCode") if fields.get("Code", "").isdigit() else None
    code = code or fields.get("Code") or "Error"
    message = fields.get("Message", "").strip()
    return redact(f"{code}: {message}" if message else code)


def http_status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def is_transient(exc: BaseException) -> bool:
    """A network failure or an SQS error that another attempt may cure."""
    if isinstance(exc, ClientError):
        status = http_status(exc) or 0
        return bool(error_codes(exc) & TRANSIENT) or status >= 500
    return isinstance(exc, _NETWORK)


def translate(exc: BaseException, *, operation: str, queue: str | None, endpoint: str) -> QWorkerError:
    """The qworker error for an exception raised by an SQS call.

    ``operation`` is the SQS action (``ReceiveMessage``), ``queue`` the name or URL the caller
    gave, ``endpoint`` the URL the client talks to (for messages only).
    """
    where = f"SQS {operation}" + (f" on {queue!r}" if queue else "")
    if isinstance(exc, ClientError):
        return _client_error(exc, where, operation, queue)
    if isinstance(exc, _NO_CREDENTIALS):
        return BackendUnavailable(
            f"No usable AWS credentials for SQS ({redact(str(exc))}). qworker uses the standard chain: "
            "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared config files, SSO, web "
            "identity, container or instance roles."
        )
    if isinstance(exc, NoRegionError):
        return ConfigError(
            "No AWS region for SQS: set AWS_REGION (or AWS_DEFAULT_REGION), a region in the profile, "
            "or use sqs://?region=REGION."
        )
    if isinstance(exc, ProfileNotFound):
        return ConfigError(f"AWS profile not found: {redact(str(exc))}")
    if isinstance(exc, ParamValidationError):
        return InvalidParameterValue(f"{where}: {redact(str(exc))}")
    if isinstance(exc, _NETWORK):
        detail = redact(str(exc)) or type(exc).__name__
        return BackendUnavailable(f"Cannot reach SQS at {endpoint} ({where}): {detail}")
    if isinstance(exc, BotoCoreError):
        return BackendError(f"{where} failed: {redact(str(exc))}")
    return BackendError(f"{where} failed: {type(exc).__name__}: {redact(str(exc))}")


#: error codes that map one to one onto a qworker error carrying SQS's text
_BY_CODE: tuple[tuple[str, type[QWorkerError]], ...] = (
    ("InvalidAttributeValue", InvalidAttributeValue),
    ("ReceiptHandleIsInvalid", ReceiptHandleIsInvalid),
    ("InvalidAttributeName", InvalidAttributeName),
)


def _client_error(exc: ClientError, where: str, operation: str, queue: str | None) -> QWorkerError:
    """The qworker error for an error answer of SQS."""
    codes = error_codes(exc)
    text = error_text(exc)
    if codes & QUEUE_MISSING:
        return QueueDoesNotExist(queue or "?")
    if codes & QUEUE_EXISTS:
        return QueueNameExists(f"A queue named {queue!r} already exists with different attributes ({text}).")
    if "PurgeQueueInProgress" in codes:  # an HTTP 403, like a refusal: checked first
        return PurgeQueueInProgress((queue or "?").rstrip("/").rsplit("/", 1)[-1])
    if codes & CREDENTIALS_REFUSED:
        return BackendUnavailable(
            f"{where}: AWS refused the credentials ({text}). Check the credential chain: "
            "AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, SSO login, or the "
            "instance/container role."
        )
    if codes & ACCESS_DENIED:
        return BackendUnavailable(
            f"{where}: access denied ({text}). The credentials work but their IAM policy does not "
            f"allow sqs:{operation} on this queue."
        )
    if "403" in codes:
        return BackendUnavailable(
            f"{where}: refused with HTTP 403 ({text}). The credentials were refused, or their IAM "
            f"policy does not allow sqs:{operation}."
        )
    for code, kind in _BY_CODE:
        if code in codes:
            return kind(f"{where}: {text}")
    if codes & INVALID_REQUEST:
        return InvalidParameterValue(f"{where}: {text}")
    if "UnsupportedOperation" in codes:
        return UnsupportedOperation(f"{where}: {text}")
    if is_transient(exc):
        return BackendUnavailable(f"{where} failed after retries: {text}")
    return BackendError(f"{where} failed: {text}")

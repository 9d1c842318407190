"""The Lambda Runtime API's vocabulary: paths, headers, limits, error types and answers.

Lambda documents the API (``/2018-06-01/runtime/...``); where the documentation is silent (status
codes for a wrong request id or a second response, the exact error bodies) qworker answers as
AWS's Runtime Interface Emulator does, so runtime clients written against Lambda or the RIE
behave the same here:

* ``202 {"status":"OK"}`` for an accepted response, error or init error;
* ``400 {"errorType":"InvalidRequestID"}`` for a request id that is not the current invocation's;
* ``403 {"errorType":"InvalidStateTransition"}`` for a call the runtime's state does not allow
  (a second response to one invocation, an init error after Init);
* ``413 {"errorType":"RequestEntityTooLarge"}`` for a response over the 6 MB quota; the
  invocation then fails with ``Function.ResponseSizeTooLarge``;
* ``404`` for paths this server does not implement (the Extensions and Telemetry APIs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from qworker.responses import MAX_RESPONSE_BYTES

#: the API version in every path; ``AWS_LAMBDA_RUNTIME_API`` is ``host:port`` without it
VERSION = "/2018-06-01"
NEXT_PATH = f"{VERSION}/runtime/invocation/next"
INVOCATION_PREFIX = f"{VERSION}/runtime/invocation/"
INIT_ERROR_PATH = f"{VERSION}/runtime/init/error"

#: the largest response body accepted (Lambda's synchronous response quota, the same number
#: qworker's response reader applies to in-process handlers)
MAX_RESPONSE = MAX_RESPONSE_BYTES
#: error bodies are kept up to this size (they become failure notes, which are bounded anyway)
MAX_ERROR_BODY = 1 << 20

H_REQUEST_ID = b"lambda-runtime-aws-request-id"
H_DEADLINE = b"lambda-runtime-deadline-ms"
H_FUNCTION_ARN = b"lambda-runtime-invoked-function-arn"
H_TRACE_ID = b"lambda-runtime-trace-id"
H_CLIENT_CONTEXT = b"lambda-runtime-client-context"  #: never sent for SQS invocations
H_COGNITO_IDENTITY = b"lambda-runtime-cognito-identity"  #: never sent for SQS invocations
H_ERROR_TYPE = b"lambda-runtime-function-error-type"

# -- error types, as Lambda reports them ---------------------------------------------------------
INIT_ERROR = "Runtime.InitError"
EXIT_ERROR = "Runtime.ExitError"
UNKNOWN_RUNTIME_ERROR = "Runtime.Unknown"
UNKNOWN_FUNCTION_ERROR = "Function.Unknown"
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"

_VALID_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def platform_error_type(header: str | None) -> str:
    """The ``Lambda-Runtime-Function-Error-Type`` header as Lambda's platform keeps it: a
    ``Runtime.X`` or ``Function.X`` name, anything else folded into ``Runtime.Unknown``."""
    if header and _VALID_ERROR_TYPE.search(header):
        return header
    if header and header.startswith("Function."):
        return UNKNOWN_FUNCTION_ERROR
    return UNKNOWN_RUNTIME_ERROR


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer of the API: a status and a small JSON body."""

    status: int
    body: bytes

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]

    @classmethod
    def of(cls, code: int, **fields: str) -> Answer:
        return cls(code, json.dumps(fields, separators=(",", ":")).encode())


ACCEPTED = Answer.of(202, status="OK")
INVALID_REQUEST_ID = Answer.of(400, errorMessage="Invalid request ID", errorType="InvalidRequestID")
TOO_LARGE = Answer.of(
    413,
    errorMessage=f"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
    errorType="RequestEntityTooLarge",
)
NOT_FOUND = Answer.of(
    404,
    errorMessage="qworker implements the Runtime API (/2018-06-01/runtime/...) only; the Extensions "
    "and Telemetry APIs are not available",
    errorType="NotFound",
)
METHOD_NOT_ALLOWED = Answer.of(405, errorMessage="Method not allowed", errorType="MethodNotAllowed")


def invalid_transition(state: str, target: str) -> Answer:
    """403, worded as the RIE words it."""
    return Answer.of(
        403,
        errorMessage=f"State transition from {state} to {target} failed for runtime. "
        "Error: State transition is not allowed",
        errorType="InvalidStateTransition",
    )


@dataclass(frozen=True, slots=True)
class ReportedError:
    """An error the runtime reported (``/error`` or ``/init/error``), ready for a failure note."""

    error_type: str
    message: str
    detail: str | None


def read_error(header: str | None, body: bytes) -> ReportedError:
    """The ``{errorMessage, errorType, stackTrace}`` body of an error post (Node sends ``trace``).

    The body's ``errorType`` is what a Lambda caller sees (``TypeError``, ``Runtime.ImportModuleError``);
    the header's type is the fallback when the body has none or is not JSON.
    """
    fallback = platform_error_type(header)
    try:
        data: Any = json.loads(body) if body else {}
    except ValueError:
        return ReportedError(fallback, body[:4096].decode("utf-8", "replace"), None)
    if not isinstance(data, dict):
        return ReportedError(fallback, json.dumps(data)[:4096], None)
    error_type = data.get("errorType")
    message = data.get("errorMessage")
    trace = data.get("stackTrace", data.get("trace"))
    if isinstance(trace, list):
        trace = "\n".join(str(line).rstrip("\n") for line in trace)
    return ReportedError(
        error_type if isinstance(error_type, str) and error_type else fallback,
        message if isinstance(message, str) else json.dumps(message),
        trace if isinstance(trace, str) and trace else None,
    )

"""The Lambda context object, and the environment variables Lambda's runtime sets.

Handlers written for Lambda read ``context.aws_request_id``, ``context.function_name``,
``context.get_remaining_time_in_millis()`` and friends, and libraries such as Powertools Logger
and Metrics read ``AWS_LAMBDA_*`` environment variables. :class:`LambdaContext` has every member of
the real Python runtime's context class (aws-lambda-python-runtime-interface-client,
``awslambdaric/lambda_context.py``; SPEC §3.2), with the same types: ``memory_limit_in_mb`` is a
``str`` there too, because the runtime copies it from an environment variable.

What is per worker and what is per invocation: a :class:`FunctionInfo` is made once when the
worker starts (name, memory, timeout, log stream, the environment); :meth:`FunctionInfo.context`
makes one cheap :class:`LambdaContext` per invocation, with a fresh request id and deadline.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qworker import arn
from qworker.version import __version__

#: ``function_version`` and ``AWS_LAMBDA_FUNCTION_VERSION`` of an unpublished function.
LATEST = "$LATEST"


def new_request_id() -> str:
    """A random UUID version 4 as text, like ``str(uuid.uuid4())`` in a third of the time
    (one per invocation: at a batch of one message, ``uuid4`` showed in the profile)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


#: RFC 4122 variant bits (10xx) for the 17th hex digit
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


class CognitoIdentity:
    """``context.identity``: always an object; both ids are ``None`` for SQS invocations."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, cognito_identity_id: str | None = None, cognito_identity_pool_id: str | None = None):
        self.cognito_identity_id = cognito_identity_id
        self.cognito_identity_pool_id = cognito_identity_pool_id

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class LambdaContext:
    """The ``context`` argument of a handler: the members of Lambda's Python context class.

    ``get_remaining_time_in_millis()`` counts down to a deadline on the monotonic clock, so a
    wall-clock jump cannot change it; it never goes below 0. Like the real class this one has no
    ``__slots__``: middleware that sets its own attributes on the context keeps working.
    """

    def __init__(
        self,
        *,
        function_name: str,
        memory_limit_in_mb: str,
        invoked_function_arn: str,
        log_group_name: str,
        log_stream_name: str,
        timeout: float,
        function_version: str = LATEST,
        aws_request_id: str | None = None,
        start: float | None = None,
        log_sink: Callable[[str], None] | None = None,
    ) -> None:
        """``timeout`` is the function timeout in seconds; the deadline is ``start + timeout``,
        where ``start`` is a :func:`time.monotonic` reading (default: now)."""
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id if aws_request_id is not None else new_request_id()
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.identity = CognitoIdentity()
        self.client_context: object | None = None  # mobile SDK invocations only; never for SQS
        self.tenant_id: str | None = None  # tenant-isolation mode only; never for SQS
        self._deadline = (time.monotonic() if start is None else start) + timeout
        self._log_sink = log_sink

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function timeout, 0 once it has passed."""
        remaining = int((self._deadline - time.monotonic()) * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self) -> dict[str, str]:
        """The W3C trace context (``traceparent``, ``tracestate``, ``baggage``) of the invoke.

        Lambda fills it only for invocations whose client context carries one, which SQS
        invocations never do: always ``{}`` (a new dict, as the runtime returns).
        """
        return {}

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to the function's log: one log line per call.

        In Lambda each call becomes one log event. qworker writes to the log sink the runtime
        gave (one call per message), else to stdout with a newline added when missing.
        """
        text = str(msg)
        if self._log_sink is not None:
            self._log_sink(text)
            return
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


def function_arn(function_name: str, region: str | None = None, account_id: str | None = None) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME`` (region and account from :mod:`qworker.arn`)."""
    return (
        f"arn:aws:lambda:{region or arn.region()}:{account_id or arn.account_id()}:function:{function_name}"
    )


def log_group_name(function_name: str) -> str:
    """``/aws/lambda/NAME``, the log group Lambda gives a function."""
    return f"/aws/lambda/{function_name}"


def new_log_stream_name(version: str = LATEST, now: datetime | None = None) -> str:
    """A log stream name as Lambda makes one per execution environment: ``YYYY/MM/DD/[$LATEST]hex``.

    The date is the UTC date the environment (here: the worker process) started; the suffix is
    32 random hex digits.
    """
    day = (now or datetime.now(UTC)).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def execution_env() -> str:
    """``AWS_EXECUTION_ENV``: names qworker and the Python version, e.g. ``qworker_0.1.0_python3.11``.

    Lambda sets ``AWS_Lambda_python3.12``. qworker does not copy that value: libraries that test
    for the ``AWS_Lambda_`` prefix would believe they run inside Lambda and expect its Runtime
    API and file system. botocore only appends the value to its user agent.
    """
    return f"qworker_{__version__}_python{sys.version_info.major}.{sys.version_info.minor}"


def lambda_environment(
    function_name: str,
    memory_mb: int,
    timeout: float,
    handler: str,
    region: str,
    *,
    log_stream_name: str | None = None,
    function_version: str = LATEST,
) -> dict[str, str]:
    """The environment variables Lambda's runtime sets once per execution environment.

    Set these in ``os.environ`` before the handler module is imported, so Powertools Logger
    (function name, memory size, cold start), Metrics and the AWS SDKs (region) behave as in
    Lambda. Pass the worker's :attr:`FunctionInfo.log_stream_name` so the variable matches
    ``context.log_stream_name``. Left out on purpose:

    * ``AWS_LAMBDA_FUNCTION_TIMEOUT``: the real runtime does not set it (it is not in Lambda's
      list of reserved variables; only the Runtime Interface Emulator uses it). Handlers get the
      time left from ``context.get_remaining_time_in_millis()``.
    * ``LAMBDA_TASK_ROOT`` and ``AWS_LAMBDA_RUNTIME_API``: libraries take them as proof that they
      run inside Lambda (Powertools Tracer turns X-Ray tracing on; Powertools' async batch
      processor changes how it runs its event loop).
    * ``_X_AMZN_TRACE_ID``: per invocation, not per environment: :mod:`qworker.tracing` gives each
      invocation its own, concurrent ones included.
    * ``TZ`` (``:UTC`` in Lambda): changing the time zone of the host process is not the
      runtime's business.
    * credentials: the standard AWS credential chain of the host applies.

    ``timeout`` is validated here (it is the context's deadline) but not exported.
    """
    _check_function(function_name, memory_mb, timeout)
    if not handler:
        raise ValueError("handler must be a non-empty 'module:function' string")
    if not region:
        raise ValueError("region must be a non-empty AWS region name")
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": function_version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name(function_name),
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name or new_log_stream_name(function_version),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": execution_env(),
        "_HANDLER": handler,
    }


def _check_function(function_name: str, memory_mb: int, timeout: float) -> None:
    if not function_name:
        raise ValueError("function name must be a non-empty string")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb <= 0:
        raise ValueError(f"memory must be a positive whole number of MB, got {memory_mb!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if timeout == float("inf"):
        raise ValueError("timeout must be finite")


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """The function as the worker presents it: made once at start, shared by every invocation.

    Region and account default to :mod:`qworker.arn` (``AWS_REGION``, ``QWORKER_ACCOUNT_ID``).
    """

    name: str
    memory_mb: int = 128
    timeout: float = 3.0  #: seconds; each invocation's deadline is its start plus this
    region: str = field(default_factory=arn.region)
    account_id: str = field(default_factory=arn.account_id)
    version: str = LATEST
    log_stream_name: str = ""  #: made by :func:`new_log_stream_name` when left empty
    #: ``arn:aws:lambda:REGION:ACCOUNT:function:NAME``: ``context.invoked_function_arn``
    arn: str = field(init=False)
    log_group_name: str = field(init=False)  #: ``/aws/lambda/NAME``
    _memory_text: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_function(self.name, self.memory_mb, self.timeout)
        if not self.log_stream_name:
            object.__setattr__(self, "log_stream_name", new_log_stream_name(self.version))
        object.__setattr__(self, "arn", function_arn(self.name, self.region, self.account_id))
        object.__setattr__(self, "log_group_name", log_group_name(self.name))
        object.__setattr__(self, "_memory_text", str(self.memory_mb))

    def environment(self, handler: str) -> dict[str, str]:
        """:func:`lambda_environment` for this function, with the same log stream as its contexts."""
        return lambda_environment(
            self.name,
            self.memory_mb,
            self.timeout,
            handler,
            self.region,
            log_stream_name=self.log_stream_name,
            function_version=self.version,
        )

    def apply_environment(self, handler: str, environ: dict[str, str] | None = None) -> dict[str, str]:
        """Set :meth:`environment` in ``environ`` (default ``os.environ``); returns what was set."""
        values = self.environment(handler)
        (os.environ if environ is None else environ).update(values)
        return values

    def context(
        self, *, start: float | None = None, log_sink: Callable[[str], None] | None = None
    ) -> LambdaContext:
        """A new context for one invocation: a fresh ``aws_request_id``, deadline ``start + timeout``."""
        return LambdaContext(
            function_name=self.name,
            function_version=self.version,
            memory_limit_in_mb=self._memory_text,
            invoked_function_arn=self.arn,
            log_group_name=self.log_group_name,
            log_stream_name=self.log_stream_name,
            timeout=self.timeout,
            start=start,
            log_sink=log_sink,
        )

"""The qworker exception hierarchy and the process exit codes it maps to.

Every error a user can meet derives from :class:`QWorkerError`. Errors that mirror an SQS error
carry the SQS error code in ``code`` (``QueueDoesNotExist``, ``InvalidParameterValue``, ...), so a
program written against SQS can recognise them whatever the backend.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``qworker`` command (DESIGN.md, "Command line")."""

    OK = 0  #: the command did what was asked
    RUNTIME_FAILURE = 1  #: the command started but failed while running
    USAGE = 2  #: bad arguments, bad input or a bad configuration
    BACKEND_UNREACHABLE = 3  #: the backend could not be reached (or refused our credentials)
    HANDLER_IMPORT = 4  #: the handler could not be imported


class QWorkerError(Exception):
    """Base class of every qworker error."""

    #: SQS-style error code, when the error mirrors one.
    code: str = "QWorkerError"
    #: the exit code the CLI uses when this error ends a command.
    exit_code: ExitCode = ExitCode.RUNTIME_FAILURE


class ConfigError(QWorkerError):
    """A configuration value is invalid. The message says which value and why."""

    code = "InvalidParameterValue"
    exit_code = ExitCode.USAGE


class InvalidParameterValue(ConfigError):
    """A request parameter is outside what SQS accepts (SQS ``InvalidParameterValue``)."""


class InvalidAttributeValue(InvalidParameterValue):
    """A queue attribute's value is outside what SQS accepts (SQS ``InvalidAttributeValue``, the
    code of CreateQueue and SetQueueAttributes). A subclass of :class:`InvalidParameterValue`, so
    code that catches that catches this too."""

    code = "InvalidAttributeValue"


class InvalidAttributeName(ConfigError):
    """A queue or message attribute name is unknown or malformed (SQS ``InvalidAttributeName``)."""

    code = "InvalidAttributeName"


class InvalidMessageContents(InvalidParameterValue):
    """A message body SQS cannot carry (SQS ``InvalidMessageContents``): for example bytes that
    are not UTF-8 given to :class:`qworker.Client` (SQS bodies are text)."""

    code = "InvalidMessageContents"


class MissingBackendError(ConfigError):
    """A backend URL names a scheme for which no backend is installed."""

    code = "MissingBackend"


class BackendError(QWorkerError):
    """The backend failed to do what was asked."""

    code = "BackendError"


class BackendUnavailable(BackendError):
    """The backend cannot be reached: the server is down, the network failed, or credentials were
    refused. Transient: the runtime retries with back-off; at start-up the CLI exits with 3."""

    code = "ServiceUnavailable"
    exit_code = ExitCode.BACKEND_UNREACHABLE


class QueueDoesNotExist(BackendError):
    """The named queue does not exist (SQS ``AWS.SimpleQueueService.NonExistentQueue``)."""

    code = "QueueDoesNotExist"
    exit_code = ExitCode.USAGE

    def __init__(self, queue: str) -> None:
        super().__init__(f"The specified queue does not exist: {queue!r}")
        self.queue = queue


class QueueNameExists(BackendError):
    """A queue of that name exists with different attributes (SQS ``QueueAlreadyExists``)."""

    code = "QueueAlreadyExists"
    exit_code = ExitCode.USAGE


class PurgeQueueInProgress(BackendError):
    """The queue was purged less than 60 seconds ago (SQS ``PurgeQueueInProgress``): SQS allows one
    PurgeQueue per queue every 60 seconds, and so does every qworker backend (the time of the last
    purge is stored with the queue, so every process sees it). ``retry_after`` is the number of
    seconds until the next purge is allowed."""

    code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    exit_code = ExitCode.USAGE

    def __init__(self, queue: str, retry_after: float | None = None) -> None:
        super().__init__(f"Only one PurgeQueue operation on {queue} is allowed every 60 seconds.")
        self.queue = queue
        self.retry_after = retry_after


class ReceiptHandleIsInvalid(BackendError):
    """A receipt handle is malformed or belongs to another queue (SQS ``ReceiptHandleIsInvalid``)."""

    code = "ReceiptHandleIsInvalid"
    exit_code = ExitCode.USAGE


class UnsupportedOperation(BackendError):
    """The backend cannot do this operation (for example ``peek`` on Amazon SQS)."""

    code = "UnsupportedOperation"
    exit_code = ExitCode.USAGE


class SendFailed(BackendError):
    """The backend refused one message of a send (an entry failure of SQS ``SendMessageBatch``).

    Raised by ``qworker.Client.send``; ``send_batch`` returns such failures instead. ``code`` is
    the entry's SQS code (``InvalidParameterValue``, ``MissingParameter``,
    ``InvalidMessageContents``, ...), ``sender_fault`` False when a retry may succeed.
    """

    def __init__(self, queue: str, code: str, message: str, *, sender_fault: bool = True) -> None:
        super().__init__(f"{code}: {message} (queue {queue})")
        self.queue = queue
        self.code = code
        self.sender_fault = sender_fault


class HandlerImportError(QWorkerError):
    """The ``module:attr`` handler could not be imported."""

    code = "HandlerImportError"
    exit_code = ExitCode.HANDLER_IMPORT

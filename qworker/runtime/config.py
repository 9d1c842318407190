"""The settings of one event source mapping and its function, validated as Lambda validates them.

A :class:`MappingConfig` is what ``CreateEventSourceMapping`` plus the function's configuration
would say on AWS: the queue, ``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``FunctionResponseTypes``, ``FilterCriteria``, ``ScalingConfig.MaximumConcurrency``; the function's
handler, timeout and memory. Options that go beyond Lambda are grouped at the end and named as
such. Validation errors carry AWS's own texts (SPEC ESM-CFG-*), so an invalid SAM template fails
here exactly as it would fail on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qworker.errors import ConfigError
from qworker.runtime.runtime_api import runtimes
from qworker.settings import schema
from qworker.settings.schema import DEFAULT_MAX_CONCURRENCY

MAX_FIFO_BATCH_SIZE = 10  #: ESM-CFG-1, ESM-FIFO-1
#: ESM-B-4: the synchronous-invocation payload limit the batch is cut at (6 MB)
MAX_PAYLOAD_BYTES = 6_291_456

#: AWS's text for ESM-CFG-2
_BATCH_WINDOW_NEEDED = (
    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
)

Isolation = Literal["thread", "process", "runtime-api"]
ScalingMode = Literal["fast", "aws"]
FilterAction = Literal["delete", "skip"]


class InvalidMappingConfig(ConfigError):
    """An event source mapping setting Lambda would refuse (``InvalidParameterValueException``)."""


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """Beyond Lambda: after a failure, hide the message for ``base * 2**(receives-1)`` seconds
    (capped at ``maximum``) instead of the rest of its visibility timeout."""

    base: float = 1.0
    maximum: float = 900.0

    def delay_for(self, receive_count: int) -> float:
        return min(self.maximum, self.base * (2 ** max(0, receive_count - 1)))


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """One function attached to one queue, with Lambda's settings and qworker's extensions."""

    handler: str  #: ``module:attr`` (Lambda's ``module.attr`` is accepted too)
    queue: str
    # -- the event source mapping (Lambda's names) --
    batch_size: int = 10  #: BatchSize
    batch_window: int = 0  #: MaximumBatchingWindowInSeconds
    max_concurrency: int | None = None  #: ScalingConfig.MaximumConcurrency (None = qworker default)
    report_batch_item_failures: bool = False  #: FunctionResponseTypes: [ReportBatchItemFailures]
    filters: tuple[str, ...] = ()  #: FilterCriteria.Filters[].Pattern
    enabled: bool = True
    # -- the function --
    timeout: float = 3.0  #: seconds (Lambda's default is 3)
    memory: int = 128  #: MB; only reported in the context, qworker does not enforce it
    function_name: str | None = None
    # -- beyond Lambda (each named and documented as a qworker option) --
    isolation: Isolation = "thread"  #: run sync handlers in threads or in killable processes
    heartbeat: float | None = None  #: extend visibility every N seconds while a batch runs
    retry_backoff: RetryBackoff | None = None  #: exponential redelivery instead of the full timeout
    fifo_strict: bool = False  #: ESM-FIFO-5 enforced: after a failure, the rest of its group fails
    scaling: ScalingMode = "fast"  #: "aws" mimics Lambda's ramp (ESM-S-1); "fast" for self-hosting
    filter_action: FilterAction = "delete"  #: "skip" leaves non-matching records for other consumers
    max_filters: int = 5  #: Lambda's default quota; AWS raises it to 10 on request
    filter_extensions: bool = False  #: wildcard, cidr, anything-but prefix/suffix (not on Lambda)
    environment: dict[str, str] = field(default_factory=dict)  #: extra env vars for the handler
    # -- functions run through the Lambda Runtime API (qworker.runtime.runtime_api) --
    runtime: str | None = None  #: Lambda's ``Runtime`` (``nodejs20.x``, ``provided.al2023``, ...)
    runtime_command: str | None = None  #: a command that speaks the Runtime API (``./bootstrap``)
    code_dir: str | None = None  #: the function's code (``LAMBDA_TASK_ROOT``; SAM: ``CodeUri``)

    @property
    def name(self) -> str:
        """The function name: given, or derived from the handler's module (``app:handler`` -> ``app``)."""
        if self.function_name:
            return self.function_name
        if not self.handler and self.runtime_command:  # --runtime-command ./bootstrap -> "bootstrap"
            return runtimes.command_name(self.runtime_command)
        return self.handler.replace(":", "-").replace(".", "-")

    @property
    def uses_runtime_api(self) -> bool:
        """True when the function runs as a process speaking the Lambda Runtime API."""
        return runtimes.uses_runtime_api(self.runtime, self.runtime_command, self.isolation)

    @property
    def concurrency_limit(self) -> int:
        return self.max_concurrency if self.max_concurrency is not None else DEFAULT_MAX_CONCURRENCY

    def validate(self, *, fifo: bool, queue_visibility_timeout: float | None = None) -> None:
        """Raise :class:`InvalidMappingConfig` where Lambda would refuse the mapping.

        ``fifo`` and ``queue_visibility_timeout`` come from the queue itself (ESM-CFG-1, -4).
        """
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise InvalidMappingConfig(f"BatchSize must be a whole number, not {self.batch_size!r}.")
        if isinstance(self.batch_window, bool) or not isinstance(self.batch_window, int):
            raise InvalidMappingConfig(
                "MaximumBatchingWindowInSeconds must be a whole number of seconds, "
                f"not {self.batch_window!r}."
            )
        for setting in schema.MAPPING:  # ranges, with AWS's wording where Lambda checks them
            problem = setting.out_of_range(getattr(self, setting.config_field, None))
            if problem is not None:
                raise InvalidMappingConfig(problem)
        if fifo:
            if self.batch_size > MAX_FIFO_BATCH_SIZE:
                raise InvalidMappingConfig(
                    f"Batch size must not exceed {MAX_FIFO_BATCH_SIZE} for FIFO queues (BatchSize is "
                    f"{self.batch_size}; ESM-FIFO-1)."
                )
            if self.batch_window > 0:
                raise InvalidMappingConfig("Batching window is not supported for FIFO queues")
        elif self.batch_size > 10 and self.batch_window == 0:
            raise InvalidMappingConfig(_BATCH_WINDOW_NEEDED)
        if self.heartbeat is not None and queue_visibility_timeout is not None:
            lease = self.effective_visibility_timeout(queue_visibility_timeout) or queue_visibility_timeout
            if self.heartbeat > lease / 2:
                raise InvalidMappingConfig(
                    f"The visibility heartbeat ({_secs(self.heartbeat)} s) must be at most half the "
                    f"visibility timeout ({_secs(lease)} s): one late or failed beat must not let running "
                    f"messages reappear. Use --visibility-heartbeat {_secs(lease / 2)} or less."
                )
        elif queue_visibility_timeout is not None and queue_visibility_timeout < self.timeout:
            # ESM-CFG-4. With a heartbeat the lease is renewed while the handler runs, so a
            # visibility timeout shorter than the function timeout is safe (and recovers faster).
            raise InvalidMappingConfig(
                f"Queue visibility timeout: {_secs(queue_visibility_timeout)} seconds is less than Function "
                f"timeout: {_secs(self.timeout)} seconds"
            )
        if self.isolation not in ("thread", "process", "runtime-api"):
            raise InvalidMappingConfig(
                f"isolation must be 'thread', 'process' or 'runtime-api', not {self.isolation!r}."
            )
        problem = runtimes.problem(self.runtime, self.runtime_command, self.isolation, self.handler)
        if problem is not None:
            raise InvalidMappingConfig(problem)
        if self.scaling not in ("fast", "aws"):
            raise InvalidMappingConfig(f"scaling must be 'fast' or 'aws', not {self.scaling!r}.")
        if self.filter_action not in ("delete", "skip"):
            raise InvalidMappingConfig(
                f"filter action must be 'delete' or 'skip', not {self.filter_action!r}."
            )
        if self.fifo_strict and not fifo:
            raise InvalidMappingConfig("--fifo-strict applies to FIFO queues only (names ending in .fifo).")

    def effective_visibility_timeout(self, queue_visibility_timeout: float) -> float | None:
        """ESM-F-4: the visibility timeout to receive with, when Lambda's rule raises it.

        "If your batch window is greater than 0, and (batch window) + (function timeout) > (queue
        visibility timeout), then your effective queue visibility timeout is (batch window) +
        (function timeout) + 30s." ``None`` means the queue's own timeout applies.
        """
        if self.batch_window > 0 and self.batch_window + self.timeout > queue_visibility_timeout:
            return self.batch_window + self.timeout + 30
        return None


def _secs(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

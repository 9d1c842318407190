"""Every setting of ``qworker run``, declared once.

One :class:`Setting` says everything about an option: its key (the vocabulary of the command
line with ``_`` for ``-``, of ``QWORKER_<KEY>`` environment variables, of ``qworker.toml`` and of
``qworker check``'s report), its type, default, range (with the member name AWS's validation
message uses), the Lambda or SAM field it stands for, whether it goes beyond Lambda, and its
help. From this table :mod:`qworker.settings.cli` makes the click options,
:mod:`qworker.settings.values` checks file values, :mod:`qworker.settings.layers` combines the
sources, and :mod:`qworker.settings.report` prints ``qworker check``'s report.

Scopes: ``mapping`` settings belong to one function and its event source mapping; ``worker``
settings to the process; ``source`` settings say where functions come from (a config file, a SAM
template, which functions) and are not part of either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["mapping", "worker", "source"]
Kind = Literal["int", "float", "bool", "text", "choice", "patterns", "variables", "backoff"]

DEFAULT_MAX_CONCURRENCY = 10
DEFAULT_GRACEFUL_TIMEOUT = 25.0  #: below Kubernetes' default 30 s termination grace period
MAX_BATCH_SIZE = 10_000  #: ESM-CFG-1
MAX_BATCH_WINDOW = 300  #: ESM-CFG-3
MIN_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY = 2, 1_000  #: ESM-CFG-7
MAX_FUNCTION_TIMEOUT = 900  #: Lambda's 15-minute limit
MIN_MEMORY, MAX_MEMORY = 128, 10_240  #: Lambda's memory range (MB)


@dataclass(frozen=True, slots=True)
class Setting:
    """One option of ``qworker run`` (and ``qworker check``, which takes the same)."""

    key: str
    scope: Scope
    kind: Kind
    help: str
    default: Any = None
    #: the Lambda/SAM field it stands for (``BatchSize``), shown in the help and the README
    lambda_name: str | None = None
    #: goes beyond Lambda: the help says so with a ``[qworker]`` prefix
    beyond_lambda: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: the lower bound is exclusive (a timeout must be more than 0)
    exclusive_minimum: bool = False
    #: the member name in AWS's validation message (``batchSize``); None: qworker's own wording
    aws_member: str | None = None
    multiple: bool = False
    #: names one function (handler, queue, function name): with several functions selected, the
    #: command line may set it only when exactly one is selected
    identity: bool = False
    metavar: str | None = None
    #: the :class:`~qworker.runtime.config.MappingConfig` field, when it differs from ``key``
    field: str | None = None
    #: on the command line (False: only in a config file or template)
    on_command_line: bool = True
    #: in a config file (False: command line and environment only)
    in_file: bool = True
    #: the command line takes it as a positional argument (the handler)
    argument: bool = False
    #: the command-line flag when it is not ``--`` + the key (``--filter`` for ``filters``)
    option: str | None = None

    @property
    def envvar(self) -> str:
        """``QWORKER_BATCH_SIZE`` for ``--batch-size``."""
        return "QWORKER_" + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def flag(self) -> str:
        """``--batch-size`` for ``batch_size``."""
        return self.option or "--" + self.key.replace("_", "-")

    @property
    def config_field(self) -> str:
        return self.field or self.key

    def out_of_range(self, value: Any) -> str | None:
        """Why ``value`` is outside the setting's range (AWS's wording where AWS checks it), or None."""
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        low, high = self.minimum, self.maximum
        too_low = low is not None and (value <= low if self.exclusive_minimum else value < low)
        too_high = high is not None and value > high
        if not (too_low or too_high):
            return None
        if self.aws_member is not None:
            bound = (
                f"greater than or equal to {_text(low)}"
                if too_low
                else f"less than or equal to {_text(high)}"
            )
            return (
                f"1 validation error detected: Value '{_text(value)}' at '{self.aws_member}' failed to "
                f"satisfy constraint: Member must have value {bound}"
            )
        above = "more than" if self.exclusive_minimum else "at least"
        parts = [
            f"{above} {_text(low)}" if low is not None else "",
            f"at most {_text(high)}" if high is not None else "",
        ]
        return f"{self.flag} must be {' and '.join(p for p in parts if p)}, not {_text(value)}."


def _text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _s(key: str, scope: Scope, kind: Kind, help: str, **more: Any) -> Setting:
    return Setting(key, scope, kind, help, **more)


SETTINGS: tuple[Setting, ...] = (
    # -- what to run and where from -----------------------------------------------------------
    _s(
        "handler",
        "mapping",
        "text",
        "MODULE:HANDLER to run (Lambda's Handler).",
        lambda_name="Handler",
        identity=True,
        argument=True,
    ),
    _s(
        "queue",
        "mapping",
        "text",
        "The queue to consume (with a config file or template: overrides the one selected function's).",
        identity=True,
        lambda_name="EventSourceArn",
    ),
    _s("backend", "worker", "text", "Backend URL: sqlite:///qworker.db, redis://..., sqs://", metavar="URL"),
    _s(
        "config",
        "source",
        "text",
        "qworker.toml or pyproject.toml ([tool.qworker]) declaring functions and their queues. "
        "Default: ./qworker.toml or ./pyproject.toml's [tool.qworker] when no HANDLER is given.",
        metavar="FILE",
        in_file=False,
    ),
    _s(
        "template",
        "source",
        "text",
        "AWS SAM template: run its functions' SQS events with their settings.",
        metavar="FILE",
    ),
    _s(
        "function",
        "source",
        "text",
        "Run only this function of the config file or template (repeatable; SAM: the logical id).",
        metavar="NAME",
        multiple=True,
        in_file=False,
    ),
    _s(
        "template_parameter",
        "source",
        "variables",
        "Value of a template parameter (repeatable; default: its Default). "
        "Also AWS::StackName, AWS::Region, AWS::AccountId. In a config file: template_parameters.",
        metavar="NAME=VALUE",
        multiple=True,
        in_file=False,
    ),
    _s(
        "template_parameters",
        "source",
        "variables",
        "Template parameter values (config file only).",
        on_command_line=False,
    ),
    _s(
        "create_queues",
        "source",
        "bool",
        "Create the queues the config file or template declares (dead-letter queues first) before "
        "starting; existing queues must have the same attributes.",
        default=False,
        in_file=False,
    ),
    # -- the event source mapping (Lambda's names) --------------------------------------------
    _s(
        "batch_size",
        "mapping",
        "int",
        "BatchSize: records per invocation, 1-10000 (FIFO: at most 10).",
        default=10,
        lambda_name="BatchSize",
        minimum=1,
        maximum=MAX_BATCH_SIZE,
        aws_member="batchSize",
    ),
    _s(
        "batch_window",
        "mapping",
        "int",
        "MaximumBatchingWindowInSeconds, 0-300: gather records this long before invoking (honoured "
        "exactly). Needed (>= 1) for "
        "--batch-size over 10.",
        default=0,
        lambda_name="MaximumBatchingWindowInSeconds",
        minimum=0,
        maximum=MAX_BATCH_WINDOW,
        aws_member="maximumBatchingWindowInSeconds",
    ),
    _s(
        "max_concurrency",
        "mapping",
        "int",
        f"ScalingConfig.MaximumConcurrency, 2-1000: concurrent invocations at most (default "
        f"{DEFAULT_MAX_CONCURRENCY}).",
        lambda_name="ScalingConfig.MaximumConcurrency",
        minimum=MIN_MAX_CONCURRENCY,
        maximum=MAX_MAX_CONCURRENCY,
        aws_member="scalingConfig.maximumConcurrency",
    ),
    _s(
        "report_batch_item_failures",
        "mapping",
        "bool",
        "FunctionResponseTypes ReportBatchItemFailures: read the handler's batchItemFailures.",
        default=False,
        lambda_name="FunctionResponseTypes: [ReportBatchItemFailures]",
    ),
    _s(
        "filters",
        "mapping",
        "patterns",
        "FilterCriteria pattern (JSON, EventBridge syntax); repeat for up to 5, ORed.",
        multiple=True,
        metavar="PATTERN",
        option="--filter",
        lambda_name="FilterCriteria.Filters[].Pattern",
    ),
    _s(
        "enabled",
        "mapping",
        "bool",
        "Run this mapping (config file and template only).",
        default=True,
        lambda_name="Enabled",
        on_command_line=False,
    ),
    # -- the function --------------------------------------------------------------------------
    _s(
        "timeout",
        "mapping",
        "float",
        "Function timeout in seconds; an invocation running longer fails.",
        default=3.0,
        lambda_name="Timeout",
        minimum=0,
        maximum=MAX_FUNCTION_TIMEOUT,
        exclusive_minimum=True,
    ),
    _s(
        "memory",
        "mapping",
        "int",
        "Function memory in MB, shown in the context (not enforced).",
        default=128,
        lambda_name="MemorySize",
        minimum=MIN_MEMORY,
        maximum=MAX_MEMORY,
        aws_member="memorySize",
    ),
    _s(
        "function_name",
        "mapping",
        "text",
        "Function name in the context and logs (default: from the handler).",
        identity=True,
        lambda_name="FunctionName",
    ),
    _s(
        "environment",
        "mapping",
        "variables",
        "Environment variables of the function (config file, template).",
        lambda_name="Environment.Variables",
        on_command_line=False,
    ),
    # -- the process ---------------------------------------------------------------------------
    _s(
        "until_empty",
        "worker",
        "bool",
        "Exit 0 once the queue is empty and nothing is in flight (batch jobs, tests).",
        default=False,
        in_file=False,
    ),
    _s(
        "log_format",
        "worker",
        "choice",
        "JSON lines, or readable lines; auto = console on a terminal, JSON otherwise.",
        default="auto",
        choices=("auto", "json", "console"),
    ),
    _s(
        "log_level",
        "worker",
        "choice",
        "Lowest level logged.",
        default="info",
        choices=("debug", "info", "warning", "error"),
    ),
    _s(
        "metrics_port",
        "worker",
        "int",
        "Serve /metrics (Prometheus), /livez and /readyz on PORT (default: no HTTP server).",
        metavar="PORT",
        minimum=0,
        maximum=65535,
    ),
    _s(
        "metrics_host",
        "worker",
        "text",
        "Address the metrics server binds (0.0.0.0 in a container, for probes and scrapes).",
        default="127.0.0.1",
        metavar="ADDRESS",
    ),
    # -- beyond Lambda -------------------------------------------------------------------------
    _s(
        "isolation",
        "mapping",
        "choice",
        "Run sync handlers in threads, in processes that a timeout kills, or (runtime-api) in AWS's "
        "awslambdaric through the Lambda Runtime API.",
        default="thread",
        choices=("thread", "process", "runtime-api"),
        beyond_lambda=True,
    ),
    _s(
        "runtime_command",
        "mapping",
        "text",
        "Run the function as CMD, a program that speaks the Lambda Runtime API (./bootstrap, a "
        "Go/Rust/Node runtime), one process per concurrency slot, from the current directory; HANDLER "
        "is then optional (passed as _HANDLER).",
        metavar="CMD",
    ),
    _s(
        "runtime",
        "mapping",
        "text",
        "Lambda's Runtime (nodejs20.x, provided.al2023, python3.12, ...): config file and template.",
        lambda_name="Runtime",
        on_command_line=False,
    ),
    _s(
        "code_dir",
        "mapping",
        "text",
        "The function's code directory (LAMBDA_TASK_ROOT; SAM: CodeUri): config file and template.",
        lambda_name="CodeUri",
        on_command_line=False,
    ),
    _s(
        "visibility_heartbeat",
        "mapping",
        "float",
        "Extend running messages' visibility every SECONDS (Lambda never does); at most half the "
        "visibility timeout.",
        metavar="SECONDS",
        field="heartbeat",
        beyond_lambda=True,
        minimum=0,
        exclusive_minimum=True,
    ),
    _s(
        "retry_backoff",
        "mapping",
        "backoff",
        "Retry failed messages after BASE*2^(receives-1) seconds (capped at MAX) instead of the full "
        "visibility timeout.",
        metavar="BASE[:MAX]",
        beyond_lambda=True,
    ),
    _s(
        "fifo_strict",
        "mapping",
        "bool",
        "FIFO: keep every message after a failed one of the same group (ESM-FIFO-5).",
        default=False,
        beyond_lambda=True,
    ),
    _s(
        "scaling",
        "mapping",
        "choice",
        "Concurrency ramp: 'aws' = Lambda's (+5 per second); 'fast' doubles.",
        default="fast",
        choices=("fast", "aws"),
        beyond_lambda=True,
    ),
    _s(
        "filter_action",
        "mapping",
        "choice",
        "What to do with records no filter matches: delete them (Lambda) or leave them in the queue "
        "for another consumer.",
        default="delete",
        choices=("delete", "skip"),
        beyond_lambda=True,
    ),
    _s(
        "max_filters",
        "mapping",
        "int",
        "Filter patterns allowed (Lambda's quota: 5 by default, 10 at most).",
        default=5,
        minimum=1,
        maximum=10,
    ),
    _s(
        "filter_extensions",
        "mapping",
        "bool",
        "Accept EventBridge operators Lambda refuses for SQS (wildcard, cidr, anything-but "
        "prefix/suffix/equals-ignore-case): not portable to Lambda.",
        default=False,
        beyond_lambda=True,
    ),
    _s(
        "pollers",
        "worker",
        "int",
        "Concurrent receive loops, each building its own batches.",
        default=1,
        minimum=1,
        beyond_lambda=True,
    ),
    _s(
        "graceful_timeout",
        "worker",
        "float",
        "Seconds to let running batches finish after SIGTERM.",
        default=DEFAULT_GRACEFUL_TIMEOUT,
        minimum=0,
        beyond_lambda=True,
    ),
    _s(
        "app_dir",
        "worker",
        "text",
        "Directory put first on sys.path to import the handler (template: the CodeUri; config file: "
        "the file's directory).",
        default=".",
    ),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
MAPPING: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.scope == "mapping")
WORKER: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.scope == "worker")
#: settings that name one function: from the command line they apply to a single selected function
IDENTITY: tuple[str, ...] = tuple(s.key for s in SETTINGS if s.identity)

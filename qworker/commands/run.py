"""``qworker run``: the worker, for one mapping from options or many from a config file or template.

Three ways to say what to run:

* ``qworker run MODULE:HANDLER --queue NAME [options]``: one mapping, all from the command line;
* ``qworker run --config qworker.toml`` (or ``[tool.qworker]`` in ``pyproject.toml``; found in the
  current directory when nothing else is given): every function the file declares;
* ``qworker run --template template.yaml [--function NAME ...]``: the SQS-triggered functions of
  an AWS SAM template (:mod:`qworker.sam`).

Mapping options are named after Lambda's fields (``--batch-size`` is ``BatchSize``, ...). Every
option also comes from an environment variable ``QWORKER_<OPTION>`` (``QWORKER_BATCH_SIZE``,
``QWORKER_QUEUE``, ``QWORKER_CONFIG``, ...), and the handler from ``QWORKER_HANDLER``. Options that
go beyond Lambda say so in their help. Precedence: command line > environment > config file >
template > defaults; with several functions, a mapping option given on the command line or in the
environment applies to every selected function (:mod:`qworker.config_file` has the rules).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from qworker.commands.common import ENV_QUEUE, backend_option
from qworker.config_file import CLI, DEFAULT, Effective, Given, resolve
from qworker.errors import ExitCode
from qworker.runtime.worker import DEFAULT_GRACEFUL_TIMEOUT, run_worker

F = TypeVar("F", bound=Callable[..., Any])

#: click parameter name -> the settings vocabulary of qworker.config_file
_SETTING_NAMES = {"backend_url": "backend"}


def _env(name: str) -> str:
    return f"QWORKER_{name}"


_OPTIONS: list[Callable[[Any], Any]] = [
    click.argument("handler", envvar=_env("HANDLER"), required=False),
    click.option(
        "--queue",
        envvar=ENV_QUEUE,
        show_envvar=True,
        help="The queue to consume (with a config file or template: overrides the one selected function's).",
    ),
    backend_option,
    # -- configuration sources --
    click.option(
        "--config",
        "config",
        envvar=_env("CONFIG"),
        show_envvar=True,
        metavar="FILE",
        help="qworker.toml or pyproject.toml ([tool.qworker]) declaring functions and their queues. "
        "Default: ./qworker.toml or ./pyproject.toml's [tool.qworker] when no HANDLER is given.",
    ),
    click.option(
        "--template",
        "template",
        envvar=_env("TEMPLATE"),
        show_envvar=True,
        metavar="FILE",
        help="AWS SAM template: run its functions' SQS events with their settings.",
    ),
    click.option(
        "--function",
        "function",
        multiple=True,
        envvar=_env("FUNCTION"),
        show_envvar=True,
        metavar="NAME",
        help="Run only this function of the config file or template (repeatable; SAM: the logical id).",
    ),
    click.option(
        "--template-parameter",
        "template_parameter",
        multiple=True,
        envvar=_env("TEMPLATE_PARAMETER"),
        show_envvar=True,
        metavar="NAME=VALUE",
        help="Value of a template parameter (repeatable; default: its Default). "
        "Also AWS::StackName, AWS::Region, AWS::AccountId.",
    ),
    click.option(
        "--create-queues",
        is_flag=True,
        envvar=_env("CREATE_QUEUES"),
        show_envvar=True,
        help="Create the queues the config file or template declares (dead-letter queues first) "
        "before starting; existing queues must have the same attributes.",
    ),
    # -- the event source mapping (Lambda's names) --
    click.option(
        "--batch-size",
        type=int,
        default=10,
        show_default=True,
        envvar=_env("BATCH_SIZE"),
        show_envvar=True,
        help="BatchSize: records per invocation, 1-10000 (FIFO: at most 10).",
    ),
    click.option(
        "--batch-window",
        type=int,
        default=0,
        show_default=True,
        envvar=_env("BATCH_WINDOW"),
        show_envvar=True,
        help="MaximumBatchingWindowInSeconds, 0-300: gather records this long before invoking "
        "(honoured exactly). Needed (>= 1) for --batch-size over 10.",
    ),
    click.option(
        "--max-concurrency",
        type=int,
        default=None,
        envvar=_env("MAX_CONCURRENCY"),
        show_envvar=True,
        help="ScalingConfig.MaximumConcurrency, 2-1000: concurrent invocations at most (default 10).",
    ),
    click.option(
        "--report-batch-item-failures",
        is_flag=True,
        envvar=_env("REPORT_BATCH_ITEM_FAILURES"),
        show_envvar=True,
        help="FunctionResponseTypes ReportBatchItemFailures: read the handler's batchItemFailures.",
    ),
    click.option(
        "--filter",
        "filters",
        multiple=True,
        envvar=_env("FILTER"),
        show_envvar=True,
        metavar="PATTERN",
        help="FilterCriteria pattern (JSON, EventBridge syntax); repeat for up to 5, ORed.",
    ),
    click.option(
        "--timeout",
        type=float,
        default=3.0,
        show_default=True,
        envvar=_env("TIMEOUT"),
        show_envvar=True,
        help="Function timeout in seconds; an invocation running longer fails.",
    ),
    click.option(
        "--memory",
        type=int,
        default=128,
        show_default=True,
        envvar=_env("MEMORY"),
        show_envvar=True,
        help="Function memory in MB, shown in the context (not enforced).",
    ),
    click.option(
        "--function-name",
        envvar=_env("FUNCTION_NAME"),
        show_envvar=True,
        help="Function name in the context and logs (default: from the handler).",
    ),
    # -- the process --
    click.option(
        "--until-empty",
        is_flag=True,
        envvar=_env("UNTIL_EMPTY"),
        show_envvar=True,
        help="Exit 0 once the queue is empty and nothing is in flight (batch jobs, tests).",
    ),
    click.option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default="auto",
        show_default=True,
        envvar=_env("LOG_FORMAT"),
        show_envvar=True,
        help="JSON lines, or readable lines; auto = console on a terminal, JSON otherwise.",
    ),
    click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default="info",
        show_default=True,
        envvar=_env("LOG_LEVEL"),
        show_envvar=True,
    ),
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        envvar=_env("METRICS_PORT"),
        show_envvar=True,
        metavar="PORT",
        help="Serve /metrics (Prometheus), /livez and /readyz on PORT (default: no HTTP server).",
    ),
    click.option(
        "--metrics-host",
        default="127.0.0.1",
        show_default=True,
        envvar=_env("METRICS_HOST"),
        show_envvar=True,
        metavar="ADDRESS",
        help="Address the metrics server binds (0.0.0.0 in a container, for probes and scrapes).",
    ),
    # -- beyond Lambda --
    click.option(
        "--isolation",
        type=click.Choice(["thread", "process", "runtime-api"]),
        default="thread",
        show_default=True,
        envvar=_env("ISOLATION"),
        show_envvar=True,
        help="[qworker] Run sync handlers in threads, in processes that a timeout kills, or "
        "(runtime-api) in AWS's awslambdaric through the Lambda Runtime API.",
    ),
    click.option(
        "--runtime-command",
        envvar=_env("RUNTIME_COMMAND"),
        show_envvar=True,
        metavar="CMD",
        help="Run the function as CMD, a program that speaks the Lambda Runtime API (./bootstrap, "
        "a Go/Rust/Node runtime), one process per concurrency slot, from the current directory; "
        "HANDLER is then optional (passed as _HANDLER).",
    ),
    click.option(
        "--visibility-heartbeat",
        type=float,
        default=None,
        envvar=_env("VISIBILITY_HEARTBEAT"),
        show_envvar=True,
        metavar="SECONDS",
        help="[qworker] Extend running messages' visibility every SECONDS (Lambda never does).",
    ),
    click.option(
        "--retry-backoff",
        default=None,
        envvar=_env("RETRY_BACKOFF"),
        show_envvar=True,
        metavar="BASE[:MAX]",
        help="[qworker] Retry failed messages after BASE*2^(receives-1) seconds (capped at MAX) "
        "instead of the full visibility timeout.",
    ),
    click.option(
        "--fifo-strict",
        is_flag=True,
        envvar=_env("FIFO_STRICT"),
        show_envvar=True,
        help="[qworker] FIFO: keep every message after a failed one of the same group (ESM-FIFO-5).",
    ),
    click.option(
        "--scaling",
        type=click.Choice(["fast", "aws"]),
        default="fast",
        show_default=True,
        envvar=_env("SCALING"),
        show_envvar=True,
        help="[qworker] Concurrency ramp: 'aws' = Lambda's (+5 per second); 'fast' doubles.",
    ),
    click.option(
        "--filter-action",
        type=click.Choice(["delete", "skip"]),
        default="delete",
        show_default=True,
        envvar=_env("FILTER_ACTION"),
        show_envvar=True,
        help="[qworker] What to do with records no filter matches: delete them (Lambda) or "
        "leave them in the queue for another consumer.",
    ),
    click.option(
        "--max-filters",
        type=click.IntRange(1, 10),
        default=5,
        show_default=True,
        envvar=_env("MAX_FILTERS"),
        show_envvar=True,
        help="Filter patterns allowed (Lambda's quota: 5 by default, 10 at most).",
    ),
    click.option(
        "--filter-extensions",
        is_flag=True,
        envvar=_env("FILTER_EXTENSIONS"),
        show_envvar=True,
        help="[qworker] Accept EventBridge operators Lambda refuses for SQS (wildcard, cidr, "
        "anything-but prefix/suffix/equals-ignore-case): not portable to Lambda.",
    ),
    click.option(
        "--pollers",
        type=int,
        default=1,
        show_default=True,
        envvar=_env("POLLERS"),
        show_envvar=True,
        help="[qworker] Concurrent receive loops, each building its own batches.",
    ),
    click.option(
        "--graceful-timeout",
        type=float,
        default=DEFAULT_GRACEFUL_TIMEOUT,
        show_default=True,
        envvar=_env("GRACEFUL_TIMEOUT"),
        show_envvar=True,
        help="[qworker] Seconds to let running batches finish after SIGTERM.",
    ),
    click.option(
        "--app-dir",
        default=".",
        show_default=True,
        envvar=_env("APP_DIR"),
        show_envvar=True,
        help="Directory put first on sys.path to import the handler (template: the CodeUri; "
        "config file: the file's directory).",
    ),
]


def worker_options(func: F) -> F:
    """Every ``qworker run`` parameter (``qworker check`` takes the same, to check the same thing)."""
    for decorator in reversed(_OPTIONS):
        func = decorator(func)
    return func


def given_values(ctx: click.Context) -> dict[str, Given]:
    """Each parameter's value and where it came from: ``cli``, ``env QWORKER_X`` or ``default``."""
    given = {}
    for param in ctx.command.params:
        name = param.name
        if name is None or name not in ctx.params:
            continue
        source = ctx.get_parameter_source(name)
        if source is ParameterSource.COMMANDLINE:
            origin = CLI
        elif source is ParameterSource.ENVIRONMENT:
            envvar = param.envvar if isinstance(param.envvar, str) else (param.envvar or ["?"])[0]
            origin = f"env {envvar}"
        else:
            origin = DEFAULT
        given[_SETTING_NAMES.get(name, name)] = Given(ctx.params[name], origin)
    return given


def extend_import_path(directories: list[str]) -> None:
    """Put more code directories (several SAM ``CodeUri``\\ s) on ``sys.path`` and ``PYTHONPATH``.

    ``PYTHONPATH`` too, so handlers run with ``--isolation process`` import the same modules.
    """
    for directory in reversed(directories):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    if directories:
        current = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([*directories, *([current] if current else [])])


@click.command("run")
@worker_options
def run_command(**_: Any) -> None:
    """Run HANDLER (module:function) on every message of --queue, as Lambda's SQS trigger would;
    or every function of a --config file or a SAM --template.

    \b
    Examples:
      qworker run app:handler --queue orders
      qworker run app:handler --queue orders --batch-size 100 --batch-window 2 --report-batch-item-failures
      qworker run app:handler --queue jobs.fifo --backend redis://localhost:6379/0
      qworker run --config qworker.toml
      qworker run --template template.yaml --function OrdersFunction --create-queues
      qworker run --runtime-command ./bootstrap --queue orders
    """
    import structlog

    from qworker import logs

    ctx = click.get_current_context()
    effective = resolve(given_values(ctx))
    logs.configure(effective.log_format, effective.log_level)  # type: ignore[arg-type]
    log = structlog.get_logger("qworker")
    for warning in effective.warnings:
        log.warning(warning)
    extend_import_path(effective.extra_paths)
    if ctx.params["create_queues"]:
        from qworker.commands.check import create_declared_queues

        create_declared_queues(effective)
    _log_sources(log, effective)
    code = run_worker(effective.mappings, effective.options)
    if code != ExitCode.OK:
        raise SystemExit(code)


def _log_sources(log: Any, effective: Effective) -> None:
    if effective.config_path is None and effective.template_path is None:
        return
    log.info(
        "configuration loaded",
        config=str(effective.config_path) if effective.config_path else None,
        template=str(effective.template_path) if effective.template_path else None,
        functions=[f.name for f in effective.functions if f.enabled],
        disabled=[f.name for f in effective.functions if not f.enabled] or None,
    )

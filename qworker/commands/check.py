"""``qworker check``: validate a configuration and print every effective setting with its source.

It takes exactly ``qworker run``'s options and resolves them the same way (command line >
environment > config file > template > defaults), so what it prints is what ``run`` would run.
Then it checks, without receiving anything:

1. every mapping's settings, as Lambda checks them (ESM-CFG-1..7; a bad configuration exits 2
   before anything else, with one ``error:`` line naming the file and the setting);
2. unless ``--offline``: the backend answers (exit 3 if not) and each mapping's queue exists and
   accepts the mapping (FIFO batch size, ESM-CFG-4 visibility timeout >= function timeout);
   ``--create-queues`` first creates the queues the config file or template declares, dead-letter
   queues first (SQS ``RedrivePolicy``);
3. unless ``--no-import``: each handler imports (exit 4 if not).

Exit 0 when everything passed, else the exit code of the first failed check (2 configuration,
3 backend unreachable, 4 handler import). The report goes to stdout, as text or ``--json``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from qworker.backend import Backend
from qworker.commands.common import CommandError
from qworker.commands.declared_queues import Check, create_queues
from qworker.errors import ConfigError, ExitCode, HandlerImportError, QueueDoesNotExist, QWorkerError
from qworker.importer import extend_import_path, import_from_string
from qworker.registry import open_backend, redact_url
from qworker.runtime.config import MappingConfig
from qworker.settings.cli import given_values, worker_options
from qworker.settings.layers import Effective, EffectiveFunction, resolve
from qworker.settings.report import function_settings, worker_settings

# -- the checks ----------------------------------------------------------------------------------


async def _backend_checks(effective: Effective, create: bool) -> list[Check]:
    url = effective.options.backend_url or ""
    backend = open_backend(url)
    try:
        await backend.connect()
    except QWorkerError as exc:
        return [Check("backend", False, f"cannot reach {redact_url(url)}: {exc}", int(exc.exit_code))]
    checks = [Check("backend", True, f"{backend.display_url} answers")]
    try:
        if create:
            checks += [
                Check(f"create queue {name}", False, message, ExitCode.USAGE)
                for name, message in effective.queue_errors.items()
            ]
            checks += await create_queues(backend, effective.queues)
        for function in effective.functions:
            if function.enabled:
                checks.append(await _queue_check(backend, function, effective))
    finally:
        await backend.close()
    return checks


async def _queue_check(backend: Backend, function: EffectiveFunction, effective: Effective) -> Check:
    config = function.config
    name = f"{function.name or config.name}: queue {config.queue}"
    try:
        info = await backend.get_queue(config.queue)
    except QueueDoesNotExist:
        declared = effective.queue_spec(config.queue) is not None
        fifo = " --fifo" if config.queue.endswith(".fifo") else ""
        hint = (
            "create it with --create-queues"
            if declared
            else f"create it with 'qworker queue create {config.queue}{fifo}'"
        )
        return Check(name, False, f"does not exist on {backend.display_url}; {hint}", ExitCode.USAGE)
    except QWorkerError as exc:
        return Check(name, False, str(exc), int(exc.exit_code))
    try:
        config.validate(fifo=info.spec.fifo, queue_visibility_timeout=info.spec.visibility_timeout)
    except ConfigError as exc:
        return Check(name, False, str(exc), ExitCode.USAGE)
    policy = info.spec.redrive_policy
    details = [
        *(["FIFO"] if info.spec.fifo else []),
        f"VisibilityTimeout {_number(info.spec.visibility_timeout)} s",
        *([f"DLQ {policy.dead_letter_queue} after {policy.max_receive_count} receives"] if policy else []),
    ]
    return Check(name, True, f"exists ({', '.join(details)}) and accepts the mapping")


def _import_checks(effective: Effective) -> list[Check]:
    extend_import_path(effective.extra_paths)
    checks = []
    for function in effective.functions:
        if not function.enabled:
            continue
        config = function.config
        if config.uses_runtime_api:  # a runtime process, not an import: check that it can start
            checks.append(_runtime_check(function.name or config.name, config, effective.options.app_dir))
            continue
        os.environ.update(config.environment)  # as the worker does before importing
        try:
            import_from_string(config.handler, effective.options.app_dir)
        except HandlerImportError as exc:
            checks.append(
                Check(f"{function.name or config.name}: handler", False, str(exc), ExitCode.HANDLER_IMPORT)
            )
        else:
            checks.append(
                Check(f"{function.name or config.name}: handler", True, f"{config.handler} imports")
            )
    return checks


def _runtime_check(name: str, config: MappingConfig, app_dir: str | None) -> Check:
    from qworker.runtime.runtime_api import launch

    try:
        found = launch.resolve(config, app_dir)
    except HandlerImportError as exc:
        return Check(f"{name}: runtime", False, str(exc), ExitCode.HANDLER_IMPORT)
    return Check(f"{name}: runtime", True, f"{found.runtime}: {' '.join(found.argv)} in {found.code_dir}")


# -- the report ----------------------------------------------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def report(effective: Effective, checks: list[Check]) -> dict[str, Any]:
    """The whole report as JSON-ready data (``--json``)."""
    return {
        "ok": all(check.ok for check in checks),
        "config": str(effective.config_path) if effective.config_path else None,
        "template": str(effective.template_path) if effective.template_path else None,
        "worker": worker_settings(effective),
        "functions": [
            {
                "name": function.name or function.config.name,
                "enabled": function.enabled,
                "where": function.spec.where,
                "settings": function_settings(function),
                # names and sources only: values may be secrets
                "environment": dict(sorted(function.spec.env_origins.items())),
            }
            for function in effective.functions
        ],
        "queues": [
            {
                "name": spec.name,
                "source": effective.queue_origins.get(spec.name, ""),
                "attributes": spec.attributes(),
            }
            for spec in effective.queues
        ],
        "checks": [{"check": c.name, "ok": c.ok, "message": c.message} for c in checks],
        "warnings": effective.warnings,
    }


def _text(data: dict[str, Any]) -> str:
    lines = []
    sources = [
        f"config {data['config']}" if data["config"] else "",
        f"template {data['template']}" if data["template"] else "",
    ]
    lines.append("qworker check: " + (", ".join(s for s in sources if s) or "command line only"))
    lines.append("")
    lines.append("worker")
    lines += _rows(data["worker"])
    for function in data["functions"]:
        state = "enabled" if function["enabled"] else "DISABLED (Enabled: false; not run)"
        lines += ["", f"function {function['name']}  ({state}; {function['where']})"]
        lines += _rows(function["settings"])
        for name, source in function["environment"].items():
            lines.append(f"  {'env ' + name:<28} {'(set)':<36} {source}")
    if data["queues"]:
        lines += ["", "declared queues"]
        for queue in data["queues"]:
            attrs = queue["attributes"]
            text = f"VisibilityTimeout={attrs['VisibilityTimeout']}"
            if "RedrivePolicy" in attrs:
                policy = json.loads(attrs["RedrivePolicy"])
                dlq = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
                text += f" DLQ={dlq} maxReceiveCount={policy['maxReceiveCount']}"
            if attrs.get("ContentBasedDeduplication") == "true":
                text += " ContentBasedDeduplication"
            lines.append(f"  {queue['name']:<28} {text:<36} {queue['source']}")
    lines += ["", "checks"]
    for check in data["checks"]:
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'}  {check['check']}: {check['message']}")
    if data["warnings"]:
        lines += ["", "warnings"]
        lines += [f"  - {warning}" for warning in data["warnings"]]
    return "\n".join(lines)


def _rows(settings: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for key, item in settings.items():
        value = item["value"]
        text = json.dumps(value) if isinstance(value, list | bool) or value is None else str(value)
        rows.append(f"  {key:<28} {text:<36} {item['source']}")
    return rows


@click.command("check")
@worker_options
@click.option(
    "--offline",
    is_flag=True,
    envvar="QWORKER_CHECK_OFFLINE",
    show_envvar=True,
    help="Check the settings only: do not connect to the backend.",
)
@click.option(
    "--import/--no-import",
    "import_handlers",
    default=True,
    show_default=True,
    envvar="QWORKER_CHECK_IMPORT",
    show_envvar=True,
    help="Import each handler (runs its module's top-level code, as a cold start does).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_command(offline: bool, import_handlers: bool, as_json: bool, **_: Any) -> None:
    """Validate what `qworker run` with the same options would run, and print every effective
    setting with its source (cli, env, the config file, the template, default).

    \b
    Examples:
      qworker check --config qworker.toml
      qworker check --template template.yaml --create-queues --backend redis://localhost:6379/0
      qworker check --template template.yaml --offline --json
    """
    ctx = click.get_current_context()
    for name in ("offline", "import_handlers", "as_json"):
        ctx.params.pop(name, None)
    effective = resolve(given_values(ctx))
    checks = [
        Check(f"{f.name or f.config.name}: settings", True, "valid (ESM-CFG-1..7)")
        for f in effective.functions
        if f.enabled
    ]
    if not offline:
        import asyncio

        checks += asyncio.run(_backend_checks(effective, bool(ctx.params.get("create_queues"))))
    elif ctx.params.get("create_queues"):
        raise CommandError("--create-queues needs the backend: drop --offline", ExitCode.USAGE)
    if import_handlers:
        checks += _import_checks(effective)
    data = report(effective, checks)
    click.echo(json.dumps(data, indent=2) if as_json else _text(data))
    failed = [check for check in checks if not check.ok]
    if failed:
        raise CommandError(
            f"{len(failed)} check(s) failed; first: {failed[0].name}: {failed[0].message}",
            failed[0].exit_code,
        )

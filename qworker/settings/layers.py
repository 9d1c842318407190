"""Combining every source of settings into the worker's mappings, remembering where each came from.

Precedence, highest first (STYLE.md 2.2): the command line, then ``QWORKER_*`` environment
variables, then the config file, then the SAM template, then the defaults. Which layer a value came
from is kept, so ``qworker check`` can print every effective setting with its source. Two rules
make the command line meaningful when it meets several functions:

* tuning options (``--batch-size``, ``--timeout``, ``--filter``, ...) given on the command line or
  in the environment apply to **every** selected function;
* identity options (``HANDLER``, ``--queue``, ``--function-name``) name one function, so they
  apply only when exactly one function is selected (``--function NAME``) and are an error
  otherwise.

A function's ``environment`` (file or template) never overrides a variable the process already
has: the process environment is the higher layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qworker.backend import QueueSpec
from qworker.errors import ConfigError
from qworker.filters import FilterCriteria
from qworker.runtime.config import MappingConfig, RetryBackoff
from qworker.runtime.options import WorkerOptions
from qworker.runtime.runtime_api import runtimes
from qworker.settings.schema import BY_KEY, IDENTITY, WORKER
from qworker.settings.sources import (
    CLI,
    DEFAULT,
    ENV,
    FILE,
    MAPPING_VOCABULARY,
    TEMPLATE,
    ConfigFile,
    FunctionSpec,
    discover,
    load_config_file,
    queue_spec_from_settings,
)
from qworker.settings.values import parse_backoff

if TYPE_CHECKING:
    from qworker.sam import Template

#: where the single mapping of a plain ``qworker run MODULE:HANDLER --queue NAME`` comes from
COMMAND_LINE = "the command line"


@dataclass(frozen=True, slots=True)
class Given:
    """A value from the command line (``cli``), the environment (``env ...``) or a default."""

    value: Any
    origin: str  #: "cli", "env QWORKER_X" or "default"

    @property
    def explicit(self) -> bool:
        return self.origin != DEFAULT


@dataclass
class EffectiveFunction:
    """One mapping as it will run, with the source of each of its settings."""

    spec: FunctionSpec
    config: MappingConfig

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def enabled(self) -> bool:
        return self.config.enabled


@dataclass
class Effective:
    """Everything ``qworker run`` needs, resolved from every layer, and where each value came from."""

    functions: list[EffectiveFunction]
    options: WorkerOptions
    worker_origins: dict[str, str]
    log_format: str = "auto"
    log_level: str = "info"
    queues: list[QueueSpec] = field(default_factory=list)  #: declared queues, dead-letter queues first
    queue_origins: dict[str, str] = field(default_factory=dict)
    #: declared queues defined with an error (queue name, or logical id -> the error)
    queue_errors: dict[str, str] = field(default_factory=dict)
    extra_paths: list[str] = field(default_factory=list)  #: more import directories (several CodeUris)
    warnings: list[str] = field(default_factory=list)
    config_path: Path | None = None
    template_path: Path | None = None

    @property
    def mappings(self) -> list[MappingConfig]:
        """The enabled mappings, in declaration order: what the worker runs."""
        return [f.config for f in self.functions if f.enabled]

    def queue_spec(self, name: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.name == name), None)


def _value(given: Mapping[str, Given], key: str, default: Any = None) -> Any:
    item = given.get(key)
    return default if item is None else item.value


def resolve(
    given: Mapping[str, Given], *, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> Effective:
    """Combine command line/environment values (``given``), a config file and a SAM template.

    ``given`` holds every ``qworker run`` parameter under its vocabulary key (``backend``,
    ``batch_size``, ..., plus ``config``, ``template``, ``template_parameter``, ``function``),
    each with its origin. Raises :class:`ConfigError` (exit 2) naming the file and the setting.
    """
    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    explicit = {key: item for key, item in given.items() if item.explicit}

    config, template = _load_files(explicit, cwd)
    effective = Effective(
        functions=[],
        options=WorkerOptions(),
        worker_origins={},
        config_path=config.path if config else None,
        template_path=template.path if template else None,
    )
    if template is not None:
        effective.warnings.extend(template.warnings)
    specs = _collect(explicit, config, template)
    selected = _select(specs, tuple(_value(explicit, "function", ()) or ()), config, template)
    _apply_explicit(selected, explicit, config, template)
    _apply_defaults(selected, given)
    _apply_environment(selected, environ)
    _worker_settings(effective, given, config)
    _queues(effective, config, template)
    _import_paths(effective, selected, explicit)
    for spec in selected:
        effective.functions.append(EffectiveFunction(spec, _build_checked(spec, effective)))
    if not effective.mappings:
        raise ConfigError(
            "every selected function is disabled (Enabled: false / enabled = false): nothing to run"
        )
    _conflicting_environment(effective)
    return effective


def _load_files(explicit: Mapping[str, Given], cwd: Path) -> tuple[ConfigFile | None, Template | None]:
    """The config file (given, or found in ``cwd`` when nothing names what to run) and the SAM
    template (given, or named by the config file), parameters applied."""
    config_path = _value(explicit, "config")
    template_arg = _value(explicit, "template")
    if config_path is None and template_arg is None and "handler" not in explicit:
        found = discover(cwd)
        config_path = str(found) if found else None
    config = load_config_file(config_path) if config_path else None
    template_path = template_arg or (config.worker.get("template") if config else None)
    if template_path:
        from qworker.sam import load_template

        parameters = dict(config.worker.get("template_parameters", {})) if config else {}
        parameters.update(_parse_parameters(_value(explicit, "template_parameter", ())))
        return config, load_template(template_path, parameters)
    if _value(explicit, "template_parameter"):
        raise ConfigError("--template-parameter needs a template: pass --template FILE")
    return config, None


def _build_checked(spec: FunctionSpec, effective: Effective) -> MappingConfig:
    """:func:`_build` for a function whose every setting resolved and whose queue is sound."""
    if spec.unresolved:
        raise ConfigError(next(iter(spec.unresolved.values())))
    queue = spec.values.get("queue")
    if queue in effective.queue_errors:
        error = effective.queue_errors[queue]
        raise ConfigError(f"{spec.where}: its queue is defined with an error: {error}")
    return _build(spec, effective)


def _parse_parameters(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--template-parameter takes NAME=VALUE, not {item!r}")
        out[name] = value
    return out


def _collect(
    explicit: Mapping[str, Given], config: ConfigFile | None, template: Template | None
) -> list[FunctionSpec]:
    """Template functions, overlaid by the file's [defaults] and [functions.X]; or one from the CLI."""
    if config is None and template is None:
        if "function" in explicit:
            raise ConfigError("--function selects functions of a --config file or a --template")
        return [FunctionSpec(name="", where=COMMAND_LINE)]
    specs = list(template.functions) if template else []
    label = f"{FILE} {config.path.name}" if config else ""
    if config is not None:
        for spec in specs:  # [defaults] is the file's layer: above the template
            for key, value in config.defaults.items():
                spec.set(key, value, label)
        for section in config.functions:
            targets = [s for s in specs if s.matches(section.name)] if template else []
            if not targets:
                if template is not None and "handler" not in section.values:
                    known = ", ".join(sorted({s.group for s in specs}))
                    raise ConfigError(
                        f"{section.where}: matches no function of {template.path} with an SQS event "
                        f"(known: {known or 'none'}) and has no handler of its own"
                    )
                new = FunctionSpec(
                    name=section.name,
                    where=section.where,
                    group=section.name,
                    origin=section.origin,
                    app_dir=section.app_dir,
                    app_dir_origin=section.app_dir_origin,
                )
                for key, value in config.defaults.items():
                    new.set(key, value, label)
                specs.append(new)
                targets = [new]
            for target in targets:
                for key, value in section.values.items():
                    target.set(key, value, section.origins[key])
                for name, value in section.environment.items():
                    target.set_variable(name, value, section.env_origins[name])
    if not specs:
        source = config.path if config else template.path  # type: ignore[union-attr]
        raise ConfigError(
            f"{source}: no functions: add [functions.NAME] sections"
            if template is None
            else f"{source}: no AWS::Serverless::Function with an SQS event"
        )
    return specs


def _select(
    specs: list[FunctionSpec],
    selectors: tuple[str, ...],
    config: ConfigFile | None,
    template: Template | None,
) -> list[FunctionSpec]:
    if not selectors:
        chosen = [s for s in specs if s.skip_reason is None]
        if not chosen:
            raise ConfigError(f"no function can run here: {'; '.join(s.skip_reason or '' for s in specs)}")
        return chosen
    chosen = []
    for selector in selectors:
        found = [s for s in specs if s.matches(selector)]
        if not found:
            names = sorted({s.group or s.name for s in specs} | {s.name for s in specs})
            source = template.path if template else config.path if config else "the configuration"
            raise ConfigError(
                f"--function {selector!r}: no such function in {source}; known: {', '.join(names)}"
            )
        for spec in found:
            if spec.skip_reason is not None:
                raise ConfigError(f"--function {selector!r}: {spec.skip_reason}")
            if spec not in chosen:
                chosen.append(spec)
    return chosen


def _apply_explicit(
    selected: list[FunctionSpec],
    explicit: Mapping[str, Given],
    config: ConfigFile | None,
    template: Template | None,
) -> None:
    """Command line and environment values: tuning options for all, identity options for one."""
    several = config is not None or template is not None
    for key in MAPPING_VOCABULARY:
        item = explicit.get(key)
        if item is None:
            continue
        value = item.value
        if key == "filters":
            value = tuple(value)
        if key in IDENTITY and several and len(selected) != 1:
            flag = "HANDLER" if key == "handler" else "--" + key.replace("_", "-")
            raise ConfigError(
                f"{flag} ({_describe(item)}) names one function, but {len(selected)} are selected "
                f"({', '.join(s.name for s in selected)}); select one with --function NAME"
            )
        for spec in selected:
            spec.set(key, value, item.origin)


def _describe(item: Given) -> str:
    return "from the command line" if item.origin == CLI else f"from {item.origin.removeprefix('env ')}"


def _apply_defaults(selected: list[FunctionSpec], given: Mapping[str, Given]) -> None:
    for key in MAPPING_VOCABULARY:
        item = given.get(key)
        if item is None or item.explicit:
            continue
        for spec in selected:
            if key not in spec.values and item.value is not None:
                spec.set(key, tuple(item.value) if key == "filters" else item.value, DEFAULT)


def _apply_environment(selected: list[FunctionSpec], environ: Mapping[str, str]) -> None:
    """A variable the process already has wins over the file's and the template's value."""
    for spec in selected:
        for name in list(spec.environment):
            if name in environ:
                del spec.environment[name]
                spec.env_origins[name] = ENV
        for key in list(spec.unresolved):
            if key.startswith("environment.") and key.removeprefix("environment.") in environ:
                del spec.unresolved[key]
                spec.env_origins[key.removeprefix("environment.")] = ENV


def _worker_settings(effective: Effective, given: Mapping[str, Given], config: ConfigFile | None) -> None:
    values: dict[str, Any] = {}
    for setting in WORKER:
        key = setting.key
        item = given.get(key)
        if item is not None and item.explicit:
            values[key], effective.worker_origins[key] = item.value, item.origin
        elif config is not None and key in config.worker:
            values[key], effective.worker_origins[key] = config.worker[key], f"{FILE} {config.path.name}"
        elif item is not None:
            values[key], effective.worker_origins[key] = item.value, DEFAULT
        problem = setting.out_of_range(values.get(key))
        if problem is not None:
            raise ConfigError(problem)
    options = effective.options
    options.backend_url = values.get("backend")
    options.until_empty = bool(values.get("until_empty", False))
    options.pollers = values.get("pollers", options.pollers)
    options.metrics_port = values.get("metrics_port")
    if values.get("graceful_timeout") is not None:
        options.graceful_timeout = values["graceful_timeout"]
    if values.get("metrics_host"):
        options.metrics_host = values["metrics_host"]
    if values.get("app_dir") is not None:
        options.app_dir = values["app_dir"]
    effective.log_format = values.get("log_format", "auto")
    effective.log_level = values.get("log_level", "info")


def _queues(effective: Effective, config: ConfigFile | None, template: Template | None) -> None:
    specs: dict[str, QueueSpec] = {}
    if template is not None:
        for spec in template.queues:
            specs[spec.name] = spec
            effective.queue_origins[spec.name] = f"{TEMPLATE} {template.path.name}"
        effective.queue_errors.update(template.queue_errors)
    if config is not None:
        for name, settings in config.queues.items():
            specs[name] = queue_spec_from_settings(
                name, settings, f"{config.path} [queues.{name}]", specs.get(name)
            )
            effective.queue_origins[name] = f"{FILE} {config.path.name}"
            effective.queue_errors.pop(name, None)
    effective.queues = _dead_letter_queues_first(specs)


def _dead_letter_queues_first(specs: Mapping[str, QueueSpec]) -> list[QueueSpec]:
    """Order queues so each dead-letter queue is created before the queues that use it."""
    ordered: list[QueueSpec] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        spec = specs.get(name)
        if spec is None or spec in ordered or name in visiting:
            return
        visiting.add(name)
        if spec.redrive_policy is not None:
            visit(spec.redrive_policy.dead_letter_queue)
        ordered.append(spec)

    for name in specs:
        visit(name)
    return ordered


def _import_paths(effective: Effective, selected: list[FunctionSpec], explicit: Mapping[str, Given]) -> None:
    """One ``app_dir`` for the worker; other functions' code directories go on ``sys.path`` too.

    Several code directories share one interpreter, so two functions whose handler modules have
    the same name in different directories (``a/app.py`` and ``b/app.py``) cannot run in one
    process: that is an error that says to run them as separate processes.
    """
    if effective.worker_origins.get("app_dir", DEFAULT) != DEFAULT:
        return  # --app-dir / QWORKER_APP_DIR / app_dir in the file: one directory for every function
    directories: list[tuple[str, str]] = []
    modules: dict[str, tuple[str, str]] = {}
    for spec in selected:
        if spec.values.get("enabled") is False:
            continue
        if spec.app_dir_error is not None and "app_dir" not in explicit:
            raise ConfigError(spec.app_dir_error)
        if _runtime_api(spec.values):
            continue  # a runtime process of its own: nothing is imported into this one
        directory = spec.app_dir
        if directory is None:
            continue
        if directory not in [d for d, _ in directories]:
            directories.append((directory, spec.app_dir_origin))
        handler = str(spec.values.get("handler", ""))
        module = handler.replace(":", ".").split(".")[0]
        previous = modules.setdefault(module, (directory, spec.name))
        if previous[0] != directory:
            raise ConfigError(
                f"functions {previous[1]} and {spec.name} both import a module named {module!r}, from "
                f"{previous[0]} and {directory}: one process has one module of that name. Run them as "
                f"separate processes (qworker run ... --function {previous[1]} / --function {spec.name})"
            )
    if directories:
        effective.options.app_dir, effective.worker_origins["app_dir"] = directories[0]
        effective.extra_paths = [d for d, _ in directories[1:]]


def _build(spec: FunctionSpec, effective: Effective) -> MappingConfig:
    """The :class:`MappingConfig` for ``spec``, checked as Lambda checks it (ESM-CFG-*)."""
    values = dict(spec.values)
    where = spec.where
    for key in ("handler", "queue"):
        if not values.get(key) and not (key == "handler" and _runtime_api_only(values)):
            if spec.where == COMMAND_LINE:
                raise ConfigError(
                    "no handler given: pass MODULE:HANDLER (or set QWORKER_HANDLER), or a --config "
                    "qworker.toml / --template template.yaml"
                    if key == "handler"
                    else "no queue given: pass --queue NAME or set QWORKER_QUEUE."
                )
            raise ConfigError(f"{where}: no {key!r}")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key == "retry_backoff":
            value = RetryBackoff(*parse_backoff(value)) if value else None
        elif key == "filters":
            value = tuple(value)
        kwargs[BY_KEY[key].config_field] = value
    if spec.name and "function_name" not in values:
        kwargs["function_name"] = spec.group or spec.name
        spec.origins["function_name"] = spec.origin
    kwargs["environment"] = dict(spec.environment)
    kwargs.setdefault("handler", "")
    if spec.app_dir is not None and "code_dir" not in kwargs and _runtime_api(values):
        kwargs["code_dir"] = spec.app_dir  # SAM CodeUri: the runtime process's LAMBDA_TASK_ROOT
    config = MappingConfig(**kwargs)
    queue = effective.queue_spec(config.queue)
    try:
        config.validate(
            fifo=config.queue.endswith(".fifo"),
            queue_visibility_timeout=queue.visibility_timeout if queue is not None else None,
        )
        if config.filters:
            FilterCriteria.compile(
                config.filters, max_filters=config.max_filters, extensions=config.filter_extensions
            )
    except ConfigError as exc:
        if spec.where == COMMAND_LINE:
            raise
        raise ConfigError(f"{where}: {exc}") from None
    return config


def _runtime_api(values: Mapping[str, Any]) -> bool:
    """The function runs as a process speaking the Lambda Runtime API (not imported here)."""
    return runtimes.uses_runtime_api(
        values.get("runtime"), values.get("runtime_command"), values.get("isolation", "thread")
    )


def _runtime_api_only(values: Mapping[str, Any]) -> bool:
    """A handler is optional: a ``--runtime-command`` or a ``provided.*`` bootstrap needs none."""
    return bool(values.get("runtime_command")) or runtimes.family(values.get("runtime")) == "provided"


def _conflicting_environment(effective: Effective) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for function in effective.functions:
        if not function.enabled:
            continue
        for name, value in function.config.environment.items():
            if name in seen and seen[name][0] != value:
                effective.warnings.append(
                    f"environment variable {name} differs between {seen[name][1]} and {function.name}: "
                    f"one process has one environment, so every handler sees {value!r} (the last one). "
                    "Run the functions as separate processes (--function) if that matters."
                )
            seen[name] = (value, function.name)

"""Where functions are declared: ``qworker.toml`` / ``[tool.qworker]``, read and checked.

A project declares its functions once, in ``qworker.toml`` or in ``[tool.qworker]`` of
``pyproject.toml`` (same keys), so that one ``qworker run --config qworker.toml`` process serves
them all::

    backend = "redis://localhost:6379/0"     # any worker-wide `qworker run` option
    metrics_port = 9090
    template = "template.yaml"               # optional: functions from an AWS SAM template

    [defaults]                               # mapping settings shared by every function
    timeout = 30

    [functions.orders]                       # one function + its event source mapping
    handler = "orders:handler"
    queue = "orders"
    batch_size = 50
    batch_window = 2
    report_batch_item_failures = true
    filters = ['{"body": {"type": ["order"]}}']
    environment = { TABLE = "orders" }

    [queues.orders]                          # queues `qworker check --create-queues` creates
    visibility_timeout = 180
    dlq = "orders-dlq"
    max_receive_count = 5

Keys are the ``qworker run`` option names with ``_`` for ``-`` (``--batch-size`` is
``batch_size``): the vocabulary of :mod:`qworker.settings.schema`, one for the command line, the
environment and the file. :class:`FunctionSpec` is what a file or a SAM template
(:mod:`qworker.sam`) says about one function; :mod:`qworker.settings.layers` combines them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qworker import limits
from qworker.backend import QueueSpec, RedrivePolicy
from qworker.errors import QWorkerError
from qworker.settings.schema import BY_KEY, IDENTITY, MAPPING, Setting
from qworker.settings.values import ConfigFileError, check_table

CONFIG_FILE_NAME = "qworker.toml"
PYPROJECT = "pyproject.toml"

#: origins of a value, lowest precedence first (``file`` and ``template`` carry the file's name)
DEFAULT, TEMPLATE, FILE, ENV, CLI = "default", "template", "file", "env", "cli"

#: mapping settings a file or template can set for one function
MAPPING_VOCABULARY: dict[str, Setting] = {s.key: s for s in MAPPING if s.in_file}
#: worker-wide settings a file can set (one per process)
WORKER_VOCABULARY: dict[str, Setting] = {
    s.key: s for s in BY_KEY.values() if s.scope != "mapping" and s.in_file
}


def _queue_setting(key: str, kind: Any, choices: tuple[str, ...] = ()) -> Setting:
    return Setting(key, "source", kind, "", choices=choices)


#: queue attributes, named as the options of ``qworker queue create``
QUEUE_VOCABULARY: dict[str, Setting] = {
    s.key: s
    for s in (
        _queue_setting("fifo", "bool"),
        _queue_setting("visibility_timeout", "float"),
        _queue_setting("retention", "int"),
        _queue_setting("delay", "int"),
        _queue_setting("max_message_size", "int"),
        _queue_setting("receive_wait", "float"),
        _queue_setting("dlq", "text"),
        _queue_setting("max_receive_count", "int"),
        _queue_setting("content_based_dedup", "bool"),
        _queue_setting("dedup_scope", "choice", ("queue", "messageGroup")),
    )
}


@dataclass
class FunctionSpec:
    """One function and one of its event source mappings, as a config file or template declares it.

    ``values`` uses the ``MAPPING_VOCABULARY`` vocabulary; ``origins`` says where each came from.
    A template value that cannot be resolved outside CloudFormation is kept in ``unresolved``
    (key -> error text): it is an error only if no higher layer sets that key.
    """

    name: str  #: what ``--function`` selects (a ``[functions.NAME]`` section, a SAM logical id)
    where: str  #: the place in the file, for error messages
    group: str = ""  #: the function several mappings belong to (SAM: one per SQS event)
    origin: str = DEFAULT  #: the source that declared the function (its name's origin)
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    env_origins: dict[str, str] = field(default_factory=dict)
    #: key (or ``environment.NAME``) -> why its template value cannot be resolved
    unresolved: dict[str, str] = field(default_factory=dict)
    app_dir: str | None = None  #: directory the handler is imported from (SAM ``CodeUri``)
    app_dir_origin: str = DEFAULT
    app_dir_error: str | None = None  #: why the template's code location cannot be used
    skip_reason: str | None = None  #: why this function cannot run here (an error only if selected)

    def set(self, key: str, value: Any, origin: str) -> None:
        if key == "environment":
            for name, text in value.items():
                self.set_variable(name, text, origin)
            return
        self.values[key] = value
        self.origins[key] = origin
        self.unresolved.pop(key, None)

    def set_variable(self, name: str, value: str, origin: str) -> None:
        self.environment[name] = value
        self.env_origins[name] = origin
        self.unresolved.pop(f"environment.{name}", None)

    def matches(self, selector: str) -> bool:
        return selector in (self.name, self.group) or selector == self.values.get("function_name")


@dataclass
class ConfigFile:
    """A loaded ``qworker.toml`` / ``[tool.qworker]``: worker settings, defaults, functions, queues."""

    path: Path
    worker: dict[str, Any]
    defaults: dict[str, Any]
    functions: list[FunctionSpec]
    queues: dict[str, dict[str, Any]]


def discover(directory: Path) -> Path | None:
    """``qworker.toml`` in ``directory``, else its ``pyproject.toml`` if it has ``[tool.qworker]``."""
    candidate = directory / CONFIG_FILE_NAME
    if candidate.is_file():
        return candidate
    pyproject = directory / PYPROJECT
    if pyproject.is_file():
        import tomllib  # here: most runs have no config file to parse (start-up time)

        try:
            text = pyproject.read_text(encoding="utf-8")
            # a file that never says "qworker" has no [tool.qworker] table: not parsed at all
            data = tomllib.loads(text) if "qworker" in text else {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        if isinstance(data.get("tool"), dict) and "qworker" in data["tool"]:
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # here: most runs have no config file to read (start-up time)

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read config file {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None


def load_config_file(path: str | Path) -> ConfigFile:
    """Read and check a config file. ``pyproject.toml`` is read from its ``[tool.qworker]`` table.

    Paths in the file (``app_dir``, ``template``) are relative to the file's directory.
    """
    path = Path(path)
    data = _read_toml(path)
    label = str(path)
    if path.name == PYPROJECT:
        tool = data.get("tool")
        if not isinstance(tool, dict) or "qworker" not in tool:
            raise ConfigFileError(f"{path}: no [tool.qworker] table")
        data, label = tool["qworker"], f"{path} [tool.qworker]"
        if not isinstance(data, dict):
            raise ConfigFileError(f"{path}: [tool.qworker] must be a table")
    base = path.resolve().parent
    worker_keys = {k: v for k, v in data.items() if k not in ("defaults", "functions", "queues")}
    worker = check_table(worker_keys, WORKER_VOCABULARY, label)
    for key in ("app_dir", "template"):
        if key in worker:
            worker[key] = str((base / worker[key]).resolve())
    defaults = check_table(data.get("defaults", {}), MAPPING_VOCABULARY, f"{label} [defaults]")
    for key in IDENTITY:
        if key in defaults:
            raise ConfigFileError(f"{label} [defaults]: {key!r} names one function; set it per function")
    sections = data.get("functions", {})
    if not isinstance(sections, dict):
        raise ConfigFileError(f"{label}: 'functions' must be a table of [functions.NAME] sections")
    functions = []
    for name, table in sections.items():
        where = f"{label} [functions.{name}]"
        spec = FunctionSpec(
            name=name,
            where=where,
            group=name,
            origin=f"{FILE} {path.name}",
            app_dir=str(base),
            app_dir_origin=f"{FILE} {path.name}",
        )
        for key, value in check_table(table, MAPPING_VOCABULARY, where).items():
            if key == "code_dir":
                value = str((base / value).resolve())
            spec.set(key, value, f"{FILE} {path.name}")
        functions.append(spec)
    queue_tables = data.get("queues", {})
    if not isinstance(queue_tables, dict):
        raise ConfigFileError(f"{label}: 'queues' must be a table of [queues.NAME] sections")
    queues = {
        name: check_table(table, QUEUE_VOCABULARY, f"{label} [queues.{name}]")
        for name, table in queue_tables.items()
    }
    return ConfigFile(path, worker, defaults, functions, queues)


def queue_spec_from_settings(
    name: str, settings: Mapping[str, Any], where: str, base: QueueSpec | None = None
) -> QueueSpec:
    """A :class:`QueueSpec` from ``[queues.NAME]`` settings, over ``base`` (the template's spec)."""
    spec = base or QueueSpec(name)
    fifo = name.endswith(".fifo")
    if settings.get("fifo") and not fifo:
        raise ConfigFileError(f"{where}: FIFO queue names end in .fifo; name the queue '{name}.fifo'")
    if not fifo and ("content_based_dedup" in settings or "dedup_scope" in settings):
        raise ConfigFileError(f"{where}: content_based_dedup and dedup_scope are for FIFO queues only")
    if ("dlq" in settings) != ("max_receive_count" in settings) and base is None:
        raise ConfigFileError(f"{where}: dlq and max_receive_count go together")
    policy = spec.redrive_policy
    if "dlq" in settings or "max_receive_count" in settings:
        policy = RedrivePolicy(
            settings.get("dlq", policy.dead_letter_queue if policy else ""),
            settings.get("max_receive_count", policy.max_receive_count if policy else 0),
        )
        if not policy.dead_letter_queue or not policy.max_receive_count:
            raise ConfigFileError(f"{where}: dlq and max_receive_count go together")
    spec = replace(
        spec,
        visibility_timeout=settings.get("visibility_timeout", spec.visibility_timeout),
        message_retention_period=settings.get("retention", spec.message_retention_period),
        delay_seconds=settings.get("delay", spec.delay_seconds),
        maximum_message_size=settings.get("max_message_size", spec.maximum_message_size),
        receive_wait_time_seconds=settings.get("receive_wait", spec.receive_wait_time_seconds),
        redrive_policy=policy,
        content_based_deduplication=settings.get("content_based_dedup", spec.content_based_deduplication),
        deduplication_scope=settings.get("dedup_scope", spec.deduplication_scope),
    )
    try:
        limits.validate_queue_spec(spec)
    except QWorkerError as exc:
        raise ConfigFileError(f"{where}: {exc}") from None
    return spec

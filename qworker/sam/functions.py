"""``AWS::Serverless::Function`` resources with SQS events, as mapping settings
(:class:`~qworker.settings.sources.FunctionSpec`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qworker.errors import QWorkerError
from qworker.importer import normalize_target
from qworker.runtime.runtime_api import runtimes
from qworker.sam.intrinsics import NO_VALUE, Resolver, _boolean, _integer, _seconds
from qworker.sam.names import _EVENT_PROPERTIES, _IGNORED_EVENT_PROPERTIES
from qworker.sam.yaml_reader import TemplateError
from qworker.settings.sources import FunctionSpec


def _function_specs(
    logical_id: str,
    resource: Mapping[str, Any],
    globals_: Mapping[str, Any],
    resolver: Resolver,
    base: Path,
    origin: str,
    warnings: list[str],
) -> list[FunctionSpec]:
    props = resource.get("Properties") or {}
    if not isinstance(props, dict):
        raise resolver.error(f"Resources.{logical_id}.Properties", "expected a mapping")
    events = props.get("Events") or {}
    if not isinstance(events, dict):
        raise resolver.error(f"Resources.{logical_id}.Properties.Events", "expected a mapping")
    sqs_events = {name: ev for name, ev in events.items() if isinstance(ev, dict) and ev.get("Type") == "SQS"}
    if not sqs_events:
        return []
    function = _FunctionReader(logical_id, props, globals_, resolver, base, origin)
    specs = []
    for event_name, event in sqs_events.items():
        name = logical_id if len(sqs_events) == 1 else f"{logical_id}.{event_name}"
        where = f"Resources.{logical_id}.Properties.Events.{event_name}"
        spec = FunctionSpec(name=name, where=f"{resolver.label}: {where}", group=logical_id, origin=origin)
        function.fill(spec)
        _read_event(spec, event.get("Properties"), resolver, where, origin, warnings)
        specs.append(spec)
    return specs


class _FunctionReader:
    """The function-level properties (``Globals.Function`` merged in), shared by its mappings."""

    def __init__(
        self,
        logical_id: str,
        props: Mapping[str, Any],
        globals_: Mapping[str, Any],
        resolver: Resolver,
        base: Path,
        origin: str,
    ) -> None:
        self.logical_id = logical_id
        self.props = props
        self.globals = globals_
        self.resolver = resolver
        self.base = base
        self.origin = origin

    def _lookup(self, key: str) -> tuple[Any, str, str] | None:
        """(node, where, origin) of a property, from the function or else from Globals.Function."""
        if key in self.props:
            return self.props[key], f"Resources.{self.logical_id}.Properties.{key}", self.origin
        if key in self.globals:
            return self.globals[key], f"Globals.Function.{key}", f"{self.origin} Globals"
        return None

    def fill(self, spec: FunctionSpec) -> None:
        resolver = self.resolver
        runtime = self._lookup("Runtime")
        package = self._lookup("PackageType")
        if package is not None and resolver.value(package[0], package[1]) == "Image":
            spec.skip_reason = (
                f"{spec.where}: a container-image function (PackageType: Image) has no Handler to run"
            )
            return
        kind = self._runtime(spec, runtime)
        if kind is None:
            return
        handler = self._lookup("Handler")
        if handler is not None and kind != "python":  # Lambda's own form: src/app.handler
            text = self._try(spec, "handler", handler)
            if isinstance(text, str):
                spec.set("handler", text, handler[2])
        elif handler is None and kind == "provided":
            pass  # a bootstrap needs no handler
        elif handler is None:
            spec.unresolved["handler"] = (
                f"{resolver.label}: Resources.{self.logical_id}.Properties: no Handler"
            )
        else:
            text = self._try(spec, "handler", handler)
            if isinstance(text, str):
                try:
                    spec.set("handler", normalize_target(text.replace("/", ".")), handler[2])
                except QWorkerError as exc:
                    raise resolver.error(handler[1], str(exc)) from None
        name = self._lookup("FunctionName")
        function_name = self._try(spec, "function_name", name) if name is not None else None
        if isinstance(function_name, str):
            spec.set("function_name", function_name, name[2] if name else self.origin)
        else:  # no FunctionName (CloudFormation would generate one): the logical id
            spec.unresolved.pop("function_name", None)
            spec.set("function_name", self.logical_id, self.origin)
        for key, setting, convert in (
            ("Timeout", "timeout", _seconds),
            ("MemorySize", "memory", _integer),
        ):
            found = self._lookup(key)
            if found is not None:
                value = self._try(spec, setting, found)
                if value is not None:
                    spec.set(setting, convert(value, resolver, found[1]), found[2])
        self._environment(spec)
        self._code_uri(spec)

    def _runtime(self, spec: FunctionSpec, runtime: tuple[Any, str, str] | None) -> str | None:
        """The function's runtime family (``python`` unless said otherwise); ``None``, with the
        spec's skip reason set, for a runtime qworker cannot run. Node.js and ``provided.*``
        functions run through the Lambda Runtime API (:mod:`qworker.runtime.runtime_api`)."""
        if runtime is None:
            return "python"
        try:
            value = self.resolver.value(runtime[0], runtime[1])
        except TemplateError:
            return "python"  # the runtime only decides how the function runs
        if not isinstance(value, str):
            return "python"
        kind = runtimes.family(value)
        if kind is None:
            spec.skip_reason = (
                f"{self.resolver.label}: Resources.{self.logical_id}: {runtimes.unsupported(value)}"
            )
            return None
        if kind != "python":
            spec.set("runtime", value, runtime[2])
        return kind

    def _try(self, spec: FunctionSpec, key: str, found: tuple[Any, str, str]) -> Any:
        """Resolve a property; a value only a deployed stack knows is recorded, not raised."""
        try:
            value = self.resolver.value(found[0], found[1])
        except TemplateError as exc:
            spec.unresolved[key] = str(exc)
            return None
        return None if value is NO_VALUE else value

    def _environment(self, spec: FunctionSpec) -> None:
        """``Environment.Variables`` of Globals and of the function, merged (the function wins)."""
        layers = []
        if "Environment" in self.globals:
            layers.append(
                (self.globals["Environment"], "Globals.Function.Environment", f"{self.origin} Globals")
            )
        if "Environment" in self.props:
            layers.append(
                (
                    self.props["Environment"],
                    f"Resources.{self.logical_id}.Properties.Environment",
                    self.origin,
                )
            )
        for node, where, origin in layers:
            if not isinstance(node, dict) or not isinstance(node.get("Variables", {}), dict):
                raise self.resolver.error(where, "expected {Variables: {NAME: value}}")
            for name, value in (node.get("Variables") or {}).items():
                try:
                    text = self.resolver.value(value, f"{where}.Variables.{name}")
                except TemplateError as exc:
                    spec.unresolved[f"environment.{name}"] = (
                        f"{exc}. Set {name} in the environment or in qworker.toml "
                        f"[functions.{self.logical_id}.environment]"
                    )
                    spec.environment.pop(name, None)
                    continue
                if text is NO_VALUE:
                    continue
                if isinstance(text, bool):
                    text = "true" if text else "false"
                spec.set_variable(name, str(text), origin)

    def _code_uri(self, spec: FunctionSpec) -> None:
        found = self._lookup("CodeUri")
        if found is None:
            if self._lookup("InlineCode") is not None:
                spec.app_dir_error = (
                    f"{self.resolver.label}: Resources.{self.logical_id}: InlineCode functions have no "
                    "code directory; put the code in a file and set CodeUri"
                )
            spec.app_dir, spec.app_dir_origin = str(self.base), self.origin
            return
        spec.app_dir_origin = found[2]
        value = self._try(spec, "app_dir", found)
        if isinstance(value, str) and not value.startswith("s3://"):
            spec.app_dir = str((self.base / value).resolve())
            directory = Path(spec.app_dir)
            if not directory.is_dir():
                spec.app_dir_error = (
                    f"{self.resolver.label}: {found[1]}: {value!r} is not a directory "
                    f"(looked for {directory}); pass --app-dir DIR"
                )
        else:
            spec.app_dir = str(self.base)
            spec.app_dir_error = (
                f"{self.resolver.label}: {found[1]}: the code is in S3 ({value!r}), not in a local "
                "directory; pass --app-dir DIR with the function's code"
            )
        spec.unresolved.pop("app_dir", None)


def _read_event(
    spec: FunctionSpec, props: Any, resolver: Resolver, where: str, origin: str, warnings: list[str]
) -> None:
    where = f"{where}.Properties"
    if not isinstance(props, dict) or "Queue" not in props:
        raise resolver.error(where, "an SQS event needs Properties.Queue (the queue's ARN)")
    for key in props:
        if key in _IGNORED_EVENT_PROPERTIES:
            warnings.append(f"{resolver.label}: {where}.{key} is ignored by qworker")
        elif key not in _EVENT_PROPERTIES:
            raise resolver.error(
                f"{where}.{key}",
                "not a property of an SQS event (known: "
                f"{', '.join(sorted(_EVENT_PROPERTIES | _IGNORED_EVENT_PROPERTIES))})",
            )
    try:
        spec.set("queue", resolver.queue_of(props["Queue"], f"{where}.Queue"), origin)
    except TemplateError as exc:
        spec.unresolved["queue"] = f'{exc}; or set queue = "NAME" in qworker.toml [functions.{spec.group}]'
    values = {k: resolver.value(v, f"{where}.{k}") for k, v in props.items() if k != "Queue"}
    values = {k: v for k, v in values.items() if v is not NO_VALUE}
    if "BatchSize" in values:
        spec.set("batch_size", _integer(values["BatchSize"], resolver, f"{where}.BatchSize"), origin)
    if "MaximumBatchingWindowInSeconds" in values:
        window = values["MaximumBatchingWindowInSeconds"]
        spec.set(
            "batch_window", _integer(window, resolver, f"{where}.MaximumBatchingWindowInSeconds"), origin
        )
    if "FunctionResponseTypes" in values:
        types = values["FunctionResponseTypes"]
        if (
            not isinstance(types, list)
            or len(types) > 1
            or any(t != "ReportBatchItemFailures" for t in types)
        ):
            raise resolver.error(
                f"{where}.FunctionResponseTypes",
                f"the only value is [ReportBatchItemFailures] (ESM-CFG-6), got {types!r}",
            )
        spec.set("report_batch_item_failures", bool(types), origin)
    if "FilterCriteria" in values:
        spec.set("filters", _filters(values["FilterCriteria"], resolver, f"{where}.FilterCriteria"), origin)
    if "ScalingConfig" in values:
        scaling = values["ScalingConfig"]
        if not isinstance(scaling, dict) or set(scaling) - {"MaximumConcurrency"}:
            raise resolver.error(
                f"{where}.ScalingConfig", f"expected {{MaximumConcurrency: N}}, got {scaling!r}"
            )
        if "MaximumConcurrency" in scaling:
            spec.set(
                "max_concurrency",
                _integer(
                    scaling["MaximumConcurrency"], resolver, f"{where}.ScalingConfig.MaximumConcurrency"
                ),
                origin,
            )
    if "Enabled" in values:
        spec.set("enabled", _boolean(values["Enabled"], resolver, f"{where}.Enabled"), origin)


def _filters(value: Any, resolver: Resolver, where: str) -> tuple[str, ...]:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("Filters", []), list)
        or set(value) - {"Filters"}
    ):
        raise resolver.error(where, f"expected {{Filters: [{{Pattern: '<json>'}}]}}, got {value!r}")
    patterns = []
    for i, item in enumerate(value.get("Filters", [])):
        if not isinstance(item, dict) or "Pattern" not in item:
            raise resolver.error(f"{where}.Filters[{i}]", f"expected {{Pattern: '<json>'}}, got {item!r}")
        pattern = item["Pattern"]
        patterns.append(pattern if isinstance(pattern, str) else json.dumps(pattern))
    return tuple(patterns)

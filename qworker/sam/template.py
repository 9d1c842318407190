"""A loaded SAM template: its queues and its SQS-triggered functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qworker.backend import QueueSpec
from qworker.sam.functions import _function_specs
from qworker.sam.intrinsics import Resolver
from qworker.sam.names import FUNCTION_TYPE, QUEUE_TYPE
from qworker.sam.queues import _queue_spec
from qworker.sam.yaml_reader import TemplateError, read_template
from qworker.settings.sources import TEMPLATE, FunctionSpec


@dataclass
class Template:
    """What a SAM template says: one :class:`FunctionSpec` per SQS event, and the queues."""

    path: Path
    functions: list[FunctionSpec]
    queues: list[QueueSpec]
    #: queues defined with an error: queue name (logical id if the name is the error) -> the error
    queue_errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_template(path: str | Path, parameters: Mapping[str, str] | None = None) -> Template:
    """Read ``path`` and describe its SQS-triggered functions and its queues.

    ``parameters`` override the template's ``Parameters`` defaults (``--template-parameter``) and
    may set ``AWS::StackName`` / ``AWS::Region`` / ``AWS::AccountId``.
    """
    path = Path(path)
    data = read_template(path)
    label = str(path)
    resolver = Resolver(data, label, parameters or {})
    base = path.resolve().parent
    template = Template(path=path, functions=[], queues=[])
    origin = f"{TEMPLATE} {path.name}"
    globals_ = _globals(data, resolver)
    for logical_id, resource in resolver.resources.items():
        if not isinstance(resource, dict):
            continue
        if not _exists(resource, resolver, logical_id):
            continue
        if resource.get("Type") == QUEUE_TYPE:
            try:
                name = resolver.queue_name(logical_id)
            except TemplateError as exc:
                template.queue_errors[logical_id] = str(exc)
                continue
            try:
                template.queues.append(_queue_spec(logical_id, resource, resolver))
            except TemplateError as exc:
                template.queue_errors[name] = str(exc)
        elif resource.get("Type") == FUNCTION_TYPE:
            template.functions.extend(
                _function_specs(logical_id, resource, globals_, resolver, base, origin, template.warnings)
            )
    return template


def _exists(resource: Mapping[str, Any], resolver: Resolver, logical_id: str) -> bool:
    """False for a resource whose ``Condition`` is false (CloudFormation does not create it)."""
    condition = resource.get("Condition")
    return condition is None or resolver.condition(str(condition), f"Resources.{logical_id}.Condition")


def _globals(data: Mapping[str, Any], resolver: Resolver) -> dict[str, Any]:
    section = data.get("Globals") or {}
    if not isinstance(section, dict):
        raise resolver.error("Globals", "expected a mapping")
    function = section.get("Function") or {}
    if not isinstance(function, dict):
        raise resolver.error("Globals.Function", "expected a mapping")
    return function

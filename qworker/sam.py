"""Run an AWS SAM project unchanged: read ``template.yaml``'s functions, SQS events and queues.

Every ``AWS::Serverless::Function`` with an ``Events: {Name: {Type: SQS}}`` becomes one mapping
(:class:`~qworker.settings.sources.FunctionSpec`), with the function's ``Handler``, ``Timeout``,
``MemorySize``, ``Environment`` and ``CodeUri`` (the directory handlers are imported from), merged
over ``Globals.Function`` as SAM merges them, and the event's ``Queue``, ``BatchSize``,
``MaximumBatchingWindowInSeconds``, ``FunctionResponseTypes``, ``FilterCriteria``,
``ScalingConfig`` and ``Enabled``. Every ``AWS::SQS::Queue`` becomes a
:class:`~qworker.backend.QueueSpec` (``QueueName`` or the logical id, ``FifoQueue``,
``ContentBasedDeduplication``, ``VisibilityTimeout``, ``RedrivePolicy`` ...), so
``qworker check --template T --create-queues`` can create them, dead-letter queues first.

CloudFormation's intrinsic functions are resolved the way CloudFormation would, as far as a
template alone allows: ``Ref`` (parameters with their ``Default`` or a ``--template-parameter``
override, pseudo parameters, queues), ``Fn::GetAtt`` (a queue's ``Arn``, ``QueueName``,
``QueueUrl``), ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` (with
``Conditions``), ``Fn::FindInMap``, ``Fn::Base64``, in short (``!GetAtt Q.Arn``) and long form.
What needs a deployed stack (``Fn::ImportValue``, ``Fn::GetAtt`` of a table, ``Ref`` of a resource
without a fixed name) is an error naming the file, the resource and the property, unless a higher
layer (``qworker.toml``, the process environment) sets that value instead.

Queue names: a queue ARN's last field, a queue URL's last path segment; a queue defined in the
template is named by its ``QueueName`` or else its logical id (``.fifo`` appended for a FIFO queue
without a name, where CloudFormation would generate one).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from qworker import arn, limits
from qworker.backend import QueueSpec, RedrivePolicy
from qworker.errors import ConfigError, QWorkerError
from qworker.importer import normalize_target
from qworker.runtime.runtime_api import runtimes
from qworker.settings.sources import TEMPLATE, FunctionSpec

FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
DEFAULT_STACK_NAME = "qworker"  #: ``AWS::StackName`` unless ``--template-parameter AWS::StackName=...``

#: SQS event properties qworker reads (SAM ``SQSEventProperties``)
_EVENT_PROPERTIES = {
    "Queue",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "FilterCriteria",
    "ScalingConfig",
    "Enabled",
}
#: parsed and ignored, with a warning (they do not change what a handler sees)
_IGNORED_EVENT_PROPERTIES = {"KmsKeyArn", "MetricsConfig", "ProvisionedPollerConfig"}
#: the CloudFormation resource types whose ``Ref`` is the value of a name property qworker can read
_NAMED_BY_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Serverless::SimpleTable": "TableName",
}


class TemplateError(ConfigError):
    """The template cannot be read, or a value in it cannot be used (exit 2)."""


# -- YAML with CloudFormation's short-form tags -------------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that reads ``!Ref X`` as ``{"Ref": "X"}``, ``!GetAtt A.B`` as
    ``{"Fn::GetAtt": ["A", "B"]}`` and every other ``!Name`` tag as ``{"Fn::Name": ...}`` (the long
    form), so one resolver handles both forms. Unknown functions fail only where their value is used.
    """


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def read_template(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain data, long-form intrinsics."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read template {str(path)!r}: {exc}") from None
    try:
        data = yaml.load(text, Loader=CloudFormationLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise TemplateError(f"{path}: invalid YAML: nested too deeply") from None
    except ValueError as exc:  # PyYAML's int(): an integer of more than 4300 digits
        raise TemplateError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    _check_shape(data, str(path))
    for section in ("Parameters", "Conditions", "Mappings", "Globals", "Outputs"):
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise TemplateError(f"{path}: {section}: expected a mapping, got {data[section]!r}")
    return data


#: how deep a template may nest, and how many values it may hold once YAML aliases are expanded
#: (an alias is read again at each use: ``&a [x, x]``, ``&b [*a, *a]``... doubles per line)
MAX_TEMPLATE_DEPTH = 64
MAX_TEMPLATE_VALUES = 1_000_000


def _check_shape(data: Any, label: str) -> None:
    """Refuse what no CloudFormation template holds and what would make reading it fail or never
    end: a collection inside itself (``&a [*a]``), nesting deeper than MAX_TEMPLATE_DEPTH, more
    than MAX_TEMPLATE_VALUES values with aliases expanded, keys that are not strings."""
    count = 0
    stack: list[tuple[Any, int, str, bool]] = [(data, 0, "", False)]
    open_ids: set[int] = set()  # the collections on the current path
    while stack:
        node, depth, where, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(node))
            continue
        count += 1
        if count > MAX_TEMPLATE_VALUES:
            raise TemplateError(
                f"{label}: more than {MAX_TEMPLATE_VALUES} values once YAML aliases are expanded"
            )
        if not isinstance(node, dict | list):
            continue
        if id(node) in open_ids:
            raise TemplateError(
                f"{label}: {where or 'the template'} contains itself (a YAML alias refers to itself)"
            )
        if depth >= MAX_TEMPLATE_DEPTH:
            raise TemplateError(
                f"{label}: {where or 'the template'}: nested deeper than {MAX_TEMPLATE_DEPTH} levels"
            )
        open_ids.add(id(node))
        stack.append((node, depth, where, True))
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise TemplateError(
                        f"{label}: {where or 'the template'}: key {key!r} is not a string (quote it)"
                    )
                stack.append((value, depth + 1, f"{where}.{key}" if where else key, False))
        else:
            for i, value in enumerate(node):
                stack.append((value, depth + 1, f"{where}[{i}]", False))


# -- intrinsic functions -------------------------------------------------------------------------


class _NoValue:
    """``AWS::NoValue``: the property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Resolver:
    """Evaluates intrinsic functions against one template's parameters, conditions and resources."""

    def __init__(self, data: Mapping[str, Any], label: str, parameters: Mapping[str, str]) -> None:
        self.data = data
        self.label = label
        self.resources: Mapping[str, Any] = data.get("Resources") or {}
        self.parameters = dict(parameters)
        self._conditions: dict[str, bool] = {}
        self._queue_names: dict[str, str] = {}
        self._in_progress: set[str] = set()
        declared = data.get("Parameters") or {}
        for name, value in self.parameters.items():
            if name.startswith("AWS::"):
                continue
            if name not in declared:
                raise TemplateError(
                    f"{label}: --template-parameter {name}: the template declares no parameter of that name "
                    f"(declared: {', '.join(declared) or 'none'})"
                )
            allowed = declared[name].get("AllowedValues") if isinstance(declared[name], dict) else None
            if isinstance(allowed, list) and str(value) not in [str(v) for v in allowed]:
                raise TemplateError(
                    f"{label}: Parameters.{name}: {value!r} is not one of its AllowedValues {allowed!r}"
                )

    def error(self, where: str, message: str) -> TemplateError:
        return TemplateError(f"{self.label}: {where}: {message}")

    # -- values --

    def value(self, node: Any, where: str) -> Any:
        """``node`` with every intrinsic function evaluated (``NO_VALUE`` where removed)."""
        if isinstance(node, list):
            return [
                v
                for v in (self.value(item, f"{where}[{i}]") for i, item in enumerate(node))
                if v is not NO_VALUE
            ]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg, where)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg, where)
            if key.startswith("Fn::"):
                return self.function(key, arg, where)
        return {
            k: v
            for k, v in ((k, self.value(v, f"{where}.{k}")) for k, v in node.items())
            if v is not NO_VALUE
        }

    def text(self, node: Any, where: str) -> str:
        value = self.value(node, where)
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise self.error(where, f"expected a string, got {value!r}")
        return str(value)

    def ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise self.error(where, f"Ref takes a name, got {name!r}")
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        declared = self.data.get("Parameters") or {}
        if name in declared:
            return self._parameter(name, declared[name], where)
        resource = self.resources.get(name)
        if not isinstance(resource, dict):
            raise self.error(where, f"Ref {name}: no parameter or resource {name!r} in the template")
        kind = resource.get("Type")
        if kind == QUEUE_TYPE:
            queue = self.queue_name(name)
            return f"https://sqs.{arn.region()}.amazonaws.com/{arn.account_id()}/{queue}"
        prop = _NAMED_BY_PROPERTY.get(str(kind))
        props = resource.get("Properties")
        if prop and isinstance(props, dict) and prop in props:
            return self.text(resource["Properties"][prop], f"Resources.{name}.Properties.{prop}")
        raise self.error(
            where,
            f"Ref {name} ({kind}) is only known once CloudFormation has created the resource; "
            "qworker cannot resolve it",
        )

    def _pseudo(self, name: str) -> Any:
        if name in self.parameters and name.startswith("AWS::"):
            return self.parameters[name]
        return {
            "AWS::Region": arn.region(),
            "AWS::AccountId": arn.account_id(),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": DEFAULT_STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{arn.region()}:{arn.account_id()}:stack/"
            f"{DEFAULT_STACK_NAME}/00000000-0000-0000-0000-000000000000",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }.get(name)

    def _parameter(self, name: str, declaration: Any, where: str) -> Any:
        if name in self.parameters:
            value: Any = self.parameters[name]
        elif isinstance(declaration, dict) and "Default" in declaration:
            value = declaration["Default"]
        else:
            raise self.error(
                where,
                f"Ref {name}: parameter {name!r} has no Default; pass --template-parameter {name}=VALUE "
                "(or template_parameters in qworker.toml)",
            )
        kind = declaration.get("Type", "String") if isinstance(declaration, dict) else "String"
        if isinstance(value, list):
            return [str(v) for v in value]
        text = "true" if value is True else "false" if value is False else str(value)
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return [item.strip() for item in text.split(",")]
        return text

    def function(self, key: str, arg: Any, where: str) -> Any:
        handler = self._functions.get(key)
        if handler is None:
            if key == "Fn::ImportValue":
                raise self.error(
                    where,
                    f"Fn::ImportValue {arg!r} reads another stack's output, which qworker cannot see; "
                    "set this value in qworker.toml or the environment instead",
                )
            raise self.error(where, f"{key} is not supported by qworker's template reader")
        return handler(self, arg, where)

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.error(where, f"Fn::GetAtt takes [Resource, Attribute], got {arg!r}")
        resource_name, attribute = arg[0], self.text(arg[1], where)
        resource = self.resources.get(resource_name)
        if not isinstance(resource, dict):
            raise self.error(where, f"Fn::GetAtt {resource_name}.{attribute}: no resource {resource_name!r}")
        if resource.get("Type") != QUEUE_TYPE:
            raise self.error(
                where,
                f"Fn::GetAtt {resource_name}.{attribute} ({resource.get('Type')}) is only known once "
                "CloudFormation has created the resource; qworker resolves the attributes of "
                "AWS::SQS::Queue resources only",
            )
        queue = self.queue_name(resource_name)
        if attribute == "Arn":
            return arn.queue_arn(queue)
        if attribute == "QueueName":
            return queue
        if attribute == "QueueUrl":
            return f"https://sqs.{arn.region()}.amazonaws.com/{arn.account_id()}/{queue}"
        raise self.error(
            where, f"Fn::GetAtt {resource_name}.{attribute}: a queue has Arn, QueueName, QueueUrl"
        )

    _SUB = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            pattern, variables = arg[0], arg[1]
        elif isinstance(arg, str):
            pattern, variables = arg, {}
        else:
            raise self.error(where, f"Fn::Sub takes a string or [string, {{variables}}], got {arg!r}")
        if not isinstance(pattern, str):
            raise self.error(where, f"Fn::Sub's string is {pattern!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.text(variables[name], f"{where}.{name}")
            if "." in name and not name.startswith("AWS::"):
                return self.text(self._get_att(name.split(".", 1), where), where)
            return self.text(self.ref(name, where), where)

        return self._SUB.sub(replace, pattern)

    def _join(self, arg: Any, where: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.error(where, f"Fn::Join takes [delimiter, [values]], got {arg!r}")
        items = self.value(arg[1], where)
        if not isinstance(items, list):
            raise self.error(where, f"Fn::Join's values are not a list: {items!r}")
        return str(arg[0]).join(self.text(item, where) for item in items)

    def _select(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.error(where, f"Fn::Select takes [index, [values]], got {arg!r}")
        index, items = self.value(arg[0], where), self.value(arg[1], where)
        try:
            return items[int(index)]
        except (ValueError, TypeError, IndexError):
            raise self.error(where, f"Fn::Select: no item {index!r} in {items!r}") from None

    def _split(self, arg: Any, where: str) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.error(where, f"Fn::Split takes [delimiter, string], got {arg!r}")
        return self.text(arg[1], where).split(str(arg[0]))

    def _if(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise self.error(where, f"Fn::If takes [condition, if-true, if-false], got {arg!r}")
        return self.value(arg[1] if self.condition(arg[0], where) else arg[2], where)

    def _find_in_map(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise self.error(where, f"Fn::FindInMap takes [map, key, key], got {arg!r}")
        name, first, second = (self.text(item, where) for item in arg)
        try:
            return self.value(self.data["Mappings"][name][first][second], where)
        except (KeyError, TypeError):
            raise self.error(
                where, f"Fn::FindInMap: Mappings.{name}.{first}.{second} is not defined"
            ) from None

    def _base64(self, arg: Any, where: str) -> str:
        return base64.b64encode(self.text(arg, where).encode()).decode()

    def _equals(self, arg: Any, where: str) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise self.error(where, f"Fn::Equals takes two values, got {arg!r}")
        first, second = self.value(arg[0], where), self.value(arg[1], where)
        if isinstance(first, list | dict) or isinstance(second, list | dict):
            return bool(first == second)
        return str(first) == str(second)

    def _truth(self, node: Any, where: str) -> bool:
        value = self.value(node, where)
        if not isinstance(value, bool):
            raise self.error(where, f"expected a condition, got {value!r}")
        return value

    def condition(self, name: str, where: str) -> bool:
        if name not in self._conditions:
            conditions = self.data.get("Conditions") or {}
            if not isinstance(conditions, dict) or name not in conditions:
                raise self.error(where, f"condition {name!r} is not defined in Conditions")
            with self._resolving(f"condition {name}", where):
                self._conditions[name] = self._truth(conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    @contextmanager
    def _resolving(self, what: str, where: str) -> Iterator[None]:
        """Guard one resolution: a value that needs itself (a queue whose QueueName reads its own
        Arn, a condition built on itself) is an error, as CloudFormation's circular dependency."""
        if what in self._in_progress:
            raise self.error(where, f"circular reference: {what} depends on itself")
        self._in_progress.add(what)
        try:
            yield
        finally:
            self._in_progress.discard(what)

    _functions: ClassVar[dict[str, Callable[[Resolver, Any, str], Any]]] = {}  # filled below the class

    # -- queues --

    def queue_name(self, logical_id: str) -> str:
        """The queue name of an ``AWS::SQS::Queue`` resource: ``QueueName``, else the logical id."""
        if logical_id not in self._queue_names:
            with self._resolving(f"the name of queue {logical_id}", f"Resources.{logical_id}"):
                self._queue_names[logical_id] = self._resolve_queue_name(logical_id)
        return self._queue_names[logical_id]

    def _resolve_queue_name(self, logical_id: str) -> str:
        where = f"Resources.{logical_id}.Properties"
        props = self.resources[logical_id].get("Properties") or {}
        if not isinstance(props, dict):
            raise self.error(where, f"expected a mapping, got {props!r}")
        fifo = _boolean(
            self.value(props.get("FifoQueue", False), f"{where}.FifoQueue"), self, f"{where}.FifoQueue"
        )
        if "QueueName" in props:
            name = self.text(props["QueueName"], f"{where}.QueueName")
            if fifo != name.endswith(".fifo"):
                raise self.error(
                    f"{where}.QueueName",
                    f"{name!r}: a FIFO queue's name ends in .fifo, and only a FIFO queue's (FifoQueue: "
                    f"{'true' if fifo else 'false'})",
                )
        else:
            name = f"{logical_id}.fifo" if fifo else logical_id
        try:
            limits.validate_queue_name(name)
        except QWorkerError as exc:
            raise self.error(f"{where}.QueueName", str(exc)) from None
        return name

    def queue_of(self, node: Any, where: str) -> str:
        """The queue name an event's ``Queue`` (an ARN, a URL or a name) designates."""
        value = self.text(node, where)
        if value.startswith("arn:"):
            try:
                return arn.queue_name_from_arn(value)
            except ValueError as exc:
                raise self.error(where, str(exc)) from None
        if value.startswith(("https://", "http://")):
            return value.rstrip("/").rsplit("/", 1)[-1]
        return value


def _logic(
    name: str, combine: Callable[[list[bool]], bool], arity: int | None = None
) -> Callable[[Resolver, Any, str], bool]:
    """``Fn::And`` / ``Fn::Or`` / ``Fn::Not`` over conditions."""

    def evaluate(resolver: Resolver, arg: Any, where: str) -> bool:
        if not isinstance(arg, list) or not arg or (arity is not None and len(arg) != arity):
            raise resolver.error(where, f"{name} takes a list of conditions, got {arg!r}")
        return combine([resolver._truth(item, where) for item in arg])

    return evaluate


Resolver._functions = {
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::Base64": Resolver._base64,
    "Fn::Equals": Resolver._equals,
    "Fn::And": _logic("Fn::And", all),
    "Fn::Or": _logic("Fn::Or", any),
    "Fn::Not": _logic("Fn::Not", lambda values: not values[0], arity=1),
}


def _boolean(value: Any, resolver: Resolver, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise resolver.error(where, f"expected true or false, got {value!r}")


def _integer(value: Any, resolver: Resolver, where: str) -> int:
    if isinstance(value, bool):
        raise resolver.error(where, f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise resolver.error(where, f"expected a whole number, got {value!r}")


def _seconds(value: Any, resolver: Resolver, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise resolver.error(where, f"expected a number of seconds, got {value!r}")


# -- the template --------------------------------------------------------------------------------


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


def _queue_spec(logical_id: str, resource: Mapping[str, Any], resolver: Resolver) -> QueueSpec:
    where = f"Resources.{logical_id}.Properties"
    props = resolver.value(resource.get("Properties") or {}, where)
    if not isinstance(props, dict):
        raise resolver.error(where, "expected a mapping")
    name = resolver.queue_name(logical_id)
    fifo = name.endswith(".fifo")
    kwargs: dict[str, Any] = {}
    seconds = {
        "VisibilityTimeout": "visibility_timeout",
        "ReceiveMessageWaitTimeSeconds": "receive_wait_time_seconds",
    }
    whole = {
        "MessageRetentionPeriod": "message_retention_period",
        "DelaySeconds": "delay_seconds",
        "MaximumMessageSize": "maximum_message_size",
    }
    for prop, attr in seconds.items():
        if prop in props:
            kwargs[attr] = _seconds(props[prop], resolver, f"{where}.{prop}")
    for prop, attr in whole.items():
        if prop in props:
            kwargs[attr] = _integer(props[prop], resolver, f"{where}.{prop}")
    if "ContentBasedDeduplication" in props:
        kwargs["content_based_deduplication"] = _boolean(
            props["ContentBasedDeduplication"], resolver, f"{where}.ContentBasedDeduplication"
        )
        if kwargs["content_based_deduplication"] and not fifo:
            raise resolver.error(f"{where}.ContentBasedDeduplication", "is for FIFO queues only")
    if "DeduplicationScope" in props:
        scope = props["DeduplicationScope"]
        if scope not in ("queue", "messageGroup"):
            raise resolver.error(
                f"{where}.DeduplicationScope", f"expected queue or messageGroup, got {scope!r}"
            )
        kwargs["deduplication_scope"] = scope
    if "RedrivePolicy" in props:
        kwargs["redrive_policy"] = _redrive_policy(props["RedrivePolicy"], resolver, f"{where}.RedrivePolicy")
    spec = QueueSpec(name, **kwargs)
    try:
        limits.validate_queue_spec(spec)
    except QWorkerError as exc:
        raise resolver.error(where, str(exc)) from None
    return spec


def _redrive_policy(value: Any, resolver: Resolver, where: str) -> RedrivePolicy:
    if isinstance(value, str):  # CloudFormation also takes the policy as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise resolver.error(where, f"not a JSON object: {value!r}") from None
    if not isinstance(value, dict) or "deadLetterTargetArn" not in value or "maxReceiveCount" not in value:
        raise resolver.error(where, "expected {deadLetterTargetArn: <queue ARN>, maxReceiveCount: N}")
    target = resolver.queue_of(value["deadLetterTargetArn"], f"{where}.deadLetterTargetArn")
    count = _integer(value["maxReceiveCount"], resolver, f"{where}.maxReceiveCount")
    return RedrivePolicy(target, count)


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

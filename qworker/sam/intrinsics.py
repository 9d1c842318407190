"""CloudFormation's intrinsic functions and conditions, resolved as far as a template allows
outside CloudFormation (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``, ...)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from qworker import arn, limits
from qworker.errors import QWorkerError
from qworker.sam.names import _NAMED_BY_PROPERTY, DEFAULT_STACK_NAME, QUEUE_TYPE
from qworker.sam.yaml_reader import TemplateError


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

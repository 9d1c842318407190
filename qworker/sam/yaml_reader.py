"""Reading a SAM template's YAML or JSON, CloudFormation tags included, with bounded shape
(depth, size, cycles): a template is outside input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from qworker.errors import ConfigError


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

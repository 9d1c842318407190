"""Checking one value of a setting, as a config file or template gives it.

TOML is typed, so a wrong type is an error, never a silent conversion: ``batch_size = "10"`` is
refused with the file, the key and what was expected. Ranges are checked after the sources are
combined (:meth:`qworker.settings.schema.Setting.out_of_range`), with AWS's wording where Lambda
checks them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from qworker.errors import ConfigError
from qworker.settings.schema import Setting


class ConfigFileError(ConfigError):
    """A configuration file is unreadable or holds an invalid key or value (exit 2)."""


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigFileError(f"{where}: expected a whole number, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigFileError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # TOML integers have no size limit in tomllib; a float does
        raise ConfigFileError(f"{where}: {value} is too large a number") from None


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigFileError(f"{where}: expected true or false, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigFileError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def patterns(value: Any, where: str) -> tuple[str, ...]:
    """Filter patterns: JSON strings (as in ``Filters[].Pattern``) or tables, one per filter."""
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigFileError(f"{where}: expected a list of filter patterns, got {value!r}")
    out = []
    for i, pattern in enumerate(value):
        if isinstance(pattern, dict):
            try:
                out.append(json.dumps(pattern, allow_nan=False))
            except (TypeError, ValueError) as exc:  # a TOML date or time, nan, inf: not JSON
                raise ConfigFileError(
                    f"{where}[{i}]: a filter pattern table must hold JSON values: {exc}"
                ) from None
        elif isinstance(pattern, str):
            out.append(pattern)
        else:
            raise ConfigFileError(
                f"{where}[{i}]: a filter pattern is a JSON string or a table, got {pattern!r}"
            )
    return tuple(out)


def variables(value: Any, where: str) -> dict[str, str]:
    """Environment variables: a table of names to strings (numbers and booleans are written out)."""
    if not isinstance(value, dict):
        raise ConfigFileError(f'{where}: expected a table of NAME = "value", got {value!r}')
    out = {}
    for name, item in value.items():
        if isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            out[name] = str(item)
        else:
            raise ConfigFileError(f"{where}.{name}: an environment variable is a string, got {item!r}")
    return out


def parse_backoff(value: str, where: str = "--retry-backoff") -> tuple[float, float]:
    """``BASE`` or ``BASE:MAX`` seconds -> ``(base, maximum)`` (ConfigError when malformed)."""
    base_text, _, max_text = value.partition(":")
    try:
        base = float(base_text)
        maximum = float(max_text) if max_text else 900.0
    except ValueError:
        raise ConfigError(
            f"{where} takes BASE or BASE:MAX seconds (for example 1:300), not {value!r}"
        ) from None
    if not 0 < base <= maximum <= 43_200:
        raise ConfigError(f"{where} needs 0 < BASE <= MAX <= 43200, not {value!r}")
    return base, maximum


def _backoff(value: Any, where: str) -> str:
    text = _text(value, where)
    parse_backoff(text, where)
    return text


_BY_KIND: dict[str, Callable[[Any, str], Any]] = {
    "int": _whole,
    "float": _number,
    "bool": _flag,
    "text": _text,
    "patterns": patterns,
    "variables": variables,
    "backoff": _backoff,
}


def check(setting: Setting, value: Any, where: str) -> Any:
    """``value`` for ``setting`` from a file, type-checked; raises ConfigFileError. Ranges are
    checked once every source is combined, with AWS's wording (the mapping's validation)."""
    if setting.kind == "choice":
        if value not in setting.choices:
            choices = ", ".join(map(repr, setting.choices))
            raise ConfigFileError(f"{where}: expected one of {choices}, got {value!r}")
        return str(value)
    return _BY_KIND[setting.kind](value, where)


def check_table(table: Any, vocabulary: Mapping[str, Setting], where: str) -> dict[str, Any]:
    """Every key of a TOML table, checked; an unknown key is an error that suggests a near one."""
    import difflib

    if not isinstance(table, dict):
        raise ConfigFileError(f"{where}: expected a table, got {table!r}")
    out = {}
    for key, value in table.items():
        setting = vocabulary.get(key)
        if setting is None:
            close = difflib.get_close_matches(key, list(vocabulary), n=1)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else f"; known keys: {', '.join(sorted(vocabulary))}"
            )
            raise ConfigFileError(f"{where}: unknown key {key!r}{hint}")
        out[key] = check(setting, value, f"{where} {key}")
    return out

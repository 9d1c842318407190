"""The click parameters of ``qworker run`` and ``qworker check``, made from the settings table.

Every :class:`~qworker.settings.schema.Setting` on the command line becomes one click option (the
handler a positional argument), with its environment variable ``QWORKER_<KEY>``, its default and
its help (``[qworker]`` marks what goes beyond Lambda). :func:`given_values` reads back each value
with where it came from, for :func:`qworker.settings.layers.resolve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from qworker.registry import DEFAULT_BACKEND_URL
from qworker.settings.layers import CLI, DEFAULT, Given
from qworker.settings.schema import SETTINGS, Setting

F = TypeVar("F", bound=Callable[..., Any])

_TYPES: dict[str, Any] = {"int": int, "float": float}  # the other kinds are text on the command line


def _default(setting: Setting) -> Any:
    if setting.key == "backend":
        return DEFAULT_BACKEND_URL
    if setting.multiple or setting.kind == "bool":
        return None if setting.multiple else bool(setting.default)
    return setting.default


def click_parameter(setting: Setting) -> Callable[[F], F]:
    """The click decorator for one setting."""
    if setting.argument:
        return click.argument(setting.key, envvar=setting.envvar, required=False)
    help_text = ("[qworker] " if setting.beyond_lambda else "") + setting.help
    common: dict[str, Any] = {"envvar": setting.envvar, "show_envvar": True, "help": help_text}
    if setting.metavar:
        common["metavar"] = setting.metavar
    if setting.kind == "bool":
        return click.option(setting.flag, setting.key, is_flag=True, **common)
    if setting.kind == "choice":
        kind: Any = click.Choice(list(setting.choices))
    else:
        kind = _TYPES.get(setting.kind, str)
    default = _default(setting)
    return click.option(
        setting.flag,
        setting.key,
        type=kind,
        multiple=setting.multiple,
        default=default,
        show_default=default is not None and not setting.multiple,
        **common,
    )


def worker_options(func: F) -> F:
    """Every ``qworker run`` parameter (``qworker check`` takes the same, to check the same thing)."""
    for setting in reversed(SETTINGS):
        if setting.on_command_line:
            func = click_parameter(setting)(func)
    return func


def given_values(ctx: click.Context) -> dict[str, Given]:
    """Each setting's value and where it came from: ``cli``, ``env QWORKER_X`` or ``default``."""
    given = {}
    for setting in SETTINGS:
        key = setting.key
        if not setting.on_command_line or key not in ctx.params:
            continue
        source = ctx.get_parameter_source(key)
        if source is ParameterSource.COMMANDLINE:
            origin = CLI
        elif source is ParameterSource.ENVIRONMENT:
            origin = f"env {setting.envvar}"
        else:
            origin = DEFAULT
        value = ctx.params[key]
        given[key] = Given(tuple(value) if setting.multiple and value is not None else value, origin)
    return given

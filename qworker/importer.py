"""Import the handler named by ``module:attr``, the way uvicorn imports an app.

The handler target comes from the command line, a config file or the environment at start-up,
never from a message (RELIABILITY.md §3.5): a message that could name code to run would be code
execution by anyone who can write to the queue. The target is checked against a strict pattern
and imported once.

Lambda's own ``Handler`` setting is ``module.function`` (``app.handler``); that form is accepted
too when it has no colon, so a SAM template's handler works unchanged.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qworker.errors import HandlerImportError

_TARGET = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
_LAMBDA_TARGET = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*\.[A-Za-z_][\w]*")


def normalize_target(target: str) -> str:
    """``module:attr`` for a ``module:attr`` or Lambda-style ``module.attr`` target."""
    target = target.strip()
    if _TARGET.fullmatch(target):
        return target
    if ":" not in target and _LAMBDA_TARGET.fullmatch(target):
        module, _, attr = target.rpartition(".")
        return f"{module}:{attr}"
    raise HandlerImportError(
        f'Handler {target!r} is not of the form "module:function" (for example "app:handler" or '
        f'"package.module:handler"; Lambda\'s "app.handler" form is accepted too).'
    )


def import_from_string(target: str, app_dir: str | Path | None = ".") -> Callable[..., Any]:
    """Import and return the callable named by ``target``.

    ``app_dir`` (default: the current directory) is put first on ``sys.path``, as uvicorn and
    Lambda do, so ``app:handler`` finds ``./app.py``. Raises
    :class:`~qworker.errors.HandlerImportError` (exit code 4) with a message that says which part
    failed: the form of the target, the module import (with the inner error when the module
    itself failed to import something), the attribute lookup, or a non-callable attribute.
    """
    module_name, _, attrs = normalize_target(target).partition(":")
    if app_dir is not None:
        path = str(Path(app_dir).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise HandlerImportError(
                f"Could not import module {module_name!r}: it failed to import {exc.name!r} ({exc})."
            ) from exc
        raise HandlerImportError(
            f"Could not import module {module_name!r}: no such module (looked in {sys.path[0]!r} "
            "and the installed packages)."
        ) from exc
    except Exception as exc:  # the module raised while importing: show what and where
        raise HandlerImportError(
            f"Importing module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    value: Any = module
    for attr in attrs.split("."):
        try:
            value = getattr(value, attr)
        except AttributeError:
            raise HandlerImportError(f"Attribute {attrs!r} not found in module {module_name!r}.") from None
    if not callable(value):
        raise HandlerImportError(
            f"{module_name}:{attrs} is a {type(value).__name__}, not a function: a handler is "
            "def handler(event, context) or async def handler(event, context)."
        )
    return value


def extend_import_path(directories: list[str]) -> None:
    """Put more code directories (several SAM ``CodeUri``\\ s) on ``sys.path`` and ``PYTHONPATH``.

    ``PYTHONPATH`` too, so handlers run with ``--isolation process`` import the same modules.
    """
    import os

    for directory in reversed(directories):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    if directories:
        current = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([*directories, *([current] if current else [])])

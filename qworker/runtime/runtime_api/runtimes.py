"""Lambda's runtime identifiers, and which of them qworker runs through the Runtime API.

Dependency-free on purpose: the settings (:mod:`qworker.runtime.config`) and the SAM reader ask
"does this function go through the Runtime API?" without loading the HTTP stack.

* ``python3.x``: in process (threads, ``async``) or ``--isolation process``; with
  ``--isolation runtime-api``, through AWS's ``awslambdaric``;
* ``nodejsN.x`` (``nodejs18.x``, ``nodejs20.x``, ``nodejs22.x``): ``node`` and qworker's Runtime
  API client for Node.js;
* ``provided``, ``provided.al2``, ``provided.al2023``: ``CodeUri/bootstrap``;
* anything else (``java21``, ``dotnet8``, ``ruby3.3``): not supported; build the function as
  ``provided.al2023`` with a ``bootstrap``, or give a ``--runtime-command``.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Literal

Family = Literal["python", "nodejs", "provided"]

_NODE = re.compile(r"nodejs(\d+)\.x")


def family(runtime: str | None) -> Family | None:
    """The family of a ``Runtime`` value, ``None`` for one qworker cannot run."""
    if not runtime:
        return None
    if runtime.startswith("python"):
        return "python"
    if _NODE.fullmatch(runtime):
        return "nodejs"
    if runtime == "provided" or runtime.startswith("provided."):
        return "provided"
    return None


def node_major(runtime: str) -> int | None:
    """The Node.js major version a ``nodejsN.x`` runtime names (``nodejs20.x`` -> 20)."""
    match = _NODE.fullmatch(runtime)
    return int(match.group(1)) if match else None


def unsupported(runtime: str) -> str:
    """Why a ``Runtime`` cannot run here, and what to do instead."""
    return (
        f"Runtime {runtime} is not supported by qworker (it runs python3.x, nodejsN.x and "
        "provided.al2023/provided.al2 functions); build the function with a bootstrap as "
        "provided.al2023, or run it with --runtime-command"
    )


def uses_runtime_api(runtime: str | None, runtime_command: str | None, isolation: str) -> bool:
    """True when the function runs as a process speaking the Runtime API."""
    if runtime_command or isolation == "runtime-api":
        return True
    return family(runtime) in ("nodejs", "provided")


def command_name(command: str) -> str:
    """A function name from a ``--runtime-command`` (``./bin/bootstrap --x`` -> ``bootstrap``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return os.path.basename(words[0]) if words and os.path.basename(words[0]) else "function"


def problem(runtime: str | None, runtime_command: str | None, isolation: str, handler: str) -> str | None:
    """What is wrong with a function's runtime settings, or ``None`` (checked with the mapping)."""
    if runtime_command is not None:
        try:
            words = shlex.split(runtime_command)
        except ValueError as exc:
            return f"--runtime-command {runtime_command!r} cannot be read as a command line: {exc}"
        if not words:
            return "--runtime-command is empty: give the command that runs the runtime (e.g. ./bootstrap)"
        if isolation == "process":
            return "--runtime-command runs its own processes: it cannot be combined with --isolation process"
        return None
    kind = family(runtime)
    if runtime and kind is None:
        return unsupported(runtime)
    if kind == "nodejs" and "." not in handler:
        return (
            f"Handler {handler!r} of a {runtime} function must be FILE.EXPORT (e.g. index.handler, "
            "src/app.handler), as Lambda's Node.js runtime reads it"
        )
    if isolation == "runtime-api" and kind is None and not handler:
        return "--isolation runtime-api needs a handler (MODULE:HANDLER) or --runtime-command"
    return None

"""What a runtime process is: its command, its directory and Lambda's environment variables.

:func:`resolve` is called when the worker starts (where a Python handler would be imported): a
runtime that is not installed, a ``bootstrap`` that is missing or not executable, fail there
with exit code 4 and a message that says what to install or build.

The environment is the worker's own (``PATH``, ``HOME``, AWS credentials: what a local process
needs), then the function's ``Environment.Variables``, then the variables Lambda reserves
(``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``,
``AWS_REGION``, ``TZ=:UTC`` ...), which the function cannot override, as in Lambda.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from qworker.context import FunctionInfo, new_log_stream_name
from qworker.errors import HandlerImportError
from qworker.runtime.config import MappingConfig
from qworker.runtime.runtime_api import runtimes

log = structlog.get_logger("qworker")

#: qworker's Runtime API client for Node.js: one file, no dependencies
NODE_CLIENT = Path(__file__).with_name("node_client.cjs")


class RuntimeNotAvailable(HandlerImportError):
    """The function's runtime is not installed, or its bootstrap is missing (exit 4)."""


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one runtime process of a function."""

    argv: tuple[str, ...]
    code_dir: str  #: the working directory and ``LAMBDA_TASK_ROOT``
    handler: str  #: ``_HANDLER``
    runtime: str  #: ``nodejs20.x``, ``provided.al2023``, ``python3.12``, or ``custom`` (--runtime-command)
    runtime_dir: str  #: ``LAMBDA_RUNTIME_DIR``
    execution_env: str | None  #: ``AWS_EXECUTION_ENV`` (Lambda sets none for OS-only runtimes)
    function_env: tuple[tuple[str, str], ...] = ()  #: the function's own variables

    def environment(self, function: FunctionInfo, api_address: str) -> dict[str, str]:
        """The process environment of one execution environment (its own log stream)."""
        env = dict(os.environ)
        env.update(self.function_env)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": api_address,
                "_HANDLER": self.handler,
                "LAMBDA_TASK_ROOT": self.code_dir,
                "LAMBDA_RUNTIME_DIR": self.runtime_dir,
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": function.version,
                "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": new_log_stream_name(function.version),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "TZ": ":UTC",
            }
        )
        env.setdefault("LANG", "en_US.UTF-8")
        if self.execution_env:
            env["AWS_EXECUTION_ENV"] = self.execution_env
        else:
            env.pop("AWS_EXECUTION_ENV", None)
        return env


def resolve(config: MappingConfig, app_dir: str | None) -> Launch:
    """The :class:`Launch` of a Runtime API function; :class:`RuntimeNotAvailable` if it cannot run."""
    code_dir = str(Path(config.code_dir or app_dir or ".").resolve())
    function_env = tuple(config.environment.items())
    if config.runtime_command:
        return _custom(config, code_dir, function_env)
    kind = runtimes.family(config.runtime) if config.runtime else "python"
    runtime = config.runtime or f"python{sys.version_info.major}.{sys.version_info.minor}"
    if kind == "nodejs":
        return Launch(
            (_node(runtime), str(NODE_CLIENT)),
            code_dir,
            config.handler,
            runtime,
            str(NODE_CLIENT.parent),
            f"AWS_Lambda_{runtime}",
            function_env,
        )
    if kind == "provided":
        return Launch(
            (_bootstrap(Path(code_dir), config.name),),
            code_dir,
            config.handler,
            runtime,
            code_dir,
            None,
            function_env,
        )
    if kind == "python":
        return _python(config, code_dir, runtime, function_env)
    raise RuntimeNotAvailable(runtimes.unsupported(runtime))


def _custom(config: MappingConfig, code_dir: str, function_env: tuple[tuple[str, str], ...]) -> Launch:
    assert config.runtime_command is not None
    words = shlex.split(config.runtime_command)
    program = words[0]
    found = shutil.which(program, path=os.environ.get("PATH")) if os.sep not in program else None
    if found is None:
        path = Path(code_dir) / program if not os.path.isabs(program) else Path(program)
        if not path.is_file():
            raise RuntimeNotAvailable(
                f"--runtime-command {config.runtime_command!r}: {program} was not found "
                f"(looked in {code_dir} and on PATH)"
            )
        if not os.access(path, os.X_OK):
            raise RuntimeNotAvailable(f"--runtime-command: {path} is not executable (chmod +x {path})")
        found = str(path.resolve())
    return Launch(
        (found, *words[1:]),
        code_dir,
        config.handler,  # as given: a Java handler is pkg.Class::method
        config.runtime or "custom",
        code_dir,
        None,
        function_env,
    )


@functools.lru_cache(maxsize=8)
def _node(runtime: str) -> str:
    """The ``node`` executable for a ``nodejsN.x`` runtime (a different major only warns)."""
    node = shutil.which("node")
    major = runtimes.node_major(runtime)
    if node is None:
        raise RuntimeNotAvailable(
            f"Runtime {runtime} needs Node.js {major} on PATH: install it (https://nodejs.org, or "
            "your package manager, e.g. apt-get install nodejs) and run qworker again"
        )
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeNotAvailable(f"Runtime {runtime}: {node} --version failed ({exc})") from None
    installed = version.lstrip("v").split(".")[0]
    if installed.isdigit() and major is not None and int(installed) != major:
        log.warning(
            "the installed Node.js is not the version the function's Runtime names; running it anyway",
            runtime=runtime,
            node=version,
        )
    return node


def _bootstrap(code_dir: Path, function: str) -> str:
    """``CodeUri/bootstrap`` of a ``provided.*`` function, checked."""
    path = code_dir / "bootstrap"
    if not path.is_file():
        raise RuntimeNotAvailable(
            f"{function}: a provided.* runtime runs CodeUri/bootstrap, and {path} does not exist: build "
            "the function first (e.g. `sam build`, `cargo lambda build`, `GOOS=linux go build -o bootstrap`) "
            "or point --app-dir / CodeUri at the directory that has it"
        )
    if not os.access(path, os.X_OK):
        raise RuntimeNotAvailable(f"{function}: {path} is not executable (chmod +x {path})")
    return str(path)


def _python(
    config: MappingConfig, code_dir: str, runtime: str, function_env: tuple[tuple[str, str], ...]
) -> Launch:
    """A Python function through AWS's own runtime interface client, ``awslambdaric``."""
    spec = importlib.util.find_spec("awslambdaric")
    if spec is None or spec.origin is None:
        raise RuntimeNotAvailable(
            "--isolation runtime-api runs Python handlers with AWS's runtime interface client: "
            "pip install 'qworker[runtime-api]' (or pip install awslambdaric)"
        )
    handler = config.handler.replace(":", ".")
    return Launch(
        (sys.executable, "-m", "awslambdaric", handler),
        code_dir,
        handler,
        runtime,
        str(Path(spec.origin).parent),
        f"AWS_Lambda_{runtime}",
        function_env,
    )


def runtime_api_stand_in(config: MappingConfig, app_dir: str | None) -> Callable[..., Any]:
    """Check that the function's runtime can start (exit 4 if not); the worker's stand-in for
    the Python handler it does not import."""
    resolve(config, app_dir)

    def runs_in_a_runtime_process(event: Any, context: Any) -> Any:
        raise RuntimeError("this function runs in a runtime process, through the Runtime API")

    return runs_in_a_runtime_process

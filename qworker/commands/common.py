"""What every ``qworker`` command shares: the ``--backend``/``--queue`` options, running a coroutine
against a connected backend, and turning failures into one ``error:`` line and an exit code.

Exit codes are DESIGN.md's (:class:`~qworker.errors.ExitCode`): each qworker exception carries its
own ``exit_code``, so a command only raises and :class:`QworkerGroup` prints. Click's usage errors
are reworded to the same one-line form, so a script sees one error format whatever went wrong.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from qworker.errors import BackendUnavailable, ExitCode, PurgeQueueInProgress, QueueDoesNotExist, QWorkerError
from qworker.redaction import redact_text, redact_url
from qworker.registry import DEFAULT_BACKEND_URL, open_backend

if TYPE_CHECKING:
    from qworker.backend import Backend

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

ENV_PREFIX = "QWORKER"
ENV_BACKEND = "QWORKER_BACKEND"
ENV_QUEUE = "QWORKER_QUEUE"
#: set to any non-empty value to get a traceback instead of the one-line "internal error"
ENV_DEBUG = "QWORKER_DEBUG"


class CommandError(click.ClickException):
    """A failure to report as one ``error: ...`` line on stderr, with an explicit exit code."""

    def __init__(self, message: str, exit_code: int = ExitCode.USAGE) -> None:
        one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
        super().__init__(scrub(one_line))
        self.exit_code = int(exit_code)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def usage_error(message: str) -> NoReturn:
    """Stop the command: bad arguments or input (exit 2)."""
    raise CommandError(message, ExitCode.USAGE)


def scrub(text: str) -> str:
    """``text`` with every credential in it replaced by ``***`` (see :mod:`qworker.redaction`)."""
    return redact_text(text)


class QworkerGroup(click.Group):
    """A click group that reports every failure of its commands as one ``error:`` line.

    Click's own usage errors (missing argument, bad integer, ...) keep their text and exit code 2
    but lose the multi-line usage banner; qworker errors exit with their ``exit_code``; anything
    else is a bug: exit 1 with one line, or a traceback when ``QWORKER_DEBUG`` is set.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _reported_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _reported_errors():
            return super().invoke(ctx)


@contextmanager
def _reported_errors() -> Iterator[None]:
    try:
        yield
    except (CommandError, click.exceptions.Exit, click.exceptions.Abort, click.exceptions.NoArgsIsHelpError):
        raise
    except click.UsageError as exc:
        raise CommandError(_usage_text(exc), exc.exit_code) from None
    except click.ClickException as exc:
        raise CommandError(exc.format_message(), exc.exit_code) from None
    except QWorkerError as exc:
        raise CommandError(describe(exc), exc.exit_code) from None
    except BrokenPipeError:
        raise  # stdout closed (``| head``): click exits 1 quietly
    except Exception as exc:
        if os.environ.get(ENV_DEBUG):
            raise
        raise CommandError(
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in qworker; run again with "
            f"{ENV_DEBUG}=1 for the traceback and report it.",
            ExitCode.RUNTIME_FAILURE,
        ) from None


def _usage_text(exc: click.UsageError) -> str:
    text = exc.format_message()
    if exc.ctx is not None:
        text = f"{text.rstrip('.')}. See '{exc.ctx.command_path} --help'."
    return text


def describe(exc: QWorkerError, backend_url: str | None = None) -> str:
    """The one-line text for a qworker error, with what to do about it where we know (redacted)."""
    return redact_text(_describe(exc, backend_url))


def _describe(exc: QWorkerError, backend_url: str | None) -> str:
    where = f" on {redact_url(backend_url)}" if backend_url else ""
    if isinstance(exc, QueueDoesNotExist):
        fifo = " --fifo" if exc.queue.endswith(".fifo") else ""
        return (
            f"{exc}{where}. List queues with 'qworker queue list'; create it with "
            f"'qworker queue create {exc.queue}{fifo}'."
        )
    if isinstance(exc, PurgeQueueInProgress):
        wait = f"in {math.ceil(exc.retry_after)} s" if exc.retry_after is not None else "within a minute"
        return f"{exc} Queue {exc.queue!r} was purged less than 60 seconds ago: try again {wait}."
    if isinstance(exc, BackendUnavailable):
        target = redact_url(backend_url) if backend_url else "the backend"
        return (
            f"cannot reach {target}: {str(exc).rstrip('.')}. Check --backend / {ENV_BACKEND} and that the "
            "backend is running and reachable."
        )
    return str(exc)


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` that shows its environment variable in ``--help``."""
    attrs.setdefault("show_envvar", True)
    return click.option(*param_decls, **attrs)


def backend_option(func: F) -> F:
    """``--backend URL`` (env ``QWORKER_BACKEND``, default ``sqlite:///qworker.db``)."""
    return click.option(
        "--backend",
        "backend_url",
        envvar=ENV_BACKEND,
        default=DEFAULT_BACKEND_URL,
        show_default=True,
        show_envvar=True,
        metavar="URL",
        help="Queue backend: sqlite:///PATH, sqlite://, redis://HOST:PORT/DB, rediss://..., sqs://, memory://NAME.",
    )(func)


def queue_option(func: F) -> F:
    """``--queue NAME`` (env ``QWORKER_QUEUE``); check it with :func:`require_queue`."""
    return click.option(
        "--queue",
        "queue",
        envvar=ENV_QUEUE,
        show_envvar=True,
        metavar="NAME",
        help="Queue name (FIFO names end in .fifo).",
    )(func)


def require_queue(queue: str | None) -> str:
    """The queue name, or a usage error that says both ways to give one."""
    if not queue:
        usage_error(f"no queue given: pass --queue NAME or set {ENV_QUEUE}.")
    return queue


def run_with_backend(backend_url: str, action: Callable[[Backend], Awaitable[T]]) -> T:
    """Connect to the backend, run ``action`` with it, close it; return what ``action`` returns.

    qworker errors become :class:`CommandError` with their exit code and a hint that names the
    backend (its password redacted): an unreachable backend exits 3, an unknown queue 2.
    """

    async def go() -> T:
        backend = open_backend(backend_url)
        await backend.connect()
        try:
            return await action(backend)
        finally:
            await backend.close()

    try:
        return asyncio.run(go())
    except QWorkerError as exc:
        raise CommandError(describe(exc, backend_url), exc.exit_code) from None


def is_terminal(stream: IO[Any]) -> bool:
    """True when ``stream`` is an interactive terminal (False for pipes, files, test runners)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def silence_stdout() -> None:
    """Point stdout at /dev/null after the reader went away, so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def stdout_is_terminal() -> bool:
    return is_terminal(sys.stdout)


def stderr_is_terminal() -> bool:
    return is_terminal(sys.stderr)

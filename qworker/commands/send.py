"""``qworker send``: send messages from arguments, a file or stdin; print their ids.

The command validates everything before it sends anything: the queue exists, the options suit
its type (FIFO needs ``--group-id``; ``--dedup-id`` is FIFO only), and every body fits the
queue's size limit. A file with one bad line among 10,000 sends nothing and the error names the
line. Then it sends in batches of :data:`SEND_BATCH` per backend call and prints one message id
per line, in input order, as each batch is acknowledged.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

import click

from qworker import limits
from qworker.backend import Backend, MessageAttributeValue, QueueSpec, SendEntry
from qworker.commands.common import (
    CommandError,
    backend_option,
    describe,
    option,
    queue_option,
    require_queue,
    run_with_backend,
    silence_stdout,
    stderr_is_terminal,
    stdout_is_terminal,
    usage_error,
)
from qworker.commands.send_input import Body, bodies_from_arguments, bodies_from_lines, parse_attributes
from qworker.errors import ExitCode, QWorkerError

#: messages per backend call: large enough to amortise a round trip, small enough to report early
SEND_BATCH = 500
#: sends of at least this many messages show a progress bar (when stderr is a terminal)
PROGRESS_THRESHOLD = 1_000
#: invalid inputs listed in one error before "and N more"
_ERRORS_SHOWN = 3


@click.command("send", short_help="Send messages; print their ids.")
@click.argument("bodies", nargs=-1, metavar="[BODY]...")
@queue_option
@option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="F",
    help="Send each non-blank line of F (UTF-8; - for stdin) as one message body, exactly as written.",
)
@option("--group-id", metavar="G", help="MessageGroupId of every message (required on FIFO queues).")
@option(
    "--dedup-id",
    metavar="ID",
    help="MessageDeduplicationId (FIFO). With several messages it must contain {n}, replaced by 1, 2, ...",
)
@option(
    "--delay",
    type=click.IntRange(0, limits.MAX_DELAY_SECONDS),
    metavar="S",
    help="Seconds before the messages become visible (standard queues only).",
)
@option(
    "--attribute",
    "attribute",
    multiple=True,
    metavar="NAME=TYPE:VALUE",
    help="Message attribute (repeatable). TYPE: String, Number or Binary (base64 VALUE), "
    "optionally labelled (Number.int).",
)
@backend_option
def send_command(
    bodies: tuple[str, ...],
    queue: str | None,
    file: str | None,
    group_id: str | None,
    dedup_id: str | None,
    delay: int | None,
    attribute: tuple[str, ...],
    backend_url: str,
) -> None:
    """Send messages to --queue and print their message ids, one a line, in order.

    Bodies come from BODY arguments, from --file F (one body per non-blank line; the line is the
    body as is, so a JSON Lines file sends one JSON document per message), or from stdin with
    '-' or '--file -'. Nothing is sent unless every message is valid.

    \b
    Examples:
      qworker send --queue orders '{"id": 1}' '{"id": 2}'
      qworker send --queue orders --file orders.jsonl --attribute source=String:import
      cat events.jsonl | qworker send --queue events.fifo --group-id g1 --dedup-id 'batch7-{n}' -
    """
    queue_name = require_queue(queue)
    attributes = parse_attributes(attribute)
    messages = _read_bodies(bodies, file)

    async def send(backend: Backend) -> None:
        spec = (await backend.get_queue(queue_name)).spec
        entries = plan_entries(spec, messages, attributes, group_id, dedup_id, delay)
        await send_entries(backend, queue_name, entries, messages)

    run_with_backend(backend_url, send)


def _read_bodies(arguments: Sequence[str], file_path: str | None) -> list[Body]:
    if file_path is not None and arguments:
        usage_error("give bodies as BODY arguments or with --file, not both.")
    if list(arguments) == ["-"]:
        file_path = "-"
    elif "-" in arguments:
        usage_error("'-' (read stdin) must be the only BODY argument.")
    if file_path is None:
        if not arguments:
            usage_error("nothing to send: give BODY arguments, --file F, or - to read stdin.")
        return bodies_from_arguments(arguments)
    if file_path == "-":
        messages = bodies_from_lines(sys.stdin.buffer, "stdin")
    else:
        with open(file_path, "rb") as stream:
            messages = bodies_from_lines(stream, file_path)
    if not messages:
        usage_error(f"nothing to send: {'stdin' if file_path == '-' else file_path} has no non-blank line.")
    return messages


def plan_entries(
    spec: QueueSpec,
    messages: Sequence[Body],
    attributes: dict[str, MessageAttributeValue],
    group_id: str | None,
    dedup_id: str | None,
    delay: int | None,
) -> list[SendEntry]:
    """The entries to send, after checking the options against the queue and every entry.

    Raises a usage error (exit 2) for the first problem; nothing has been sent at that point.
    """
    _check_options(spec, len(messages), group_id, dedup_id, delay)
    probe = SendEntry(
        "x",
        message_attributes=attributes,
        delay_seconds=delay,
        message_group_id=group_id,
        message_deduplication_id=dedup_id.replace("{n}", "1") if dedup_id else None,
    )
    error = limits.check_send_entry(probe, "0", spec)
    if error is not None:
        usage_error(f"{error.message} (queue {spec.name}; this concerns the options, not a body)")
    entries = []
    problems: list[str] = []
    for number, message in enumerate(messages, 1):
        entry = SendEntry(
            message.text,
            message_attributes=attributes,
            delay_seconds=delay,
            message_group_id=group_id,
            message_deduplication_id=dedup_id.replace("{n}", str(number)) if dedup_id else None,
        )
        error = limits.check_send_entry(entry, "0", spec)
        if error is not None:
            problems.append(f"{message.where}: {error.message}")
        entries.append(entry)
    if problems:
        more = len(problems) - _ERRORS_SHOWN
        text = "; ".join(problems[:_ERRORS_SHOWN])
        if more > 0:
            text += f"; and {more} more invalid message{'s' if more > 1 else ''}"
        usage_error(f"{text}. Nothing was sent.")
    return entries


def _check_options(
    spec: QueueSpec, count: int, group_id: str | None, dedup_id: str | None, delay: int | None
) -> None:
    name = spec.name
    if spec.fifo:
        if group_id is None:
            usage_error(f"queue {name} is a FIFO queue: every message needs a group id; pass --group-id G.")
        if delay is not None:
            usage_error(
                f"--delay is not allowed on FIFO queue {name}: FIFO queues only delay by the queue's "
                "DelaySeconds (qworker queue create --delay)."
            )
        if dedup_id is None and not spec.content_based_deduplication:
            usage_error(
                f"queue {name} has no content-based deduplication: pass --dedup-id ID (with {{n}} for one "
                "id per message) or create the queue with --content-based-dedup."
            )
    elif dedup_id is not None:
        usage_error(f"--dedup-id is for FIFO queues only; {name} is a standard queue.")
    if dedup_id is not None and count > 1 and "{n}" not in dedup_id:
        usage_error(
            f"--dedup-id {dedup_id!r} would give all {count} messages one deduplication id, so the queue "
            "would keep only the first: put {n} in it (replaced by 1, 2, ...)."
        )


async def send_entries(
    backend: Backend, queue: str, entries: Sequence[SendEntry], messages: Sequence[Body]
) -> None:
    """Send in batches, printing each batch's message ids in input order once it is accepted.

    A batch with failed entries (the backend refused what validation allowed, for example because
    the queue changed meanwhile) stops the command with exit 1, saying which inputs were not sent.
    A whole-call failure (backend gone, queue deleted) after some batches went out says how many.
    """
    sent = 0
    with _progress(len(entries)) as advance:
        for start in range(0, len(entries), SEND_BATCH):
            batch = entries[start : start + SEND_BATCH]
            try:
                result = await backend.send(queue, batch)
            except QWorkerError as exc:
                if sent == 0:
                    raise
                raise CommandError(
                    f"{describe(exc)} {sent} of {len(entries)} messages were sent (ids printed); "
                    f"{messages[start].where} and the inputs after it were not.",
                    exc.exit_code,
                ) from None
            ids = {ok.id: ok.message_id for ok in result.successful}
            lines = [ids[str(index)] for index in range(len(batch)) if str(index) in ids]
            sent += len(lines)
            if lines:
                try:
                    click.echo("\n".join(lines))
                except BrokenPipeError:
                    silence_stdout()
                    raise CommandError(
                        f"stdout was closed, so sending stopped: {sent} of {len(entries)} messages were "
                        f"sent, from {messages[0].where} to {messages[start + len(batch) - 1].where}.",
                        ExitCode.RUNTIME_FAILURE,
                    ) from None
            advance(len(batch))
            if result.failed:
                failed = sorted(result.failed, key=lambda error: int(error.id))
                first = failed[0]
                end = start + len(batch)
                rest = f"; inputs after {messages[end - 1].where} were not sent" if end < len(entries) else ""
                raise CommandError(
                    f"{len(failed)} message(s) refused, first {messages[start + int(first.id)].where}: "
                    f"{first.code}: {first.message} {sent} of {len(entries)} messages were sent (ids "
                    f"printed){rest}.",
                    ExitCode.RUNTIME_FAILURE,
                )


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for large sends to a terminal; a no-op otherwise."""
    if total < PROGRESS_THRESHOLD or not stderr_is_terminal():
        yield lambda count: None
        return
    from rich.console import Console  # imported here: only terminals pay for rich's import time
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        # ids go to stdout: through the bar's console only when stdout is that terminal too
        redirect_stdout=stdout_is_terminal(),
        redirect_stderr=False,
    )
    with progress:
        task = progress.add_task("send", total=total)
        yield lambda count: progress.advance(task, count)

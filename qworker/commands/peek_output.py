"""How ``qworker queue peek`` shows messages: JSON lines for programs, a table for people.

The JSON keys are SQS's (``MessageId``, ``Body``, ``Attributes``, ``MessageAttributes`` with
``DataType``/``StringValue``/``BinaryValue`` in base64) plus qworker's ``State``, ``ReceiveCount``,
``VisibleAt`` (epoch ms) and ``LastError``, so ``jq`` filters written for SQS output work.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any

import click

from qworker.backend import MessageAttributeValue, PeekedMessage


def message_json(message: PeekedMessage) -> dict[str, Any]:
    """One peeked message as a JSON-ready dict."""
    return {
        "MessageId": message.message_id,
        "State": message.state,
        "ReceiveCount": int(message.attributes.get("ApproximateReceiveCount", "0")),
        "VisibleAt": message.visible_at,
        "Body": message.body,
        "Attributes": message.attributes,
        "MessageAttributes": {
            name: attribute_json(value) for name, value in message.message_attributes.items()
        },
        "LastError": message.last_error,
    }


def attribute_json(value: MessageAttributeValue) -> dict[str, str]:
    """A message attribute in SQS's JSON shape (binary values base64-encoded)."""
    out = {"DataType": value.data_type}
    if value.binary_value is not None:
        out["BinaryValue"] = base64.b64encode(value.binary_value).decode("ascii")
    if value.string_value is not None:
        out["StringValue"] = value.string_value
    return out


def print_jsonl(messages: Sequence[PeekedMessage]) -> None:
    """One JSON object a line on stdout."""
    for message in messages:
        click.echo(json.dumps(message_json(message), ensure_ascii=False))


#: narrower terminals get one block per message instead of a table: a table of 7 columns at 80
#: columns drops the state, receive-count and body columns as soon as an error is long
WIDE_TABLE_COLUMNS = 120


def print_table(queue: str, fifo: bool, messages: Sequence[PeekedMessage]) -> None:
    """For people: a table on a wide terminal, one block per message on a narrow one; always the
    id, state, receive count, when visible, (group,) body and the last error's summary."""
    from rich.console import Console  # imported here: only terminals pay for rich's import time
    from rich.text import Text

    console = Console()  # sys.stdout when printing
    if not messages:
        console.print(Text(f"queue {queue} has no messages"))
        return
    now_ms = int(time.time() * 1000)
    if console.width >= WIDE_TABLE_COLUMNS:
        _print_wide(console, queue, fifo, messages, now_ms)
    else:
        _print_blocks(console, queue, fifo, messages, now_ms)


def titled_table(title: str) -> Any:
    """A rich table in the CLI's one style: left-aligned title, a rule under the header, no
    outer edge (the peek and quarantine tables share it)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    return Table(
        title=Text(title), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0)
    )


def _print_wide(console: Any, queue: str, fifo: bool, messages: Sequence[PeekedMessage], now_ms: int) -> None:
    from rich.text import Text

    table = titled_table(f"{queue}: first {len(messages)} message(s)")
    table.add_column("message id", no_wrap=True, min_width=36)
    table.add_column("state", no_wrap=True, min_width=9)
    table.add_column("recv", justify="right", no_wrap=True, min_width=4)
    table.add_column("visible", no_wrap=True, min_width=7)
    if fifo:
        table.add_column("group", no_wrap=True, overflow="ellipsis", max_width=20)
    # the fixed columns first; body and error share what is left (pre-cut: a long cell must not
    # make rich squeeze the other columns out)
    room = max(20, console.width - (36 + 9 + 4 + 7 + (21 if fifo else 0) + 6))
    body_width, error_width = room // 2, room - room // 2
    table.add_column("body", no_wrap=True, overflow="ellipsis", width=body_width)
    table.add_column("last error", no_wrap=True, overflow="ellipsis", width=error_width)
    for message in messages:
        row = [message.message_id, message.state, _receives(message), _relative(message.visible_at, now_ms)]
        if fifo:
            row.append(_fit(message.attributes.get("MessageGroupId", ""), 20))
        row += [
            _fit(_one_line(message.body), body_width),
            _fit(error_summary(message.last_error), error_width),
        ]
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _print_blocks(
    console: Any, queue: str, fifo: bool, messages: Sequence[PeekedMessage], now_ms: int
) -> None:
    from rich.text import Text

    width = max(40, console.width)
    console.print(Text(f"{queue}: first {len(messages)} message(s)"))
    for message in messages:
        head = f"{message.message_id}  {message.state}  recv {_receives(message)}"
        head += f"  visible {_relative(message.visible_at, now_ms)}"
        if fifo:
            head += f"  group {message.attributes.get('MessageGroupId', '')}"
        lines = [head, "  body:  " + _one_line(message.body)]
        if message.last_error:
            lines.append("  error: " + error_summary(message.last_error))
        console.print()
        for line in lines:
            console.print(Text(_fit(line, width)), soft_wrap=True)


def error_summary(error: str | None) -> str:
    """The line of a stored error that says what happened: the exception's type and message
    (the first line, which qworker writes as ``Type: message``; for a raw traceback, its last)."""
    if not error:
        return ""
    lines = [line for line in error.splitlines() if line.strip()]
    first = lines[0].strip() if lines else ""
    if first.startswith("Traceback") and len(lines) > 1:
        first = lines[-1].strip()
    return first


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _receives(message: PeekedMessage) -> str:
    return message.attributes.get("ApproximateReceiveCount", "0")


def _relative(at_ms: int, now_ms: int) -> str:
    seconds = (at_ms - now_ms) / 1000
    if abs(seconds) < 1:
        return "now"
    return f"in {seconds:.0f}s" if seconds > 0 else f"{-seconds:.0f}s ago"


def _one_line(text: str) -> str:
    return " ".join(text.split())

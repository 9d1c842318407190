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


def print_table(queue: str, fifo: bool, messages: Sequence[PeekedMessage]) -> None:
    """A table on stdout: id, state, receives, when visible, (group,) body, last error."""
    from rich import box  # imported here: only terminals pay for rich's import time
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()  # sys.stdout when printing
    if not messages:
        console.print(Text(f"queue {queue} has no messages"))
        return
    now_ms = int(time.time() * 1000)
    table = Table(
        title=Text(f"{queue}: first {len(messages)} message(s)"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("message id", no_wrap=True, min_width=36)
    table.add_column("state", no_wrap=True, min_width=9)
    table.add_column("recv", justify="right", no_wrap=True, min_width=4)
    table.add_column("visible", no_wrap=True, min_width=7)
    if fifo:
        table.add_column("group", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("body", overflow="ellipsis", no_wrap=True, ratio=3)
    table.add_column("last error", overflow="ellipsis", no_wrap=True, ratio=2)
    for message in messages:
        row = [
            message.message_id,
            message.state,
            message.attributes.get("ApproximateReceiveCount", "0"),
            _relative(message.visible_at, now_ms),
        ]
        if fifo:
            row.append(message.attributes.get("MessageGroupId", ""))
        row += [_one_line(message.body), _one_line(message.last_error or "")]
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _relative(at_ms: int, now_ms: int) -> str:
    seconds = (at_ms - now_ms) / 1000
    if abs(seconds) < 1:
        return "now"
    return f"in {seconds:.0f}s" if seconds > 0 else f"{-seconds:.0f}s ago"


def _one_line(text: str) -> str:
    return " ".join(text.split())

"""How ``qworker queue quarantine list`` shows quarantined messages (RELIABILITY T16).

A quarantined message's raw data is, by definition, data qworker could not decode: it may hold
any bytes, terminal escape sequences and bidirectional-text controls included. It is never
printed as it is: :func:`escape_bytes` keeps printable text and writes everything else as an
escape (``\\x1b``, ``\\u202e``), so a preview cannot move the cursor, recolour the terminal or
reorder what is shown. JSON lines for programs, a table for people, as ``queue peek``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import click

from qworker.backend import QuarantinedMessage
from qworker.commands.peek_output import titled_table

#: characters of the escaped preview shown in a table
TABLE_PREVIEW = 60
#: characters of the escaped preview in the JSON lines
JSON_PREVIEW = 200
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_bytes(data: bytes, limit: int, more: bool = False) -> str:
    """``data`` as safe, printable text of at most about ``limit`` characters.

    UTF-8 text that is printable stays as it is; a byte that is not UTF-8 becomes ``\\xNN``, an
    unprintable character (controls, format characters such as bidi overrides, separators)
    ``\\uNNNN``, and a backslash ``\\\\``. ``...`` ends it when it was cut (or ``more`` says the
    data went on beyond ``data``).
    """
    out: list[str] = []
    length = 0
    for char in data.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            piece = f"\\x{code - 0xDC00:02x}"
        elif char in _NAMED:
            piece = _NAMED[char]
        elif char.isprintable():
            piece = char
        elif code <= 0xFFFF:
            piece = f"\\u{code:04x}"
        else:
            piece = f"\\U{code:08x}"
        if length + len(piece) > limit:
            more = True
            break
        out.append(piece)
        length += len(piece)
    return "".join(out) + ("..." if more else "")


def entry_json(entry: QuarantinedMessage) -> dict[str, Any]:
    """One quarantined message as a JSON-ready dict (qworker's own keys, SQS has no quarantine)."""
    return {
        "MessageId": entry.message_id,
        "Reason": entry.reason,
        "QuarantinedAt": entry.quarantined_at,
        "RawSize": entry.raw_size,
        "RawPreview": escape_bytes(entry.raw_preview, JSON_PREVIEW, entry.raw_size > len(entry.raw_preview)),
    }


def print_jsonl(entries: Sequence[QuarantinedMessage]) -> None:
    """One JSON object a line on stdout (ASCII only: ``\\u`` escapes are JSON's own)."""
    for entry in entries:
        click.echo(json.dumps(entry_json(entry)))


def print_table(queue: str, entries: Sequence[QuarantinedMessage], total: int) -> None:
    """A table on stdout: id, when, reason, size and an escaped preview of the raw data."""
    from rich.console import Console
    from rich.text import Text

    console = Console()
    if not entries:
        console.print(Text(f"queue {queue} has no quarantined messages"))
        return
    now_ms = int(time.time() * 1000)
    shown = f"{len(entries)} of {total}" if total > len(entries) else str(total)
    table = titled_table(f"{queue}: {shown} quarantined message(s), oldest first")
    table.add_column("message id", no_wrap=True, min_width=36)
    table.add_column("quarantined", no_wrap=True, min_width=11)
    table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("raw data (escaped)", overflow="ellipsis", no_wrap=True, ratio=1)
    for entry in entries:
        preview = escape_bytes(entry.raw_preview, TABLE_PREVIEW, entry.raw_size > len(entry.raw_preview))
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    escape_bytes(entry.message_id.encode(), 40),
                    _ago(entry.quarantined_at, now_ms),
                    escape_bytes(entry.reason.encode(), 32),
                    str(entry.raw_size),
                    preview,
                )
            )
        )
    console.print(table)


def _ago(at_ms: int, now_ms: int) -> str:
    seconds = max(0, (now_ms - at_ms) // 1000)
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"

"""How values look on the console's pages: ages, times, bodies, attributes.

Every function returns plain text; the templates escape it (Jinja2 autoescape), so a body of
``<script>`` shows as those characters. Nothing here builds HTML.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from qworker.backend import MessageAttributeValue, PeekedMessage

#: characters of a body shown on a queue page (the rest is cut, with a note)
MAX_BODY_CHARS = 20_000


def age(seconds: float | None) -> str:
    """``3s``, ``4m 05s``, ``2h 10m``, ``3d 4h``; an em dash when unknown."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def timestamp_ms(value: str | int | None) -> str:
    """An epoch-ms value as UTC ``YYYY-MM-DD HH:MM:SS``."""
    try:
        ms = int(value or 0)
    except ValueError:
        return str(value)
    if ms <= 0:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_ago(epoch: float) -> str:
    return age(max(0.0, time.time() - epoch)) + " ago"


def pretty_body(body: str) -> tuple[str, bool]:
    """The body indented when it is JSON (an object or an array), else as sent; and whether it
    was JSON. Long bodies are cut at :data:`MAX_BODY_CHARS`."""
    text = body
    is_json = False
    stripped = body.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
            is_json = True
        except ValueError:
            pass
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + f"\n… ({len(text) - MAX_BODY_CHARS} more characters not shown)"
    return text, is_json


def attribute_value(value: MessageAttributeValue) -> str:
    """A message attribute's value as text (binary in base64)."""
    if value.binary_value is not None:
        return base64.b64encode(value.binary_value).decode("ascii")
    return value.string_value or ""


def message_view(message: PeekedMessage) -> dict[str, Any]:
    """What a queue page shows of one peeked message."""
    body, is_json = pretty_body(message.body)
    attrs = message.attributes
    return {
        "id": message.message_id,
        "state": message.state.replace("_", " "),
        "raw_state": message.state,
        "receive_count": attrs.get("ApproximateReceiveCount", "0"),
        "sent": timestamp_ms(attrs.get("SentTimestamp")),
        "group": attrs.get("MessageGroupId"),
        "dedup": attrs.get("MessageDeduplicationId"),
        "source": attrs.get("DeadLetterQueueSourceArn"),
        "body": body,
        "is_json": is_json,
        "preview": " ".join(message.body.split())[:120],
        "attributes": sorted(
            (name, value.data_type, attribute_value(value))
            for name, value in message.message_attributes.items()
        ),
        "system": sorted(attrs.items()),
        "last_error": message.last_error,
        "error_summary": (message.last_error or "").strip().splitlines()[-1:][0][:200]
        if message.last_error and message.last_error.strip()
        else None,
    }

"""The console's forms, parsed and checked before anything reaches the backend.

Forms are ``application/x-www-form-urlencoded`` (no file uploads, so no multipart parser). Each
parser returns a typed request or raises :class:`FormError` with a sentence for the page.
Ranges are SQS's, from :mod:`qworker.limits`, so the console refuses what SQS would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qs

from qworker import limits
from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy, SendEntry

#: the most message attributes a send form accepts (SQS's limit)
MAX_ATTRIBUTES = 10
#: the fastest redrive rate a person may choose (SQS's StartMessageMoveTask maximum)
MAX_RATE = 500


class FormError(ValueError):
    """A form value is missing or out of range; the text is shown to the person."""


def parse_form(body: bytes) -> dict[str, list[str]]:
    """Every field of a urlencoded body (repeated fields keep every value)."""
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def one(form: Mapping[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


def _int(text: str, label: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise FormError(f"{label} must be a whole number") from None
    if not low <= value <= high:
        raise FormError(f"{label} must be between {low} and {high}")
    return value


def send_entry(form: Mapping[str, list[str]], fifo: bool) -> SendEntry:
    """The **Send** form: body, attributes (name, type, value rows), delay, group and dedup id."""
    body = one(form, "body")
    if not body:
        raise FormError("The message body is empty: SQS does not accept an empty message.")
    attributes: dict[str, MessageAttributeValue] = {}
    names, types, values = form.get("attr_name", []), form.get("attr_type", []), form.get("attr_value", [])
    for name, data_type, value in zip(names, types, values, strict=False):
        if not name.strip():
            continue
        if data_type not in ("String", "Number"):
            raise FormError(f"Attribute {name!r}: the type must be String or Number")
        attributes[name.strip()] = MessageAttributeValue(data_type, string_value=value)
    if len(attributes) > MAX_ATTRIBUTES:
        raise FormError(f"At most {MAX_ATTRIBUTES} message attributes")
    group = one(form, "group_id").strip() or None
    dedup = one(form, "dedup_id").strip() or None
    delay_text = one(form, "delay").strip()
    if fifo:
        if group is None:
            raise FormError("A FIFO queue needs a message group id")
        if delay_text and delay_text != "0":
            raise FormError("A FIFO queue has no per-message delay (set the queue's delay instead)")
        return SendEntry(
            body, message_attributes=attributes, message_group_id=group, message_deduplication_id=dedup
        )
    delay = _int(delay_text, "Delay", 0, limits.MAX_DELAY_SECONDS) if delay_text else None
    return SendEntry(body, message_attributes=attributes, delay_seconds=delay)


def edited_spec(form: Mapping[str, list[str]], spec: QueueSpec) -> QueueSpec:
    """The queue's spec with the attributes SQS lets one change after creation: visibility
    timeout, retention, delay, and the redrive policy (a DLQ name and max receive count, or
    none when the DLQ field is empty)."""
    visibility = _int(one(form, "visibility_timeout"), "Visibility timeout", 0, limits.MAX_VISIBILITY_TIMEOUT)
    retention = _int(
        one(form, "retention"), "Retention", limits.MIN_RETENTION_PERIOD, limits.MAX_RETENTION_PERIOD
    )
    delay = _int(one(form, "delay"), "Delay", 0, limits.MAX_DELAY_SECONDS)
    dlq = one(form, "dlq").strip()
    policy = None
    if dlq:
        count = _int(one(form, "max_receive_count"), "Max receive count", 1, limits.MAX_RECEIVE_COUNT)
        policy = RedrivePolicy(dlq, count)
    return replace(
        spec,
        visibility_timeout=visibility,
        message_retention_period=retention,
        delay_seconds=delay,
        redrive_policy=policy,
    )


@dataclass(frozen=True, slots=True)
class RedriveRequest:
    """The **Redrive** form."""

    destination: str | None  #: None: each message back to its source queue
    rate: int | None
    selected: tuple[str, ...]


def redrive_request(form: Mapping[str, list[str]]) -> RedriveRequest:
    target = one(form, "destination").strip()
    rate_text = one(form, "rate").strip()
    rate = _int(rate_text, "Rate", 1, MAX_RATE) if rate_text else None
    selected = tuple(dict.fromkeys(v for v in form.get("message_id", []) if v))
    if one(form, "scope", "all") == "selected" and not selected:
        raise FormError("Select the messages to redrive, or choose all")
    if one(form, "scope", "all") == "all":
        selected = ()
    return RedriveRequest(target or None, rate, selected)

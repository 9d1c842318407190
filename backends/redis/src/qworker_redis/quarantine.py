"""The quarantine (RELIABILITY T16): messages that cannot be decoded are set aside, never
delivered and never in the way; an operator lists, restores or drops them.

The receive script sets aside what it can judge without decoding (oversize, missing envelope,
unreadable state: ``bad-state``); the client what does not decode (``undecodable:...``,
``unknown-format``, ``bad-field-type``, ``bad-attributes``), with :func:`set_aside`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from qworker import digest, limits
from qworker.backend import (
    DEFAULT_QUARANTINE_LIST,
    QUARANTINE_NOT_FOUND,
    QUARANTINE_PREVIEW_BYTES,
    BatchEntryError,
    QuarantinedMessage,
)
from qworker.errors import QueueDoesNotExist
from qworker.quarantine import Restore, check_destination, plan_restore
from qworker_redis import codec
from qworker_redis.core import Core
from qworker_redis.queues import QueueRef
from qworker_redis.scripts import SCRIPTS, ScriptError

log = structlog.get_logger("qworker.redis")


async def set_aside(core: Core, ref: QueueRef, corrupt: list[tuple[str, str]], token: str) -> None:
    """Quarantine undecodable messages this client holds (by ``token``), with their reasons,
    so they never block the queue or crash a worker."""
    args: list[Any] = [ref.inc, core.offset_ms()]
    for message_id, reason in corrupt:
        args += (message_id, token, reason)
        log.warning(
            "redis.message_quarantined",
            queue=ref.name,
            message_id=message_id,
            reason=reason,
            key=ref.keys.key("quarantine").decode(),
        )
    script = SCRIPTS["quarantine"]
    keys, head = core.script_call(script, ref)
    reply = await core.transport.eval(script, keys, args, head)
    if reply[0] == 1 and reply[1]:
        core.quarantine_tally.add(ref.name, reply[1])


async def quarantined(
    core: Core, queue: str, max_messages: int = DEFAULT_QUARANTINE_LIST
) -> list[QuarantinedMessage]:
    """The queue's quarantined messages, oldest first."""
    limits.check_max_messages(max_messages)
    _, reply = await core.run(
        "quarantine_list", queue, lambda r: (r.inc, max_messages, QUARANTINE_PREVIEW_BYTES)
    )
    out = []
    for i in range(2, len(reply), 4):
        reason, at = [*reply[i + 1].decode("utf-8", "replace").split("|", 2), ""][:2]
        out.append(
            QuarantinedMessage(
                message_id=reply[i].decode("utf-8", "replace"),
                reason=reason,
                quarantined_at=int(at) if at.isdigit() else 0,
                raw_preview=bytes(reply[i + 2]),
                raw_size=int(reply[i + 3]),
            )
        )
    return out


async def _plans(
    core: Core, source: QueueRef, target: QueueRef, ids: list[str], body_only: bool
) -> tuple[list[BatchEntryError], list[tuple[str, Restore]]]:
    """What can be restored of each message (read from the quarantine HASH), and what not."""
    key = source.keys.key("quarantine")
    values = await core.call("HMGET", key, *(f for i in ids for f in (i, i + "\0raw")))
    failed: list[BatchEntryError] = []
    plans: list[tuple[str, Restore]] = []
    for index, message_id in enumerate(ids):
        info, raw = values[2 * index], values[2 * index + 1]
        if info is None:
            failed.append(_not_quarantined(message_id, source.name))
            continue
        state = info.split(b"|", 2)[2] if info.count(b"|") >= 2 else b""
        plan = plan_restore(
            source.spec, target.spec, message_id, codec.readable(message_id, raw, state), body_only
        )
        if isinstance(plan, BatchEntryError):
            failed.append(plan)
        else:
            plans.append((message_id, plan))
    return failed, plans


def _restore_args(plans: list[tuple[str, Restore]]) -> list[Any]:
    args: list[Any] = []
    for _, plan in plans:
        entry = plan.entry
        attributes = dict(entry.message_attributes)
        prefix = codec.encode_prefix(
            entry.body,
            attributes,
            digest.md5_of_body(entry.body),
            digest.md5_of_message_attributes(attributes) if attributes else None,
            entry.message_group_id,
            entry.message_deduplication_id,
            entry.trace_header,
        )
        args += (plan.message_id, prefix, entry.message_group_id or "", plan.dead_letter_source or "")
    return args


async def restore_quarantined(
    core: Core,
    queue: str,
    message_ids: Sequence[str],
    destination: str | None = None,
    *,
    body_only: bool = False,
) -> list[BatchEntryError]:
    """Put quarantined messages back. When the destination shares the queue's hash slot (the
    queue itself, its dead-letter queue) enqueueing and leaving the quarantine are one script;
    otherwise the copy is made first and the quarantine entry removed after (at-least-once; a
    restore run twice finds the id already there)."""
    source = await core.ref(queue)
    target = await core.ref(destination) if destination is not None else source
    check_destination(source.spec, target.spec)
    ids = list(dict.fromkeys(message_ids))
    if not ids:
        return []
    failed, plans = await _plans(core, source, target, ids, body_only)
    if not plans:
        return failed
    same_slot = target.tag == source.tag
    keys = SCRIPTS["restore"].keys_for(Q=target.keys, S=source.keys if same_slot else target.keys)
    here = "1" if same_slot else "0"
    args = [target.inc, source.inc, core.offset_ms(), here, len(plans), *_restore_args(plans)]
    reply = await core.eval("restore", keys, args)
    if reply[0] < 0:
        raise QueueDoesNotExist(target.name if reply[0] == ScriptError.QUEUE_DOES_NOT_EXIST else queue)
    restored = []
    for (message_id, plan), code in zip(plans, reply[1:], strict=True):
        if code == 1:
            restored.append(message_id)
        elif code == 0:
            failed.append(_not_quarantined(message_id, queue))
        else:
            failed.append(
                BatchEntryError(
                    message_id,
                    "MessageIdInUse",
                    f"{target.name!r} already holds a message with id {plan.message_id}: it stays "
                    "in quarantine (was it restored already?).",
                )
            )
    if restored and not same_slot:
        await core.run("unquarantine", queue, lambda r: (r.inc, "0", *restored))
    return failed


async def drop_quarantined(core: Core, queue: str, message_ids: Sequence[str] | None = None) -> int:
    """Drop quarantined messages for good (all of them when ``message_ids`` is None)."""
    if message_ids is None:
        _, reply = await core.run("unquarantine", queue, lambda r: (r.inc, "1"))
    else:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return 0
        _, reply = await core.run("unquarantine", queue, lambda r: (r.inc, "0", *ids))
    return int(reply[1])


def _not_quarantined(message_id: str, queue: str) -> BatchEntryError:
    return BatchEntryError(
        message_id, QUARANTINE_NOT_FOUND, f"No message {message_id!r} in the quarantine of {queue!r}."
    )

"""SendMessageBatch: entries validated against the client's copy of the queue's spec, packed
into envelope prefixes (:mod:`~qworker_redis.codec`), enqueued by ``lua/send-11.lua``.

The copy is never acted on stale: the send script is given its revision and sends nothing when
the queue's attributes changed since (the entries are validated again against the new spec and
sent), and before entries are reported failed the revision is confirmed (one HMGET), so an entry
the new attributes allow is not refused by an old copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qworker import digest, limits
from qworker.backend import BatchEntryError, QueueSpec, SendBatchResult, SendEntry, SendResult
from qworker_redis import codec
from qworker_redis.core import Core, SpecChanged

#: entries per script call; bigger batches are split (FIFO order is kept across the calls)
SEND_CHUNK = 1000
SEND_CHUNK_BYTES = 4 * 1024 * 1024

#: the send script's arguments for a chunk of entries, and (entry id, MD5 of body, MD5 of
#: attributes) of each, to build the results with
Chunk = tuple[list[Any], list[tuple[str, str, str | None]]]


async def send(core: Core, queue: str, entries: Sequence[SendEntry]) -> SendBatchResult:
    """SendMessageBatch (see the module docstring for how a stale spec is avoided)."""
    entries = list(entries)
    ids = limits.entry_ids(entries)
    ref = await core.ref(queue)
    pending = list(zip(ids, entries, strict=True))  # not sent yet
    successful: list[SendResult] = []
    confirmed = False
    while True:
        failed, chunks = prepare(core, ref.spec, pending)
        if failed and not confirmed:
            confirmed = True
            current = await core.current(ref)
            if current.rev != ref.rev:
                ref = current
                continue
        try:
            for chunk_args, chunk_meta in chunks:
                ref, reply = await core.run(
                    "send",
                    queue,
                    lambda r, a=chunk_args, n=len(chunk_meta): (r.inc, core.offset_ms(), r.rev, n, *a),
                    on_stale_spec="raise",
                )
                for k, (entry_id, md5_body, md5_attributes) in enumerate(chunk_meta):
                    sequence = reply[2 + 2 * k]
                    successful.append(
                        SendResult(
                            entry_id,
                            reply[1 + 2 * k].decode(),
                            md5_body,
                            md5_attributes,
                            sequence.decode() if sequence else None,
                        )
                    )
                sent = {entry_id for entry_id, _, _ in chunk_meta}
                pending = [item for item in pending if item[0] not in sent]
        except SpecChanged as changed:
            ref = changed.ref
            confirmed = True  # the script just gave the current revision
            continue
        return SendBatchResult(successful, failed)


def prepare(
    core: Core, spec: QueueSpec, pending: list[tuple[str, SendEntry]]
) -> tuple[list[BatchEntryError], list[Chunk]]:
    """Validate entries against ``spec``: the failed ones, and the send script's arguments
    for the others, in chunks."""
    fifo = spec.fifo
    failed: list[BatchEntryError] = []
    chunks: list[Chunk] = []
    args: list[Any] = []
    meta: list[tuple[str, str, str | None]] = []
    size = 0
    message_ids = iter(core.ids.many(len(pending)))  # in send order; a failed entry's is unused
    for entry_id, entry in pending:
        error = limits.check_send_entry(entry, entry_id, spec)
        if error is not None:
            failed.append(error)
            continue
        md5_body = digest.md5_of_body(entry.body)
        attributes = entry.message_attributes
        md5_attributes = digest.md5_of_message_attributes(attributes) if attributes else None
        dedup = None
        if fifo:
            dedup = entry.message_deduplication_id or digest.content_deduplication_id(entry.body)
        prefix = codec.encode_prefix(
            entry.body,
            attributes,
            md5_body,
            md5_attributes,
            entry.message_group_id,
            dedup,
            entry.trace_header,
        )
        delay = "" if entry.delay_seconds is None else entry.delay_seconds * 1000
        args += (next(message_ids), prefix, delay, entry.message_group_id or "", dedup or "")
        meta.append((entry_id, md5_body, md5_attributes))
        size += len(prefix)
        if len(meta) >= SEND_CHUNK or size >= SEND_CHUNK_BYTES:
            chunks.append((args, meta))
            args, meta, size = [], [], 0
    if meta:
        chunks.append((args, meta))
    return failed, chunks

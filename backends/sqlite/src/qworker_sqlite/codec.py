"""How values are stored: receipt handles, message attributes and queue specs.

A receipt handle is 40 hex digits: the queue id (8), the message's ``seq`` (16) and the random
token of that receive (16). The token makes a handle a fencing token (SPEC SQS-RH-1, ESM-F-6):
the message row keeps only the token of its latest receive, so an older handle is recognised as
stale. Tokens come from ``os.urandom`` through :mod:`qworker.randomness` (not a PRNG that a
``fork`` would copy into two processes). Hex keeps encoding and decoding cheap: a batch of 100
handles is a hot path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from functools import lru_cache

import msgpack

from qworker import randomness
from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy
from qworker.errors import BackendError, QWorkerError
from qworker.limits import validate_queue_spec

#: the most attributes a stored message can have when decoded (SQS allows 10; room for more)
_MAX_STORED_ATTRIBUTES = 1024


class CorruptRecord(BackendError):
    """A stored row cannot be decoded: another program wrote it, or the file is damaged.

    ``reason`` is a short code (``attributes-undecodable:ExtraData``, ``bad-column:body``, ...).
    A corrupt *message* never fails a receive or a peek: receive leaves it in flight (it comes
    back after its visibility timeout, and its receive count leads it to the dead-letter queue
    when the queue has one) and logs the reason; peek shows it with the reason as its last
    error. A corrupt *queue* row fails the call that needs the queue with this error.
    """

    code = "CorruptRecord"

    def __init__(self, reason: str, what: str = "stored message") -> None:
        super().__init__(f"a {what} cannot be decoded ({reason}): written by another program or damaged")
        self.reason = reason


_HANDLE = re.compile(r"([0-9a-f]{8})([0-9a-f]{16})([0-9a-f]{16})")
_TOKEN_MASK = (1 << 62) - 1


def encode_handle(queue_id: int, seq: int, token: int) -> str:
    """The receipt handle of one receive of message ``seq``."""
    return f"{queue_id:08x}{seq:016x}{token:016x}"


def decode_handle(handle: object) -> tuple[int, int, int] | None:
    """``(queue_id, seq, token)``, or ``None`` when ``handle`` is not a handle this backend made."""
    if not isinstance(handle, str):
        return None
    match = _HANDLE.fullmatch(handle)
    if match is None:
        return None
    queue_id, seq, token = match.groups()
    return int(queue_id, 16), int(seq, 16), int(token, 16)


def new_token_base() -> int:
    """A random base for the tokens of one receive (each message adds its ``seq``: < 2**63)."""
    return int.from_bytes(randomness.take(8), "big") & _TOKEN_MASK


def new_message_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` spells it, made from 16 random bytes
    without the ``UUID`` class: a send makes one per message, and the class costs a small send
    from an idle process a noticeable share of its time."""
    digits = randomness.take(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def pack_attributes(attributes: Mapping[str, MessageAttributeValue]) -> bytes | None:
    """Message attributes as msgpack (``None`` when there are none); read back, strictly, by
    :func:`qworker_sqlite.rows.decode_attributes`."""
    if not attributes:
        return None
    return msgpack.packb(
        {
            name: (value.data_type, value.string_value, value.binary_value)
            for name, value in attributes.items()
        },
        use_bin_type=True,
    )


def spec_to_json(spec: QueueSpec) -> str:
    """The spec's attributes (not its name) as JSON, for the ``queues.spec`` column."""
    fields = asdict(spec)
    del fields["name"]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=1024)
def spec_from_json(name: str, text: str) -> QueueSpec:
    """The spec stored by :func:`spec_to_json` (cached: specs are read on every call); raises
    :class:`CorruptRecord` (only) for a text that :func:`spec_to_json` did not make."""
    what = f"queue row ({name!r})"
    try:
        fields = json.loads(text)
        policy = fields.pop("redrive_policy")
        spec = QueueSpec(
            name=name, redrive_policy=RedrivePolicy(**policy) if policy is not None else None, **fields
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise CorruptRecord(f"spec-undecodable:{type(exc).__name__}", what) from None
    numbers = (
        spec.visibility_timeout,
        spec.message_retention_period,
        spec.delay_seconds,
        spec.maximum_message_size,
        spec.receive_wait_time_seconds,
    )
    if (
        any(type(n) not in (int, float) for n in numbers)
        or type(spec.content_based_deduplication) is not bool
        or (spec.redrive_policy is not None and type(spec.redrive_policy.max_receive_count) is not int)
        or (spec.redrive_policy is not None and type(spec.redrive_policy.dead_letter_queue) is not str)
        or spec.deduplication_scope not in ("queue", "messageGroup")
    ):
        raise CorruptRecord("spec-bad-field-type", what)
    try:
        validate_queue_spec(spec)
    except QWorkerError as exc:
        raise CorruptRecord(f"spec-invalid: {exc}", what) from None
    return spec


def sequence_number_text(value: int) -> str:
    """A FIFO ``SequenceNumber`` as SQS shows it: a 20-digit zero-padded decimal string."""
    return f"{value:020d}"

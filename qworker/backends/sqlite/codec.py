"""How values are stored: receipt handles, message attributes and queue specs.

A receipt handle is 40 hex digits: the queue id (8), the message's ``seq`` (16) and the random
token of that receive (16). The token makes a handle a fencing token (SPEC SQS-RH-1, ESM-F-6):
the message row keeps only the token of its latest receive, so an older handle is recognised as
stale. Tokens come from ``os.urandom`` (not a PRNG that a ``fork`` would copy into two
processes). Hex keeps encoding and decoding cheap: a batch of 100 handles is a hot path.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict
from functools import lru_cache

import msgpack

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy

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
    return int.from_bytes(os.urandom(8), "big") & _TOKEN_MASK


def pack_attributes(attributes: Mapping[str, MessageAttributeValue]) -> bytes | None:
    """Message attributes as msgpack (``None`` when there are none); read back, strictly, by
    :func:`qworker.backends.sqlite.rows.decode_attributes`."""
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
    """The spec stored by :func:`spec_to_json` (cached: specs are read on every call)."""
    fields = json.loads(text)
    policy = fields.pop("redrive_policy")
    return QueueSpec(
        name=name, redrive_policy=RedrivePolicy(**policy) if policy is not None else None, **fields
    )


def sequence_number_text(value: int) -> str:
    """A FIFO ``SequenceNumber`` as SQS shows it: a 20-digit zero-padded decimal string."""
    return f"{value:020d}"

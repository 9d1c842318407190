"""MD5 digests computed exactly as Amazon SQS computes them.

Handlers written for Lambda may verify ``md5OfBody`` and ``md5OfMessageAttributes`` (SPEC EVT-3,
EVT-6); every backend must produce the digests SQS would, so those checks keep passing.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qworker.backend import MessageAttributeValue

_LENGTH = struct.Struct(">I")


def md5_of_body(body: str) -> str:
    """Hex MD5 of the UTF-8 encoded body (SPEC EVT-3)."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_message_attributes(attributes: Mapping[str, MessageAttributeValue]) -> str | None:
    """Hex MD5 over SQS's canonical encoding of message attributes, ``None`` when there are none.

    The encoding (SQS developer guide, "Calculating the MD5 message digest for message
    attributes"): attributes sorted by name; for each, the name, the data type, a transport byte
    (1 = string, 2 = binary) and the value, where every name, type and value is preceded by its
    length as a 4-byte big-endian integer. SPEC EVT-6: no attributes gives ``null``.
    """
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        _update(digest, name.encode("utf-8"))
        _update(digest, value.data_type.encode("utf-8"))
        if value.binary_value is not None:
            digest.update(b"\x02")
            _update(digest, value.binary_value)
        else:
            digest.update(b"\x01")
            _update(digest, (value.string_value or "").encode("utf-8"))
    return digest.hexdigest()


def _update(digest: hashlib._Hash, data: bytes) -> None:
    digest.update(_LENGTH.pack(len(data)))
    digest.update(data)


def content_deduplication_id(body: str) -> str:
    """The id SQS derives for ``ContentBasedDeduplication``: SHA-256 of the body (SPEC SQS-F-3)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()

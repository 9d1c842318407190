"""Reading what ``qworker send`` sends: bodies from arguments, a file or stdin, and ``--attribute``.

Everything here runs before the backend is contacted, and every error names where the bad input
is (``line 7 of orders.jsonl``, ``--attribute 'x=Number:abc'``), so a long file with one bad line
fails before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from qworker import limits
from qworker.backend import MessageAttributeValue
from qworker.commands.common import usage_error

_TYPES = ("String", "Number", "Binary")


@dataclass(frozen=True, slots=True)
class Body:
    """A message body and where it came from, for error messages."""

    text: str
    where: str  #: "line 7 of orders.jsonl", "argument 2"


def bodies_from_arguments(arguments: Sequence[str]) -> list[Body]:
    """One body per BODY argument, numbered from 1."""
    return [Body(text, f"argument {index}") for index, text in enumerate(arguments, 1)]


def bodies_from_lines(stream: BinaryIO, source: str) -> list[Body]:
    """One body per non-blank line of ``stream`` (UTF-8), without its line ending.

    The line is sent exactly as written otherwise: it need not be JSON, and leading or trailing
    spaces are kept. Lines holding only whitespace are skipped. Line numbers count every line.
    """
    bodies = []
    for number, raw in enumerate(stream, 1):
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            usage_error(f"line {number} of {source}: not valid UTF-8 ({exc.reason} at byte {exc.start}).")
        if text.strip():
            bodies.append(Body(text, f"line {number} of {source}"))
    return bodies


def parse_attributes(texts: Iterable[str]) -> dict[str, MessageAttributeValue]:
    """``--attribute NAME=TYPE:VALUE`` options as message attributes, checked as SQS checks them.

    TYPE is String, Number or Binary, optionally with a custom label (``Number.int``,
    ``String.json``); a Binary VALUE is base64. Raises a usage error naming the bad option.
    """
    attributes: dict[str, MessageAttributeValue] = {}
    for text in texts:
        name, value = parse_attribute(text)
        if name in attributes:
            usage_error(f"--attribute {text!r}: attribute {name!r} is given twice.")
        attributes[name] = value
    error = limits.attributes_error(attributes)
    if error is not None:
        usage_error(f"--attribute: {error}")
    return attributes


def parse_attribute(text: str) -> tuple[str, MessageAttributeValue]:
    """One ``NAME=TYPE:VALUE`` option."""
    name, equals, rest = text.partition("=")
    data_type, colon, value = rest.partition(":")
    if not equals or not name or not colon or not data_type:
        usage_error(
            f"--attribute {text!r}: expected NAME=TYPE:VALUE with TYPE String, Number or Binary "
            "(base64 VALUE), for example --attribute tenant=String:acme --attribute retries=Number:3."
        )
    if data_type.split(".", 1)[0] not in _TYPES:
        usage_error(
            f"--attribute {text!r}: unknown type {data_type!r}; use String, Number or Binary, optionally "
            "with a label such as Number.int."
        )
    if data_type.startswith("Binary"):
        try:
            decoded = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            usage_error(f"--attribute {text!r}: a Binary VALUE must be base64, for example Binary:aGVsbG8=.")
        attribute = MessageAttributeValue(data_type, binary_value=decoded)
    else:
        attribute = MessageAttributeValue(data_type, string_value=value)
    error = limits.attribute_error(name, attribute)
    if error is not None:
        usage_error(f"--attribute {text!r}: {error}")
    return name, attribute

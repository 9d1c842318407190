"""How ``jsondir://`` keeps queues: one JSON file per queue in a directory, one lock for all.

Layout of ``DIR``::

    DIR/.lock            an empty file; every operation holds an exclusive flock on it
    DIR/NAME.json        one queue: its attributes, tags, FIFO state and messages in send order

Every operation locks the directory, reads the files it needs, changes them in memory and writes
each changed file whole: to a temporary file first, then ``os.replace`` (atomic on POSIX), so a
crash leaves each file old or new, never half written. The flock excludes other processes on
this host and, because each operation opens the lock file anew, other threads of this one.
An operation that changes two files (a dead-letter move, a redrive) writes the receiving queue
first: a crash between the two writes duplicates the message rather than losing it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy

#: names SQS allows (qworker.limits checks them at creation); anything else is no queue here,
#: so a name can never point outside the directory
_QUEUE_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


@dataclass
class Message:
    """One stored message. Times are epoch milliseconds on the backend's clock."""

    message_id: str
    body: str
    md5_of_body: str
    attributes: dict[str, MessageAttributeValue]
    md5_of_attributes: str | None
    sent_ms: int
    visible_at_ms: int  #: hidden until then: delayed (never received) or in flight
    expires_ms: int  #: the retention period ends
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    trace_header: str | None = None
    dead_letter_source_arn: str | None = None
    receive_count: int = 0
    first_receive_ms: int | None = None
    received_at_ms: int | None = None
    token: str | None = None  #: this receive's token: only its receipt handle acts on the message

    def hidden(self, now_ms: int) -> bool:
        return self.visible_at_ms > now_ms

    def in_flight(self, now_ms: int) -> bool:
        return self.hidden(now_ms) and self.receive_count > 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["attributes"] = {name: _value_to_json(value) for name, value in self.attributes.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        attributes = {name: _value_from_json(value) for name, value in data["attributes"].items()}
        return cls(**{**data, "attributes": attributes})


@dataclass
class Queue:
    """One queue file."""

    spec: QueueSpec
    incarnation: str  #: new each time the name is created: older receipt handles are invalid
    created: int  #: epoch seconds
    modified: int  #: epoch seconds
    tags: dict[str, str] = field(default_factory=dict)
    purged_ms: int | None = None
    sequence: int = 0  #: FIFO: the last sequence number given
    #: FIFO: deduplication scope + id -> (message id, sequence number, window end in epoch ms)
    dedup: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": _spec_to_json(self.spec),
            "incarnation": self.incarnation,
            "created": self.created,
            "modified": self.modified,
            "tags": self.tags,
            "purged_ms": self.purged_ms,
            "sequence": self.sequence,
            "dedup": self.dedup,
            "messages": [m.to_json() for m in self.messages],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Queue:
        return cls(
            spec=_spec_from_json(data["spec"]),
            incarnation=data["incarnation"],
            created=data["created"],
            modified=data["modified"],
            tags=data["tags"],
            purged_ms=data["purged_ms"],
            sequence=data["sequence"],
            dedup={key: tuple(value) for key, value in data["dedup"].items()},  # type: ignore[misc]
            messages=[Message.from_json(m) for m in data["messages"]],
        )


class Directory:
    """The directory of queue files, and the lock that makes each operation atomic."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[Directory]:
        """Hold the directory's exclusive lock (blocking: call from a worker thread)."""
        with open(self.path / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def file(self, name: str) -> Path | None:
        return self.path / f"{name}.json" if _QUEUE_FILE_NAME.fullmatch(name) else None

    def load(self, name: str) -> Queue | None:
        """The queue called ``name``, or None when there is none."""
        path = self.file(name)
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Queue.from_json(json.loads(text))

    def save(self, queue: Queue) -> None:
        path = self.file(queue.spec.name)
        assert path is not None  # created queues have valid names
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(queue.to_json(), out, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, path)

    def remove(self, name: str) -> None:
        path = self.file(name)
        if path is not None:
            path.unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.json") if _QUEUE_FILE_NAME.fullmatch(p.stem))

    def version(self, name: str) -> tuple[int, int, int] | None:
        """Changes whenever the queue's file is replaced: what a long poll watches between looks."""
        path = self.file(name)
        try:
            stat = path.stat() if path is not None else None
        except FileNotFoundError:
            return None
        return None if stat is None else (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _value_to_json(value: MessageAttributeValue) -> list[Any]:
    binary = None if value.binary_value is None else base64.b64encode(value.binary_value).decode()
    return [value.data_type, value.string_value, binary]


def _value_from_json(data: list[Any]) -> MessageAttributeValue:
    data_type, string_value, binary = data
    return MessageAttributeValue(
        data_type, string_value, None if binary is None else base64.b64decode(binary)
    )


def _spec_to_json(spec: QueueSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["extra_attributes"] = [list(pair) for pair in spec.extra_attributes]
    return data


def _spec_from_json(data: dict[str, Any]) -> QueueSpec:
    policy = data["redrive_policy"]
    return QueueSpec(
        **{
            **data,
            "redrive_policy": None if policy is None else RedrivePolicy(**policy),
            "extra_attributes": tuple(tuple(pair) for pair in data["extra_attributes"]),
        }
    )

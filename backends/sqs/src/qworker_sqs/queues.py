"""Naming queues: by name or by full queue URL, and their ARNs.

A queue is named either by its name (``orders``; resolved once with GetQueueUrl) or by its full
URL (``https://sqs.eu-west-1.amazonaws.com/123456789012/orders``; used as is, which also reaches
queues of other accounts). The backend caches, per name or URL the caller used, the queue's URL,
its real ``QueueArn`` and its attributes (:class:`QueueRef`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from qworker.backend import QueueSpec

#: how long cached queue attributes (used to validate sends) are trusted
SPEC_TTL_SECONDS = 60.0

_AWS_HOST = re.compile(
    r"^(?:sqs\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.(?:queue\.)?amazonaws\.com(?:\.cn)?$"
)
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(slots=True)
class QueueRef:
    """What the backend knows about one queue."""

    name: str
    url: str
    arn: str | None = None
    spec: QueueSpec | None = None
    spec_loaded_at: float = 0.0

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    def spec_is_fresh(self) -> bool:
        return self.spec is not None and time.monotonic() - self.spec_loaded_at < SPEC_TTL_SECONDS

    def remember(self, spec: QueueSpec, queue_arn: str) -> None:
        self.spec = spec
        self.arn = queue_arn
        self.spec_loaded_at = time.monotonic()


def is_queue_url(queue: str) -> bool:
    """True when ``queue`` is a full queue URL rather than a name."""
    return queue.startswith(("https://", "http://"))


def name_from_url(url: str) -> str:
    """The queue name: the URL's last path segment."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def partition(region: str) -> str:
    """The AWS partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn_from_url(url: str, default_region: str) -> str | None:
    """The ARN a queue URL stands for (``https://sqs.R.amazonaws.com/ACCOUNT/NAME``), or ``None``.

    A fallback only: the backend prefers the ``QueueArn`` SQS reports. The region is taken from
    an AWS host name, else ``default_region`` (the client's).
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or not _ACCOUNT.match(segments[0]):
        return None
    match = _AWS_HOST.match(parts.hostname or "")
    region = match.group("region") if match else default_region
    return f"arn:{partition(region)}:sqs:{region}:{segments[0]}:{segments[1]}"


def is_aws_endpoint(endpoint_url: str) -> bool:
    """True for Amazon's own SQS endpoints (where every SQS action exists)."""
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))

"""The filter stage: turn received messages into Lambda records and drop those no pattern matches.

Filters run per record, as records arrive and before batching (FLT-2): a record that matches no
pattern never counts towards a batch (FLT-3, FLT-4). What happens to the dropped messages
(deleted by default, FLT-3, or left alone with ``--filter-action skip``) is decided by the
outcome stage (:mod:`qworker.runtime.outcome`): this stage only sorts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from qworker import events
from qworker.backend import ReceivedMessage
from qworker.filters import FilterCriteria

log = structlog.get_logger("qworker")

#: a received message with its Lambda record
Pair = tuple[ReceivedMessage, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RecordMaker:
    """Builds each message's record (EVT-*) and applies the mapping's filter criteria."""

    event_source_arn: str
    aws_region: str
    criteria: FilterCriteria | None = None

    @classmethod
    def for_mapping(
        cls,
        event_source_arn: str,
        aws_region: str,
        patterns: tuple[str, ...],
        *,
        max_filters: int,
        extensions: bool,
    ) -> RecordMaker:
        """Compile the patterns (Lambda's validation errors) and warn when they are not portable."""
        criteria = None
        if patterns:
            criteria = FilterCriteria.compile(patterns, max_filters=max_filters, extensions=extensions)
            if criteria.non_portable_keys:
                log.warning(
                    "filter patterns use keys other than body: AWS documents body-only filtering for SQS "
                    "(FLT-6), so these patterns may not behave the same on Lambda",
                    keys=list(criteria.non_portable_keys),
                )
        return cls(event_source_arn, aws_region, criteria)

    def split(self, received: list[ReceivedMessage]) -> tuple[list[Pair], list[ReceivedMessage]]:
        """The messages that pass, with their records, and the ones no pattern matched."""
        arn, region, criteria = self.event_source_arn, self.aws_region, self.criteria
        kept: list[Pair] = []
        dropped: list[ReceivedMessage] = []
        for message in received:
            view = events.filter_view(message)
            if criteria is not None and not criteria.matches(view):  # parses the body once, if needed
                dropped.append(message)
                continue
            kept.append((message, events.complete_record(view, arn, region)))
        return kept, dropped

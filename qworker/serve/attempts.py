"""FIFO receives by ``ReceiveRequestAttemptId``: a retried receive with the same attempt id gets
the same answer while its messages stay hidden (SQS, up to 5 minutes), per server process."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

#: SQS keeps an attempt's answer for 5 minutes at most
ATTEMPT_WINDOW = 300.0
_MAX_ATTEMPTS_KEPT = 10_000


class AttemptCache:
    """FIFO receive answers by (queue, attempt id), kept while their messages stay hidden."""

    def __init__(self) -> None:
        self._answers: OrderedDict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = OrderedDict()

    def get(self, queue: str, attempt: str) -> list[dict[str, Any]] | None:
        found = self._answers.get((queue, attempt))
        if found is None:
            return None
        if time.monotonic() >= found[0]:
            del self._answers[(queue, attempt)]
            return None
        return found[1]

    def put(self, queue: str, attempt: str, hidden_for: float, answer: list[dict[str, Any]]) -> None:
        self._answers[(queue, attempt)] = (time.monotonic() + min(hidden_for, ATTEMPT_WINDOW), answer)
        while len(self._answers) > _MAX_ATTEMPTS_KEPT:
            self._answers.popitem(last=False)

    def forget_queue(self, queue: str) -> None:
        for key in [key for key in self._answers if key[0] == queue]:
            del self._answers[key]

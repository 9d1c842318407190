"""The one back-off every retry in qworker uses: capped exponential, with full jitter.

Retries of deletes, of receives while a backend is down, of reconnects (Redis) and of SQS calls
all wait ``backoff_delay(attempt)``: a random delay in ``[0, min(cap, base * 2**attempt)]``
("full jitter", as AWS's architecture blog recommends), so many workers that lost their backend
at the same moment do not come back at the same moment.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float = 0.1, cap: float = 5.0) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 62))))

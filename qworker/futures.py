"""Settling the futures of requests that were answered together by one backend call (the
Python client's send coalescer and ``qworker serve``'s request batcher)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def fail_pending(futures: Iterable[asyncio.Future[Any]], exc: BaseException) -> None:
    """The whole call failed: every request still waiting fails with it (or is cancelled, when
    the call was). The caller re-raises ``exc`` unless it is an ordinary ``Exception``."""
    for future in futures:
        if future.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)

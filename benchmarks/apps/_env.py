"""Settings every peer app reads from the environment the benchmark sets (standard library only)."""

from __future__ import annotations

import os


def redis_url() -> str:
    """The private benchmark Redis (``BENCH_REDIS_URL``); never the shared server."""
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")


def setting(name: str, default: int) -> int:
    """An integer tuning knob, ``BENCH_<NAME>``, for the settings sweep."""
    return int(os.environ.get(f"BENCH_{name.upper()}", default))


def use_uvloop() -> None:
    """Run asyncio on uvloop, as qworker does, for a library that does not choose its loop itself."""
    try:
        import asyncio

        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in every benchmark venv
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

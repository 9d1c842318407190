"""Guards for every test directory (tests/, backends/*/tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _no_cached_loggers() -> Iterator[None]:
    """A test that runs ``qworker run`` or ``serve`` in-process configures structlog with cached
    loggers for good: every later test in that process then captures no log lines, and fails
    far from the cause. Fail the test that did it instead."""
    yield
    if structlog.get_config().get("cache_logger_on_first_use"):
        structlog.reset_defaults()
        pytest.fail(
            "this test configured structlog with cached loggers in the test process: run the command "
            "in a subprocess, or call qworker.logs.configure(..., cache=False)"
        )

"""The worker's process-wide settings, apart from the worker itself: reading a configuration
(:mod:`qworker.settings`) needs them, and must not import the whole runtime to get them."""

from __future__ import annotations

from dataclasses import dataclass

from qworker.settings.schema import DEFAULT_GRACEFUL_TIMEOUT


@dataclass(slots=True)
class WorkerOptions:
    """Process-wide settings (not per mapping)."""

    backend_url: str | None = None
    until_empty: bool = False
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    pollers: int = 1
    app_dir: str | None = "."
    set_lambda_environment: bool = True
    #: serve /metrics, /livez and /readyz on this port (None: no HTTP server)
    metrics_port: int | None = None
    #: address the metrics server binds; loopback unless told otherwise (RELIABILITY §3.6)
    metrics_host: str = "127.0.0.1"
    #: seconds between two readings of queue depths for the metrics
    monitor_interval: float = 15.0

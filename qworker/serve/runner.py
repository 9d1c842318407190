"""Running the SQS API server on uvicorn (httptools parser, uvloop loop).

``qworker serve`` calls :func:`serve`. With ``--workers 1`` the app runs in this process; with
N workers uvicorn starts N processes that share the listening socket, and each builds its own
app and backend connection through :func:`app_from_environment` (the settings travel in the
environment: ``QWORKER_BACKEND``, ``QWORKER_SERVE_ACCESS_KEYS``). uvicorn is imported here, never
by ``qworker run``, whose start-up stays as fast as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from qworker.registry import open_backend, resolve_url
from qworker.serve.app import SQSApp
from qworker.serve.auth import Authenticator, load_keys
from qworker.serve.protocol import GuardedHttpToolsProtocol
from qworker.serve.service import Service

ENV_ACCESS_KEYS = "QWORKER_SERVE_ACCESS_KEYS"
ENV_REQUEST_TIMEOUT = "QWORKER_SERVE_REQUEST_TIMEOUT"
#: the console's settings for the worker processes of ``--workers N``: JSON, or empty for none
ENV_CONSOLE = "QWORKER_SERVE_CONSOLE_SETTINGS"
DEFAULT_REQUEST_TIMEOUT = 10.0
#: a long poll lasts at most 20 s: a graceful stop lets the ones under way finish
GRACEFUL_SHUTDOWN = 25
KEEP_ALIVE = 75  #: seconds an idle keep-alive connection stays open (SDK pools keep them ~60 s)


@dataclass
class ServeSettings:
    backend_url: str
    host: str = "127.0.0.1"
    port: int = 9324
    workers: int = 1
    access_keys: list[str] = field(default_factory=list)
    log_level: str = "info"
    #: seconds a client has to send a request's head, and again its body
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: the web console's settings (a ``qworker.console.ConsoleSettings``), None for --no-console
    console: Any = None


def keys_from_environment() -> list[str]:
    text = os.environ.get(ENV_ACCESS_KEYS, "")
    return [part.strip() for part in text.split(",") if part.strip()]


def build_app(
    backend_url: str | None, access_keys: list[str], request_timeout: float, console: Any = None
) -> SQSApp:
    """The app for one process: its own backend (connected at startup), verifier and console."""
    GuardedHttpToolsProtocol.head_timeout = request_timeout
    backend = open_backend(resolve_url(backend_url))
    web = None
    if console is not None:
        from qworker.console import create_console

        web = create_console(backend, console)
    # any credential-scope region: clients pointed at a local endpoint sign with whatever region
    # their configuration has
    authenticator = Authenticator(load_keys(access_keys))
    # the protocol (GuardedHttpToolsProtocol) holds the body to the same deadline
    return SQSApp(Service(backend), authenticator, body_timeout=None, console=web)


def app_from_environment() -> SQSApp:
    """The factory uvicorn's worker processes call (``--workers`` > 1)."""
    timeout = float(os.environ.get(ENV_REQUEST_TIMEOUT) or DEFAULT_REQUEST_TIMEOUT)
    return build_app(None, keys_from_environment(), timeout, _console_from_environment())


def _console_to_environment(settings: Any) -> str:
    """The console settings as JSON for the worker processes (the session secret included, so
    a login made through one process is good on every one)."""
    import json

    if settings is None:
        return ""
    return json.dumps(
        {
            "access_keys": dict(settings.access_keys),
            "read_only": settings.read_only,
            "secret": settings.secret.hex(),
            "sample_interval": settings.sample_interval,
            "allowed_hosts": sorted(settings.allowed_hosts) if settings.allowed_hosts is not None else None,
            "backend_display": settings.backend_display,
        }
    )


def _console_from_environment() -> Any:
    import json

    text = os.environ.get(ENV_CONSOLE, "")
    if not text:
        return None
    from qworker.console.settings import ConsoleSettings

    doc = json.loads(text)
    hosts = doc.pop("allowed_hosts")
    doc["secret"] = bytes.fromhex(doc["secret"])
    return ConsoleSettings(**doc, allowed_hosts=frozenset(hosts) if hosts is not None else None)


def serve(settings: ServeSettings) -> None:
    """Run until SIGINT/SIGTERM (uvicorn's signal handling: a graceful stop, then exit)."""
    import uvicorn

    common = {
        "host": settings.host,
        "port": settings.port,
        "http": GuardedHttpToolsProtocol,
        "loop": "uvloop" if _has_uvloop() else "asyncio",
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,  # queue URLs come from the Host header; no middleware per request
        "log_level": settings.log_level,
        "timeout_keep_alive": KEEP_ALIVE,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
        "backlog": 4096,
    }
    if settings.workers > 1:
        os.environ["QWORKER_BACKEND"] = resolve_url(settings.backend_url)
        os.environ[ENV_ACCESS_KEYS] = ",".join(settings.access_keys)
        os.environ[ENV_REQUEST_TIMEOUT] = str(settings.request_timeout)
        os.environ[ENV_CONSOLE] = _console_to_environment(settings.console)
        uvicorn.run(
            "qworker.serve.runner:app_from_environment", factory=True, workers=settings.workers, **common
        )
        return
    app = build_app(settings.backend_url, settings.access_keys, settings.request_timeout, settings.console)
    uvicorn.run(app, **common)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True

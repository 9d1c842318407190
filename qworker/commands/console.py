"""``qworker console``: the web console alone, on uvicorn, until ``qworker serve`` mounts it.

It serves exactly what ``qworker serve`` serves at ``/console/`` (the same app, mounted at the
same path, with the same ``--access-key`` and ``--console-read-only`` options), so the console
becomes part of the SQS API server's process without changing a URL. Bound to loopback by
default; a non-loopback ``--host`` without ``--access-key`` is refused unless
``--insecure-no-auth`` says that is intended (RELIABILITY §3.6: no unauthenticated UI on the
network by accident).
"""

from __future__ import annotations

import asyncio

import click

from qworker.addresses import is_loopback
from qworker.commands.common import backend_option, option, usage_error
from qworker.console.settings import LOOPBACK_HOSTS, ConsoleSettings, parse_access_keys, session_secret
from qworker.errors import ConfigError
from qworker.registry import open_backend, redact_url


@click.command("console", short_help="Serve the web console (queues, dead letters, workers).")
@option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@option("--port", type=click.IntRange(0, 65535), default=9324, show_default=True, help="Port to bind.")
@option(
    "--access-key",
    "access_keys",
    multiple=True,
    metavar="ID:SECRET",
    envvar="QWORKER_SERVE_ACCESS_KEYS",
    help="Require a login with this access key (repeatable; the same keys as qworker serve).",
)
@option("--console-read-only", "read_only", is_flag=True, help="Show everything, change nothing.")
@option(
    "--sample-interval",
    type=click.FloatRange(1, 300),
    default=10.0,
    show_default=True,
    metavar="S",
    help="Seconds between two readings of every queue's counts.",
)
@option(
    "--insecure-no-auth",
    is_flag=True,
    help="Allow a non-loopback --host without --access-key (anyone who reaches the port may purge).",
)
@backend_option
def console_command(
    host: str,
    port: int,
    access_keys: tuple[str, ...],
    read_only: bool,
    sample_interval: float,
    insecure_no_auth: bool,
    backend_url: str,
) -> None:
    """Serve the console at http://HOST:PORT/console/ for the backend's queues."""
    settings = console_settings(
        host=host,
        access_keys=access_keys,
        read_only=read_only,
        sample_interval=sample_interval,
        backend_url=backend_url,
        insecure_no_auth=insecure_no_auth,
    )
    asyncio.run(_serve(backend_url, settings, host, port))


def console_settings(
    *,
    host: str,
    access_keys: tuple[str, ...] | list[str],
    read_only: bool,
    sample_interval: float,
    backend_url: str,
    insecure_no_auth: bool = False,
) -> ConsoleSettings:
    """The console's settings from command-line options; ``qworker serve`` calls this too, so
    both commands check keys, the bind address and the session secret the same way."""
    try:
        keys = parse_access_keys(_split(tuple(access_keys)))
        secret = session_secret()
    except ConfigError as exc:
        usage_error(str(exc))
    loopback = is_loopback(host)
    if not loopback and not keys and not insecure_no_auth:
        usage_error(
            f"--host {host} is not a loopback address: add --access-key ID:SECRET (or "
            "--insecure-no-auth if the network is trusted)."
        )
    return ConsoleSettings(
        access_keys=keys,
        read_only=read_only,
        secret=secret,
        sample_interval=sample_interval,
        allowed_hosts=LOOPBACK_HOSTS if loopback else None,
        backend_display=redact_url(backend_url),
    )


def _split(values: tuple[str, ...]) -> list[str]:
    """Keys from options, and from the env var (comma- or space-separated there)."""
    out: list[str] = []
    for value in values:
        out += [part for part in value.replace(",", " ").split() if part]
    return out


async def _serve(backend_url: str, settings: ConsoleSettings, host: str, port: int) -> None:
    import uvicorn

    from qworker.console import create_console, standalone_app

    console = create_console(open_backend(backend_url), settings)
    config = uvicorn.Config(
        standalone_app(console),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    click.echo(f"qworker console on http://{host}:{port}/console/ ({redact_url(backend_url)})", err=True)
    await uvicorn.Server(config).serve()

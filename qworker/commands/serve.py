"""``qworker serve``: the SQS API over the backend's queues (see :mod:`qworker.serve`).

AWS SDKs, the AWS CLI and anything else that speaks SQS point at it (``AWS_ENDPOINT_URL_SQS=
http://127.0.0.1:9324``) and reach the same queues as ``qworker run``, ``send`` and ``queue``.
Everything heavy (uvicorn, the app) is imported when the command runs, not when the CLI loads.
"""

from __future__ import annotations

import click

from qworker import logs
from qworker.addresses import is_loopback
from qworker.commands.common import backend_option, option, run_with_backend, usage_error
from qworker.errors import ExitCode


def _check_access(host: str, keys: list[str], allow_anonymous: bool) -> None:
    """Refuse (exit 2) an open port without keys, and keys that do not parse or cannot be
    verified (botocore missing)."""
    if not keys and not allow_anonymous and not is_loopback(host):
        usage_error(
            f"--host {host} is reachable from other machines and no --access-key is given: anyone could "
            "use the queues. Add --access-key ID:SECRET (or QWORKER_SERVE_ACCESS_KEYS), or "
            "--allow-anonymous to serve without authentication."
        )
    try:
        from qworker.serve.auth import load_keys

        load_keys(keys)
    except ValueError as exc:
        usage_error(f"--access-key: {exc}")
    except ImportError as exc:  # botocore (the signer) is in the serve extra
        usage_error(
            f"--access-key: verifying SigV4 signatures needs botocore ({exc}). Install it with: "
            "pip install 'qworker[serve]'"
        )


@click.command("serve", short_help="Serve the SQS API over the backend's queues.")
@option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@option("--port", type=click.IntRange(1, 65535), default=9324, show_default=True, help="Port to listen on.")
@option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Server processes sharing the port, each with its own backend connection.",
)
@option(
    "--access-key",
    "access_keys",
    multiple=True,
    metavar="ID:SECRET",
    envvar="QWORKER_SERVE_ACCESS_KEYS",
    help="Accept requests signed (SigV4) with this key; repeatable. The variable takes a "
    "comma-separated list. Without keys every request is accepted.",
)
@option(
    "--allow-anonymous",
    is_flag=True,
    help="Allow a non-loopback --host without --access-key (anyone who reaches it may use the queues).",
)
@option("--no-console", is_flag=True, help="Do not serve the web console at /console/.")
@option("--console-read-only", is_flag=True, help="The console shows everything and changes nothing.")
@option(
    "--request-timeout",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    metavar="S",
    help="Seconds a client has to send a request's head, and again its body (slow clients get 408).",
)
@option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Server log level.",
)
@backend_option
def serve_command(
    host: str,
    port: int,
    workers: int,
    access_keys: tuple[str, ...],
    allow_anonymous: bool,
    no_console: bool,
    console_read_only: bool,
    request_timeout: float,
    log_level: str,
    backend_url: str,
) -> None:
    """Serve the SQS API (AWS JSON 1.0 and query protocols) at http://HOST:PORT/.

    \b
    Queue URLs are http://HOST:PORT/ACCOUNT/QUEUE (account QWORKER_ACCOUNT_ID, default
    000000000000); the web console at /console/ (--no-console), /livez, /readyz and /metrics are
    served beside the API. Point SDKs at it:
        AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9324 AWS_REGION=us-east-1 \\
        AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws sqs list-queues
    """
    from qworker.serve import runner

    keys = [part.strip() for value in access_keys for part in value.split(",") if part.strip()]
    _check_access(host, keys, allow_anonymous)
    console = None
    if not no_console:
        from qworker.commands.console import console_settings

        console = console_settings(
            host=host,
            access_keys=keys,
            read_only=console_read_only,
            sample_interval=10.0,
            backend_url=backend_url,
            insecure_no_auth=allow_anonymous,
        )
    logs.configure("auto", log_level)
    run_with_backend(backend_url, lambda backend: backend.list_queues())  # reachable? (else exit 3)
    settings = runner.ServeSettings(
        backend_url, host, port, workers, keys, log_level, request_timeout, console
    )
    try:
        runner.serve(settings)
    except OSError as exc:  # the port is taken, or the address is not ours
        raise click.exceptions.Exit(ExitCode.USAGE) from exc

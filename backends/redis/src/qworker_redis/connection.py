"""Backend URLs: what a ``redis://`` URL says, parsed and checked (clients: :mod:`.transport`).

URL forms (the password is never logged: :func:`qworker.redaction.redact_url`)::

    redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?OPTIONS]
    rediss://...                                   TLS, certificate verified by default
    redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...][?OPTIONS]
    rediss+cluster://...                           Redis Cluster over TLS

Options (query parameters): ``ssl_ca_certs=PATH``, ``ssl_certfile=PATH``, ``ssl_keyfile=PATH``,
``ssl_cert_reqs=required|optional|none`` (default ``required``), ``ssl_check_hostname=true|false``
(default ``true``), ``socket_timeout`` (s, default 15), ``socket_connect_timeout`` (s, default 5),
``max_connections`` (default unlimited; one is held by each long-polling receiver),
``retry_timeout`` (s, default 10: how long a call keeps reconnecting, with capped jittered
back-off shared by all the backend's calls, before it fails with BackendUnavailable) and
``prefix`` (key prefix, default ``qworker``; see :mod:`qworker_redis.keys`). Unknown options
are an error, not ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from qworker.errors import ConfigError
from qworker.redaction import redact_url, split_userinfo

SCHEMES = {
    "redis": (False, False),
    "rediss": (True, False),
    "redis+cluster": (False, True),
    "rediss+cluster": (True, True),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Everything a URL says, parsed and checked."""

    url: str = field(repr=False)
    tls: bool
    cluster: bool
    hosts: list[tuple[str, int]]
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = "qworker"
    socket_timeout: float = 15.0
    socket_connect_timeout: float = 5.0
    max_connections: int | None = None
    retry_timeout: float = 10.0
    ssl: dict[str, Any] = field(default_factory=dict)

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


def parse_url(url: str) -> Settings:
    """Parse a backend URL; raises ``ConfigError`` naming what is wrong (never the password)."""
    shown = redact_url(url)
    # the userinfo is split off exactly as redact_url splits it, so what is used as a credential
    # is what is masked, whatever the URL form (raw '@', '/', '?' in a password included)
    scheme, userinfo, rest = split_userinfo(url)
    if scheme.lower() not in SCHEMES:
        raise ConfigError(f"Not a Redis URL: {shown!r} (expected redis://, rediss://, redis+cluster://)")
    tls, cluster = SCHEMES[scheme.lower()]
    rest = rest.partition("#")[0]  # a fragment means nothing to Redis
    rest, _, query = rest.partition("?")
    hostlist, _, path = rest.partition("/")
    username = password = None
    if userinfo is not None:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if not colon:  # redis://PASSWORD@host is the common legacy form
            username, password = None, unquote(user) or None
    hosts = [_host_port(item, shown) for item in (hostlist or "localhost").split(",")]
    if len(hosts) > 1 and not cluster:
        raise ConfigError(f"Several hosts need the redis+cluster:// scheme: {shown!r}")
    db = 0
    if path.strip("/"):
        try:
            db = int(path.strip("/"))
        except ValueError:
            raise ConfigError(f"The database in {shown!r} must be a number, not {path!r}") from None
        if cluster and db != 0:
            raise ConfigError(f"Redis Cluster has only database 0: {shown!r}")
    options, ssl = _options(query, shown)
    return Settings(
        url=url,
        tls=tls,
        cluster=cluster,
        hosts=hosts,
        db=db,
        username=username,
        password=password,
        ssl=ssl if tls else {},
        **options,
    )


def _options(query: str, shown: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The query options: Settings fields, and the ``ssl_*`` options (redis-py's names)."""
    options: dict[str, Any] = {}
    ssl: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            ssl[key] = value
        elif key == "ssl_cert_reqs":
            if value not in ("required", "optional", "none"):
                raise ConfigError(f"ssl_cert_reqs must be required, optional or none, not {value!r}")
            ssl[key] = value
        elif key == "ssl_check_hostname":
            ssl[key] = _bool(key, value)
        elif key in ("socket_timeout", "socket_connect_timeout", "retry_timeout"):
            options[key] = _number(key, value, float)
        elif key == "max_connections":
            options[key] = _number(key, value, int)
        elif key == "prefix":
            if not value or any(c in value for c in "{}: "):
                raise ConfigError(f"prefix must be non-empty without braces, colons or spaces: {value!r}")
            options[key] = value
        else:
            raise ConfigError(f"Unknown option {key!r} in Redis URL {shown!r}")
    if ssl["ssl_cert_reqs"] == "none":
        ssl["ssl_check_hostname"] = False
    return options, ssl


def _host_port(item: str, shown: str) -> tuple[str, int]:
    if item.startswith("["):  # [::1]:6379
        host, _, port = item[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    try:
        return host or "localhost", int(port) if port else 6379
    except ValueError:
        raise ConfigError(f"Bad port {port!r} in Redis URL {shown!r}") from None


def _bool(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{key} must be true or false, not {value!r}")


def _number(key: str, value: str, kind: type) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{key} must be positive, not {value!r}")
    return number

"""Every credential in every backend URL form is redacted everywhere a URL can be shown.

A hypothesis property builds URLs of every scheme (redis, rediss, redis+cluster, rediss+cluster,
sqlite, sqs) with user:password, password-only and user-only userinfo, percent-encoded and raw
secrets (``@``, ``:``, ``/``, ``%`` ... inside), several hosts, IPv6 hosts and query strings that
carry secrets (``?password=``, ``aws_secret_access_key``, tokens, a nested endpoint URL with a
password), then checks that no form of any secret reaches: :func:`redact_url`, free text through
:func:`redact_text`, a CLI error line, ``describe`` (the "cannot reach" line), a backend's
``display_url`` and ``repr``, the error a backend raises for a URL it refuses, and a rendered log
line. Secrets start with ``QX`` and hosts are lower case, so a secret cannot hide in a host name.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qworker import logs
from qworker.commands.common import CommandError, describe
from qworker.errors import BackendUnavailable, QWorkerError
from qworker.redaction import redact_text, redact_url, split_userinfo
from qworker.registry import open_backend, scheme_of

SETTINGS = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "sqlite", "sqs")
#: characters of secrets that are percent-encoded in the URL (everything printable)
ENCODED_ALPHABET = "abcXYZ0189@:/?#%&=+ !$'()*,;[]~._-\\\"<>é€"
#: characters of secrets pasted raw: no whitespace or quotes (they end a URL in free text) and no
#: '=' or '&' (with a raw '?' they make a query, which nothing can tell apart; see redaction.py)
RAW_ALPHABET = "abcXYZ0189@:/?#%!$*+,;[]~._-"
SECRET_PARAMS = (
    "password",
    "aws_secret_access_key",
    "secret",
    "token",
    "X-Amz-Security-Token",
    "aws_session_token",
    "api_key",
    "sig",
    "AWSAccessKeyId",
    "client_secret",
)


@dataclass
class Case:
    url: str
    secrets: list[str] = field(default_factory=list)
    #: parts that must stay visible (hosts, the user of user:password)
    shown: list[str] = field(default_factory=list)
    #: the password a Redis URL must yield (None: not checked)
    redis_password: str | None = None
    redis_username: str | None = None


def _secret(alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=3, max_size=16).map(lambda s: "QX" + s)


hostnames = st.one_of(
    st.sampled_from(["localhost", "127.0.0.1", "[::1]", "[2001:db8::7]", "redis.internal"]),
    st.from_regex(r"h[a-z0-9]{0,6}", fullmatch=True),
)
ports = st.one_of(st.none(), st.integers(1, 65535))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    scheme = draw(st.sampled_from(SCHEMES))
    raw = draw(st.booleans())
    secret = draw(_secret(RAW_ALPHABET if raw else ENCODED_ALPHABET))
    written = secret if raw else quote(secret, safe="")
    user = draw(st.from_regex(r"u[a-z0-9]{0,6}", fullmatch=True))
    form = draw(st.sampled_from(["user:pass", ":pass", "pass", "none"]))
    if raw and form == "pass":  # a raw ':' there makes it user:password, as any URL parser reads it
        secret = secret.replace(":", "")
        written = secret
    case = Case("")
    userinfo = ""
    if form == "user:pass":
        userinfo = f"{user}:{written}@"
        case.shown.append(user)
        case.redis_username, case.redis_password = user, secret
    elif form == ":pass":
        userinfo = f":{written}@"
        case.redis_password = secret
    elif form == "pass":  # password-only (redis-py) / user-only: the whole userinfo is secret
        userinfo = f"{written}@"
        case.redis_password = secret
    if form != "none":
        case.secrets.append(secret)
    if raw:
        case.redis_password = case.redis_username = None  # raw '%' decodes: not compared
    count = draw(st.integers(2, 3)) if scheme.endswith("cluster") else draw(st.integers(1, 2))
    hosts = []
    for _ in range(count):
        host, port = draw(hostnames), draw(ports)
        hosts.append(host if port is None else f"{host}:{port}")
    case.shown += hosts
    if scheme == "sqlite":
        authority, path = (
            userinfo + (hosts[0] if draw(st.booleans()) else ""),
            draw(st.sampled_from(["/queues.db", "//tmp/q@x.db", "/:memory:", ""])),
        )
        case.shown = [user] if form == "user:pass" else []
    elif scheme == "sqs":
        authority, path = userinfo + (hosts[0] if draw(st.booleans()) else ""), ""
        case.shown = [user] if form == "user:pass" else []
    else:
        authority, path = userinfo + ",".join(hosts), draw(st.sampled_from(["", "/0", "/1", "/"]))
    params = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["secret", "benign", "nested"]))
        if kind == "secret":
            value = draw(_secret(ENCODED_ALPHABET))
            case.secrets.append(value)
            params.append(f"{draw(st.sampled_from(SECRET_PARAMS))}={quote_plus(value)}")
        elif kind == "nested":
            value = draw(_secret(ENCODED_ALPHABET))
            case.secrets.append(value)
            nested = f"http://{user}:{quote(value, safe='')}@endpoint.local:9324"
            params.append(f"endpoint_url={quote(nested, safe='') if draw(st.booleans()) else nested}")
        else:
            params.append(draw(st.sampled_from(["prefix=tq", "region=eu-west-1", "socket_timeout=3"])))
    query = ("?" + "&".join(params)) if params else ""
    case.url = f"{scheme}://{authority}{path}{query}"
    return case


def _forms(secret: str) -> set[str]:
    """Every way ``secret`` can be written in a URL or a text."""
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), repr(secret)[1:-1]}


def _assert_hidden(text: str, case: Case, where: str) -> None:
    for secret in case.secrets:
        for form in _forms(secret):
            assert form not in text, f"{where} shows the secret {form!r} of {case.url!r}: {text!r}"


def _log_line(**fields: object) -> str:
    """One JSON log line through qworker's redaction processor and renderer."""
    event = logs._redact_event(None, "info", dict(fields))
    return structlog.processors.JSONRenderer()(None, "info", event)


@SETTINGS
@given(cases())
@example(Case("redis://QXpassword@host:6379", ["QXpassword"], ["host:6379"], "QXpassword"))
@example(Case("rediss+cluster://user:QXpw@h1:7000,h2:7001", ["QXpw"], ["user", "h1:7000", "h2:7001"]))
@example(Case("redis://u:QXp%40ss%3Aw@[::1]:6379/0", ["QXp@ss:w"], ["u", "[::1]:6379"], "QXp@ss:w", "u"))
@example(Case("redis://QXab/cd+ef==@h:1/0", ["QXab/cd+ef=="], ["h:1"], "QXab/cd+ef=="))
@example(Case("redis://pa?QXss@h:1/0?prefix=x", ["pa?QXss"], ["h:1"]))
@example(Case("sqs://?aws_secret_access_key=QXkey&region=x", ["QXkey"], ["region=x"]))
@example(Case("sqs://?endpoint_url=http://u:QXpw@h:9324", ["QXpw"], ["h:9324"]))
@example(Case("sqlite:///q.db?password=QXpw", ["QXpw"], ["q.db"]))
@example(Case("sqs://?endpoint_url=http://u:QX00%5B@endpoint.local:9324", ["QX00["]))  # crashed urlsplit
@example(Case("sqs://?endpoint_url=http://[QXpw@h:1", ["QXpw"]))
def test_no_credential_is_ever_shown(case: Case) -> None:
    url = case.url
    shown = redact_url(url)
    _assert_hidden(shown, case, "redact_url")
    for part in case.shown:
        assert part in shown, f"redact_url hid {part!r}, which is no secret: {url!r} -> {shown!r}"
    assert redact_url(shown) == shown  # idempotent: redacting a redacted URL changes nothing
    for text in (f"cannot reach {url}: boom", f"Invalid backend URL {url!r}.", f"({url}), then"):
        _assert_hidden(redact_text(text), case, "redact_text")
    _assert_hidden(CommandError(f"failed on {url}: x").format_message(), case, "a CLI error line")
    _assert_hidden(describe(BackendUnavailable(f"refused {url}"), url), case, "describe()")
    _assert_hidden(
        _log_line(event="worker started", backend=url, extra={"urls": [url]}, error=ValueError(url)),
        case,
        "a log line",
    )
    try:
        backend = open_backend(url)
    except QWorkerError as exc:  # a refusal (sqs:// with credentials, sqlite:// with a host, ...)
        _assert_hidden(str(exc), case, f"{type(exc).__name__}")
    else:
        _assert_hidden(backend.display_url, case, "display_url")
        _assert_hidden(repr(backend), case, "repr(backend)")
        settings_ = getattr(backend, "_settings", None)
        _assert_hidden(repr(settings_), case, "repr(settings)")
        if scheme_of(url).startswith("redis") and case.redis_password is not None:
            # what is masked is what is used as the credential
            assert settings_.password == case.redis_password  # type: ignore[union-attr]
            assert settings_.username == case.redis_username  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://QXpass@host:6379/0", "redis://***@host:6379/0"),
        ("redis://user:QXpass@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:QXpass@host", "redis://:***@host"),
        ("rediss+cluster://user:pw@h1:7000,h2:7001", "rediss+cluster://user:***@h1:7000,h2:7001"),
        ("redis+cluster://pw@[::1]:7000,[::2]:7001", "redis+cluster://***@[::1]:7000,[::2]:7001"),
        ("redis://u:p%40ss@h", "redis://u:***@h"),
        ("redis://u:p@ss@h", "redis://u:***@h"),  # a raw '@' in the password
        ("redis://u:pa/ss@h/0", "redis://u:***@h/0"),  # a raw '/' (base64 passwords have them)
        ("redis://u:pa?ss@h/0", "redis://u:***@h/0"),  # a raw '?'
        ("redis://h/0?password=x&prefix=p", "redis://h/0?password=***&prefix=p"),
        ("redis://h/0?ssl_ca_certs=/certs/a@b.pem", "redis://h/0?ssl_ca_certs=/certs/a@b.pem"),
        ("sqlite:////var/lib/q@1.db", "sqlite:////var/lib/q@1.db"),  # '@' in a file name
        ("sqlite://u:p@/q.db", "sqlite://u:***@/q.db"),
        ("sqs://", "sqs://"),
        (
            "sqs://?region=eu-west-1&aws_secret_access_key=x",
            "sqs://?region=eu-west-1&aws_secret_access_key=***",
        ),
        ("sqs://?endpoint_url=http://u:p@h:1", "sqs://?endpoint_url=http://u:***@h:1"),
        ("sqs://AKIAABCDEFGHIJKLMNOP:x@", "sqs://***:***@"),
        ("redis:/u:p@h", "***@h"),  # not a URL: masked up to the '@'
        ("", ""),
    ],
)
def test_redact_url_forms(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_the_redis_parser_uses_the_redactors_split() -> None:
    from qworker_redis.connection import parse_url

    for url in ("redis://u:pa/ss@h:1/0", "redis://u:pa?ss@h:1/0?prefix=x", "redis://pa@ss@h:1"):
        settings_ = parse_url(url)
        _, userinfo, _ = split_userinfo(url)
        assert userinfo is not None and settings_.hosts == [("h", 1)]
    assert parse_url("redis://u:pa/ss@h:1/0").password == "pa/ss"
    assert parse_url("redis://pa@ss@h:1").password == "pa@ss"
    assert parse_url("redis://u:pa?ss@h:1/0?prefix=x").prefix == "x"


def test_text_redaction_keeps_prose() -> None:
    assert redact_text("invalid username-password pair or user is disabled.") == (
        "invalid username-password pair or user is disabled."
    )
    assert redact_text("Authorization: Bearer abc.def") == "Authorization: ***"
    assert redact_text('{"password": "hunter2"}') == '{"password": "***"}'
    assert redact_text("key AKIAABCDEFGHIJKLMNOP") == "key AKIA****************"
    assert redact_text("AUTH failed for QXsecret", ["QXsecret"]) == "AUTH failed for ***"


def test_structlog_and_stdlib_lines_are_redacted() -> None:
    """The configured pipeline: structlog events and stdlib records (with a traceback)."""
    stream = io.StringIO()
    import sys

    old = sys.stderr
    sys.stderr = stream
    try:
        logs.configure("json", "info", cache=False)
        structlog.get_logger("t").info(
            "worker started", backend="redis://QXpw@h:1/0", info={"u": ["redis://u:QXpw@h"]}
        )
        try:
            raise ConnectionError("cannot reach redis://QXpw@h:1/0")
        except ConnectionError:
            logging.getLogger("lib").exception("failed on rediss://u:QXpw@h")
    finally:
        sys.stderr = old
        logs.reset()
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "QXpw" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["backend"] == "redis://***@h:1/0"
    assert "redis://***@h:1/0" in lines[1]["exception"]

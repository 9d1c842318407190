"""Credentials out of URLs and texts: the one place qworker redacts secrets (RELIABILITY.md §3.1, §3.7).

Every URL qworker shows (a backend's ``display_url``, ``qworker check``, error lines, log lines)
goes through :func:`redact_url`; free text (log fields, exception messages) goes through
:func:`redact_text`, which finds the URLs in it and hands each to :func:`redact_url`. Nothing else
in qworker parses URLs for redaction: backends that need the user and password of a URL take
them from :func:`split_userinfo`, so what is masked is exactly what is used as a credential.

What counts as a credential in a URL:

- the userinfo: ``user:PASSWORD@`` keeps the user and masks the password; userinfo without a colon
  (``redis://PASSWORD@host``, which redis-py reads as a password) is masked whole;
- query (and fragment) parameters whose name looks like a secret (``password``, ``token``,
  ``aws_secret_access_key``, ``X-Amz-Credential``, ``sig``, ``...key``, ...);
- URLs nested in parameter values (``sqs://?endpoint_url=http://user:pw@host``).

Passwords should be percent-encoded, but people paste them raw; the userinfo is found the way a
person reads the URL: up to the last ``@`` before the query, or past a ``?``/``#`` when what
follows cannot be a query (``redis://pa?ss@host``) or what precedes cannot be a host list. When
in doubt, more is masked, never less.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: URLs inside free text: a scheme, then anything up to whitespace, a quote or an angle bracket
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
#: schemes whose ``scheme:///...`` is a file path, where an ``@`` is part of a file name
_PATH_SCHEMES = frozenset({"sqlite", "file"})
#: an authority that is only hosts and ports: ``h``, ``h:1``, ``[::1]:1``, ``h1:1,h2:2``, or empty
_HOST = r"(?:\[[0-9A-Za-z:.%_~-]*\]|[A-Za-z0-9._~%!$'()*+;=-]*)(?::[0-9]*)?"
_HOSTLIST = re.compile(rf"{_HOST}(?:,{_HOST})*")
#: query/fragment parameter names whose values are secrets (the name itself is shown)
_SECRET_NAME = re.compile(
    r"pass|pwd|secret|token|credential|auth|signature|session|private|apikey|api_key|access_?key|"
    r"key_?id|^sig$|key$",
    re.IGNORECASE,
)
_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
#: header-like pairs whose whole value is a secret (``Authorization: Bearer ...``)
_SECRET_HEADER = re.compile(
    r"(?i)\b(aws_secret_access_key|secret_access_key|aws_session_token|authorization)"
    r"([\"']?\s*[=:]\s*[\"']?)([^\r\n'\"]+)"
)
#: ``name=value`` pairs in free text whose value is a secret (``password=hunter2``)
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api_?key|signature)([\"']?\s*[=:]\s*[\"']?)([^\s'\",&;)]+)"
)


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme, userinfo, rest)`` of a ``scheme://`` URL.

    ``userinfo`` is the raw (still percent-encoded) text before the ``@`` that ends it, or
    ``None``; ``rest`` is everything after it (hosts, path, query, fragment). A string without
    ``scheme://`` gives ``("", None, url)``. Never raises.
    """
    match = _SCHEME.match(url)
    if match is None:
        return "", None, url
    scheme = url[: match.end() - 3]
    start = match.end()
    end = _userinfo_end(url, start, scheme.lower())
    if end < 0:
        return scheme, None, url[start:]
    return scheme, url[start:end], url[end + 1 :]


def _userinfo_end(url: str, start: int, scheme: str) -> int:
    """Index of the ``@`` that ends the userinfo, or -1 when there is none."""
    if start >= len(url) or (url[start] == "/" and scheme in _PATH_SCHEMES):
        return -1
    if scheme in _PATH_SCHEMES:  # an '@' in a file name is not a userinfo
        at = url.rfind("@", start, _first_of(url, "/?#", start))
        if at >= 0:
            return at
    query = _first_of(url, "?#", start)
    # A raw '?' or '#' in the password: an '@' past it, before any '=' (a query parameter has its
    # '=' first: ``?ssl_ca_certs=/certs/a@b.pem`` is no userinfo).
    equals = _first_of(url, "=", query + 1)
    at = url.rfind("@", query + 1, equals)
    if at >= 0:
        return at
    at = url.rfind("@", start, query)
    if at >= 0:
        return at
    authority = url[start : _first_of(url, "/?#", start)]
    if "@" in url[query:] and not _HOSTLIST.fullmatch(authority):  # ``redis://u:pa?s=s@h``
        return url.rfind("@")
    return -1


def _first_of(text: str, chars: str, start: int) -> int:
    found = [i for i in (text.find(c, start) for c in chars) if i >= 0]
    return min(found) if found else len(text)


def redact_url(url: str) -> str:
    """``url`` with every credential in it replaced by ``***``, safe to show (never raises).

    ``redis://user:pw@h`` -> ``redis://user:***@h``; ``redis://pw@h`` -> ``redis://***@h``;
    ``sqs://?aws_secret_access_key=x`` -> ``sqs://?aws_secret_access_key=***``. A string that is
    not a ``scheme://`` URL is masked up to its last ``@``.
    """
    scheme, userinfo, rest = split_userinfo(url)
    if not scheme:
        at = url.rfind("@")
        return f"{MASK}{_redact_params(url[at:])}" if at >= 0 else _redact_params(url)
    shown = ""
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        # the user is shown unless the split is in doubt (an '@', '/', '?' or '#' in it)
        plain_user = colon and not any(c in user for c in "@/?#")
        shown = f"{_AWS_KEY_ID.sub(MASK, user)}:{MASK}@" if plain_user else f"{MASK}@"
    return f"{scheme}://{shown}{_redact_params(rest)}"


def _redact_params(rest: str) -> str:
    """``rest`` (hosts/path?query#fragment) with secret-named parameters and nested URLs masked."""
    start = _first_of(rest, "?#", 0)
    if start >= len(rest):
        return rest
    out = [rest[:start]]
    for piece in re.split(r"([?#&;])", rest[start:]):
        if piece in ("?", "#", "&", ";") or not piece:
            out.append(piece)
            continue
        name, equals, value = piece.partition("=")
        plain_name, plain_value = unquote_plus(name), unquote_plus(value)  # never raise on str
        if equals and _SECRET_NAME.search(plain_name):
            out.append(f"{name}={MASK}")
        elif "://" in plain_value:  # a nested URL: redacted as written, else decoded
            nested = value if "://" in value else plain_value
            redacted = redact_url(nested)
            out.append(f"{name}={value if redacted == nested else redacted}")
        elif not equals and "@" in piece:  # no name=value: maybe the rest of a raw password
            out.append(MASK)
        else:
            out.append(piece)
    return "".join(out)


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`, AWS access key ids and
    ``secret=value``-style pairs masked, and each of ``secrets`` (known passwords) replaced.
    Never raises."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)
    if "AKIA" in text or "ASIA" in text:
        text = _AWS_KEY_ID.sub(lambda match: match.group(1) + "*" * 16, text)
    lowered = text.lower()
    if any(word in lowered for word in ("secret", "authorization", "token")):
        text = _SECRET_HEADER.sub(_mask, text)
    if any(word in lowered for word in ("pass", "pwd", "secret", "token", "key", "signature")):
        text = _SECRET_PAIR.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    name, separator, value = match.groups()
    return match.group() if value.startswith(MASK) else f"{name}{separator}{MASK}"

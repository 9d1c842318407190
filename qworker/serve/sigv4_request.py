"""What a SigV4-signed request claims, read from the request as received: the credential,
signed headers, signature and date from an ``Authorization`` header or a presigned query string,
and the canonical query string, with the errors Amazon SQS answers for each malformed part.

Every input here is hostile: sizes are bounded (``_MAX_*``), every part is matched against a
strict pattern before use, and no error echoes a secret or an unbounded value. The verification
itself (recomputing the signature) is :class:`qworker.serve.sigv4.SigV4Verifier`.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: SQS's window: "Signature expired: ... (... - 15 min.)".
DEFAULT_MAX_SKEW_SECONDS = 900.0
#: A SigV4 presigned URL lives at most a week.
MAX_PRESIGNED_EXPIRES = 604_800

MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationToken"
INCOMPLETE_SIGNATURE = "IncompleteSignature"
INVALID_CLIENT_TOKEN_ID = "InvalidClientTokenId"
SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"

_MISSING_MESSAGE = "Request is missing Authentication Token"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

# Bounds on what a request may make the verifier do; past them the request is IncompleteSignature.
_MAX_AUTH_VALUE = 8192  # the Authorization header, or one X-Amz-* query parameter
_MAX_SIGNED_HEADERS = 128  # names in SignedHeaders (botocore signs about 8)
MAX_SIGNED_VALUES = 1024  # header lines those names select, repeated headers counted
_MAX_ECHOED_CANONICAL = 16_384  # the canonical request quoted back in SignatureDoesNotMatch

_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
BASE_URL = "http://sigv4.invalid"  # only its path is read (botocore splits request.url)

KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
SECRET = re.compile(r"[\x21-\x7e]{1,1024}")
REGION = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
SERVICE = re.compile(r"[a-z0-9.\-]{1,64}")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z\-]{1,32}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z\-]{1,256}")
# Printable ASCII without '#' and '?': what botocore's urlsplit of the path gives back unchanged.
_PATH = re.compile(r"/[\x21\x22\x24-\x3e\x40-\x7e]*")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_EXPIRES = re.compile(r"[0-9]{1,7}")
HEX64 = re.compile(r"[0-9a-f]{64}")
_TOKEN_LINE = re.compile(r"(?m)^(x-amz-security-token:).*$")
_TOKEN_PARAM = re.compile(r"(X-Amz-Security-Token=)[^&\n]*")

_PRESIGN_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_PRESIGN_MARKERS = frozenset({b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature"})
_PRESIGN_PARAMS = frozenset(name.encode() for name in (*_PRESIGN_REQUIRED, "X-Amz-Content-Sha256"))


class AuthError(Exception):
    """A request failed authentication: ``code``, ``message`` and HTTP ``status`` are what SQS
    answers with (``fault`` is the query protocol's ``<Type>``)."""

    fault = "Sender"

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def incomplete(message: str) -> AuthError:
    return AuthError(INCOMPLETE_SIGNATURE, message, 400)


def mismatch(message: str = _MISMATCH_MESSAGE) -> AuthError:
    return AuthError(SIGNATURE_DOES_NOT_MATCH, message, 403)


@dataclass
class Claim:
    """What a request says about its signature, from either form."""

    credential: str
    signed_headers: str
    signature: str
    timestamp: str  # SigV4 basic format, as it enters the string to sign
    epoch: float
    expires: int | None  # presigned only


def read_claim(
    header_values: Mapping[str, list[str]], query_pairs: list[tuple[bytes, bytes]]
) -> tuple[Claim, bool]:
    """The request's claim and whether it came from a presigned query string; raises
    :class:`AuthError` when there is none, or both forms, or more than one header."""
    authorization = [v for v in header_values.get("authorization", []) if v.strip()]
    presigned = any(name in _PRESIGN_MARKERS for name, _ in query_pairs)
    if authorization and presigned:
        raise incomplete(
            "Found both 'X-Amz-Algorithm' (or another X-Amz-* authentication parameter) as a "
            "query-string param and 'Authorization' as HTTP header."
        )
    if not authorization and not presigned:
        raise AuthError(MISSING_AUTHENTICATION_TOKEN, _MISSING_MESSAGE, 403)
    if len(authorization) > 1:
        raise incomplete("The request has more than one Authorization header.")
    if presigned:
        return _presigned_claim(query_pairs), True
    return _header_claim(authorization[0], header_values), False


def request_line(method: str | bytes, path: str | bytes) -> tuple[str, str]:
    """The method and path as signed, checked: an HTTP method token, and a path of printable
    ASCII starting with '/' (what botocore's canonicalisation reads back unchanged)."""
    method_text = _text(method)
    if not _METHOD.fullmatch(method_text):
        raise incomplete("The request method is not an HTTP method token.")
    path_text = _text(path) or "/"
    if not _PATH.fullmatch(path_text):
        raise incomplete(
            "The request path must start with '/' and hold only printable ASCII without '#' "
            "(percent-encode everything else)."
        )
    return method_text, path_text


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return value


def show(value: str, limit: int = 64) -> str:
    """A client-supplied, non-secret value quoted in an error text, or a placeholder when it is
    long or not printable ASCII."""
    if len(value) <= limit and value.isascii() and value.isprintable():
        return f"'{value}'"
    return "(not shown)"


def collect_headers(
    headers: Sequence[tuple[str | bytes, str | bytes]] | Mapping[str, str],
) -> dict[str, list[str]]:
    items: Iterable[tuple[str | bytes, str | bytes]] = (
        headers.items() if isinstance(headers, Mapping) else headers
    )
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(_text(name).strip().lower(), []).append(_text(value))
    return values


def split_query(query_string: str | bytes) -> list[tuple[bytes, bytes]]:
    """The query's name/value pairs, decoded to bytes the way a form decoder (``parse_qsl``) reads
    them: ``+`` is a space. SigV4 signs a space as ``%20``, but botocore sends the query parameters
    of an ``AWSRequest`` as ``+`` (``urlencode``), and AWS accepts them; no SDK sends a bare ``+``
    for a plus. Empty segments are dropped."""
    raw = query_string.encode("utf-8") if isinstance(query_string, str) else bytes(query_string)
    pairs: list[tuple[bytes, bytes]] = []
    for segment in raw.split(b"&"):
        if not segment:
            continue
        name, _, value = segment.partition(b"=")
        pairs.append(
            (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    return pairs


def build_canonical_query(pairs: list[tuple[bytes, bytes]], *, drop_signature: bool) -> str:
    """SigV4's canonical query string: each name and value RFC 3986 encoded (only ``A-Za-z0-9-_.~``
    left as is), sorted by name then value, ``X-Amz-Signature`` left out of a presigned URL's."""
    encoded = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~"))
        for name, value in pairs
        if not (drop_signature and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def query_text(value: bytes) -> str:
    if len(value) > _MAX_AUTH_VALUE:
        raise incomplete(f"An X-Amz-* query parameter is longer than {_MAX_AUTH_VALUE} characters.")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise incomplete("An X-Amz-* query parameter is not UTF-8.") from None


def _parse_amz_date(value: str) -> float | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        moment = datetime.strptime(value, _SIGV4_TIMESTAMP)
    except ValueError:
        return None
    return float(calendar.timegm(moment.timetuple()))


def _bad_date(value: str) -> AuthError:
    return incomplete(
        f"Date must be in ISO-8601 'basic format'. Got {show(value)}. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _header_claim(authorization: str, header_values: Mapping[str, list[str]]) -> Claim:
    if len(authorization) > _MAX_AUTH_VALUE:
        raise incomplete(f"The Authorization header is longer than {_MAX_AUTH_VALUE} characters.")
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        raise incomplete(
            f"The Authorization header must use the '{ALGORITHM}' algorithm (Signature Version 4); "
            "no other is supported."
        )
    params: dict[str, str] = {}
    for position, component in enumerate(rest.split(","), 1):
        component = component.strip()
        if not component:
            continue
        name, eq, value = component.partition("=")
        name = name.strip()
        if not eq:
            raise incomplete(
                f"Component {position} of the Authorization header is not a valid key=value pair "
                "(missing equal-sign)."
            )
        if name in params:
            raise incomplete(f"The Authorization header has more than one {show(name, 32)} parameter.")
        params[name] = value.strip()

    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in params
    ]
    amz_dates = header_values.get("x-amz-date", [])
    http_dates = header_values.get("date", [])
    if not amz_dates and not http_dates:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise incomplete(" ".join(problems))
    if len(amz_dates) > 1 or (not amz_dates and len(http_dates) > 1):
        raise incomplete("The request has more than one date header.")
    if amz_dates:
        timestamp = amz_dates[0].strip()
        epoch = _parse_amz_date(timestamp)
        if epoch is None:
            raise _bad_date(timestamp)
    else:
        timestamp, epoch = _from_http_date(http_dates[0].strip())
    return Claim(
        credential=params["Credential"],
        signed_headers=params["SignedHeaders"],
        signature=params["Signature"],
        timestamp=timestamp,
        epoch=epoch,
        expires=None,
    )


def _from_http_date(value: str) -> tuple[str, float]:
    """An RFC 7231 ``Date`` header (used when there is no ``X-Amz-Date``) as the SigV4 timestamp."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise incomplete(f"The Date header {show(value)} is not an HTTP date.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise incomplete(f"The Date header {show(value)} is not an HTTP date.") from None
    timestamp = moment.strftime(_SIGV4_TIMESTAMP)
    if not _AMZ_DATE.fullmatch(timestamp):
        raise incomplete(f"The Date header {show(value)} is out of range.")
    return timestamp, moment.timestamp()


def _presigned_claim(pairs: list[tuple[bytes, bytes]]) -> Claim:
    params: dict[bytes, bytes] = {}
    for name, value in pairs:
        if name in _PRESIGN_PARAMS:
            if name in params:
                raise incomplete(f"The query string has more than one '{name.decode()}' parameter.")
            params[name] = value
    if any(name.encode() not in params for name in _PRESIGN_REQUIRED):
        raise incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. "
            "Re-examine the query-string parameters."
        )
    text = {name: query_text(params[name.encode()]) for name in _PRESIGN_REQUIRED}
    if text["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm only supports '{ALGORITHM}'.")
    timestamp = text["X-Amz-Date"]
    epoch = _parse_amz_date(timestamp)
    if epoch is None:
        raise _bad_date(timestamp)
    expires_text = text["X-Amz-Expires"]
    if not _EXPIRES.fullmatch(expires_text) or int(expires_text) > MAX_PRESIGNED_EXPIRES:
        raise incomplete(
            f"X-Amz-Expires must be a whole number of seconds from 0 to {MAX_PRESIGNED_EXPIRES} (a week)."
        )
    return Claim(
        credential=text["X-Amz-Credential"],
        signed_headers=text["X-Amz-SignedHeaders"],
        signature=text["X-Amz-Signature"],
        timestamp=timestamp,
        epoch=epoch,
        expires=int(expires_text),
    )


def signed_header_names(value: str) -> list[str]:
    if value.count(";") >= _MAX_SIGNED_HEADERS:
        raise incomplete(f"SignedHeaders names more than {_MAX_SIGNED_HEADERS} headers.")
    names = value.split(";")
    if not all(_HEADER_NAME.fullmatch(name) for name in names):
        raise incomplete("SignedHeaders must be a ';'-separated list of lowercase header names.")
    if len(set(names)) != len(names):
        raise incomplete("SignedHeaders names a header more than once.")
    if "host" not in names:
        raise incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return names


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(math.floor(epoch), UTC).strftime(_SIGV4_TIMESTAMP)


def span(seconds: float) -> str:
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min."
    return f"{seconds:g} sec."


def mismatch_message(canonical_request: str, string_to_sign: str) -> str:
    """SQS's SignatureDoesNotMatch text, which quotes what the signature should have covered (a
    session token, should one be signed, is blanked)."""
    echoed = _TOKEN_PARAM.sub(r"\1<redacted>", _TOKEN_LINE.sub(r"\1<redacted>", canonical_request))
    if len(echoed) > _MAX_ECHOED_CANONICAL:
        echoed = echoed[:_MAX_ECHOED_CANONICAL] + "\n...(truncated)"
    return (
        f"{_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{echoed}'\n\n"
        f"The String-to-Sign should have been\n'{string_to_sign}'\n"
    )

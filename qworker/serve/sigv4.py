"""AWS Signature Version 4 verification for ``qworker serve``.

Unchanged AWS SDK producers sign every SQS call with SigV4. :class:`SigV4Verifier` checks such a
request against the configured access keys and answers with the access key id, or raises
:class:`AuthError` carrying the code, message and HTTP status that Amazon SQS answers with.

The signature is recomputed with botocore's own ``SigV4Auth`` machinery (canonical request, string
to sign, signing key) and compared with :func:`hmac.compare_digest`. Two pieces are supplied here
because a verifier must take them from the request as received rather than from a request being
built: the headers to sign are exactly those the client named in ``SignedHeaders`` (with the
``Host`` header as sent, port included), and the canonical query string is rebuilt from the
decoded parameters (form decoding, ``+`` a space; then RFC 3986 encoded and sorted), as AWS does.

Calling it from an ASGI app (pass the *raw* path and query: a decoded ``scope["path"]`` loses the
percent-encoding that was signed, and the body exactly as received)::

    key_id = verifier.verify(
        scope["method"], scope["raw_path"], scope["query_string"], scope["headers"], body
    )

Errors, as Amazon SQS answers them (all are the sender's fault, ``<Type>Sender</Type>``):

=================================  ======  ==================================================
code                               status  when
=================================  ======  ==================================================
``MissingAuthenticationToken``     403     no ``Authorization`` header and no ``X-Amz-*``
                                           query authentication
``IncompleteSignature``            400     malformed ``Authorization`` header or query
                                           parameters, a bad date, absurd sizes
``InvalidClientTokenId``           403     the access key id is not configured
``SignatureDoesNotMatch``          403     wrong signature, credential scope (service,
                                           region, date, terminator), date outside the
                                           allowed skew, expired presigned URL, body hash
=================================  ======  ==================================================

Beyond what the SDKs send, this also accepts a ``Date`` header in place of ``X-Amz-Date`` (SigV4
allows either) and ``X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`` (the body is then not covered by the
signature; refused with ``allow_unsigned_payload=False``). An ``X-Amz-Security-Token`` is verified
as a signed header and otherwise ignored: qworker's keys are long-term keys, there are no sessions.

For the server: act on the request as it was verified. The signed path is normalised the SigV4 way
(``.`` and ``..`` segments resolved, repeated slashes collapsed), so ``/000000000000//q`` verifies
like ``/000000000000/q``; the query string is read with ``+`` as a space, like ``parse_qsl``; and
the body must be the bytes that were hashed.

Nothing here logs, and no secret ever appears in an exception text or ``repr``.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = [
    "ALGORITHM",
    "INCOMPLETE_SIGNATURE",
    "INVALID_CLIENT_TOKEN_ID",
    "MISSING_AUTHENTICATION_TOKEN",
    "SIGNATURE_DOES_NOT_MATCH",
    "AccessKey",
    "AuthError",
    "SigV4Verifier",
    "parse_access_keys",
]

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
_INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

# Bounds on what a request may make the verifier do; past them the request is IncompleteSignature.
_MAX_AUTH_VALUE = 8192  # the Authorization header, or one X-Amz-* query parameter
_MAX_SIGNED_HEADERS = 128  # names in SignedHeaders (botocore signs about 8)
_MAX_SIGNED_VALUES = 1024  # header lines those names select, repeated headers counted
_MAX_ECHOED_CANONICAL = 16_384  # the canonical request quoted back in SignatureDoesNotMatch

_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_BASE_URL = "http://sigv4.invalid"  # only its path is read (botocore splits request.url)

_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_SECRET = re.compile(r"[\x21-\x7e]{1,1024}")
_REGION = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_SERVICE = re.compile(r"[a-z0-9.\-]{1,64}")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z\-]{1,32}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z\-]{1,256}")
# Printable ASCII without '#' and '?': what botocore's urlsplit of the path gives back unchanged.
_PATH = re.compile(r"/[\x21\x22\x24-\x3e\x40-\x7e]*")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_EXPIRES = re.compile(r"[0-9]{1,7}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
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


@dataclass(frozen=True)
class AccessKey:
    """One access key pair. The secret never shows in ``repr`` (nor in any error text)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.access_key_id, str) or not _KEY_ID.fullmatch(self.access_key_id):
            raise ValueError("an access key id must be 1-128 characters from A-Z a-z 0-9 _ . -")
        if not isinstance(self.secret_access_key, str) or not _SECRET.fullmatch(self.secret_access_key):
            raise ValueError(
                f"the secret access key of {self.access_key_id!r} must be 1-1024 printable ASCII "
                "characters without spaces"
            )


class AuthError(Exception):
    """A request failed authentication: ``code``, ``message`` and HTTP ``status`` are what SQS
    answers with (``fault`` is the query protocol's ``<Type>``)."""

    fault = "Sender"

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _incomplete(message: str) -> AuthError:
    return AuthError(INCOMPLETE_SIGNATURE, message, 400)


def _mismatch(message: str = _MISMATCH_MESSAGE) -> AuthError:
    return AuthError(SIGNATURE_DOES_NOT_MATCH, message, 403)


def parse_access_keys(values: Iterable[str], *, source: str = "access key") -> dict[str, AccessKey]:
    """Parse ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` items into keys by id.

    Each value may hold several comma-separated items, so both a repeatable ``--access-key`` option
    and a comma-separated ``QWORKER_SERVE_ACCESS_KEYS`` can be passed straight in; blank items are
    skipped. The id ends at the first ``:`` (a secret may contain ``:``, never ``,``).

    Raises ``ValueError`` naming the bad item by its position in ``source`` (and by its key id once
    that id is valid); the text of an item that cannot be split, and every secret, is never shown.
    """
    keys: dict[str, AccessKey] = {}
    position = 0
    for value in values:
        for raw in value.split(","):
            item = raw.strip()
            if not item:
                continue
            position += 1
            where = f"{source} #{position}"
            key_id, sep, secret = item.partition(":")
            if not sep:
                raise ValueError(
                    f"{where} is not of the form ACCESS_KEY_ID:SECRET_ACCESS_KEY (no ':'; its text is "
                    "not shown, in case it is a secret)"
                )
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"{where}: the access key id (before the first ':') must be 1-128 characters from "
                    "A-Z a-z 0-9 _ . - (its text is not shown, in case it is a secret)"
                )
            if not _SECRET.fullmatch(secret):
                raise ValueError(
                    f"{where} ({key_id!r}): the secret access key must be 1-1024 printable ASCII "
                    "characters without spaces"
                )
            if key_id in keys:
                raise ValueError(f"{where}: access key id {key_id!r} is given more than once")
            keys[key_id] = AccessKey(key_id, secret)
    return keys


class _HeaderSelection:
    """The headers named in SignedHeaders, as botocore's canonicalisation reads them: names
    iterated, ``get_all(name)`` the values in arrival order (a signed name the request lacks
    canonicalises as an empty value)."""

    def __init__(self, names: Sequence[str], values: Mapping[str, list[str]]) -> None:
        self._values = {name: values.get(name, [""]) for name in names}

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get_all(self, name: str, failobj: list[str] | None = None) -> list[str] | None:
        return self._values.get(name, failobj)

    def line_count(self) -> int:
        return sum(len(values) for values in self._values.values())


class _VerifyingSigV4Auth(SigV4Auth):
    """botocore's SigV4 signer with the two inputs a verifier takes from the received request."""

    def __init__(
        self,
        credentials: Credentials,
        service_name: str,
        region_name: str,
        headers_to_sign: _HeaderSelection,
        canonical_query: str,
    ) -> None:
        super().__init__(credentials, service_name, region_name)
        self._selected_headers = headers_to_sign
        self._canonical_query = canonical_query

    def headers_to_sign(self, request: AWSRequest) -> _HeaderSelection:
        return self._selected_headers

    def canonical_query_string(self, request: AWSRequest) -> str:
        return self._canonical_query


@dataclass
class _Claim:
    """What a request says about its signature, from either form."""

    credential: str
    signed_headers: str
    signature: str
    timestamp: str  # SigV4 basic format, as it enters the string to sign
    epoch: float
    expires: int | None  # presigned only


class SigV4Verifier:
    """Verify SigV4-signed SQS requests (``Authorization`` header or presigned query string).

    ``keys`` maps access key ids to keys. ``region``, when given, is the only credential-scope
    region accepted (otherwise any). A header-signed request's date must be within
    ``max_skew_seconds`` of ``clock()`` either way (SQS: 15 minutes); a presigned URL is good
    from ``max_skew_seconds`` before its ``X-Amz-Date`` until ``X-Amz-Expires`` seconds after it.
    """

    def __init__(
        self,
        keys: Mapping[str, AccessKey],
        *,
        region: str | None = None,
        service: str = "sqs",
        max_skew_seconds: float = DEFAULT_MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
        allow_unsigned_payload: bool = True,
    ) -> None:
        for key_id, key in keys.items():
            if not isinstance(key, AccessKey) or key.access_key_id != key_id:
                raise ValueError(f"keys[{key_id!r}] must be an AccessKey with that access key id")
        if region is not None and not _REGION.fullmatch(region):
            raise ValueError(f"region {region!r} is not a region name")
        if not _SERVICE.fullmatch(service):
            raise ValueError(f"service {service!r} is not a service signing name")
        if not (max_skew_seconds > 0 and math.isfinite(max_skew_seconds)):
            raise ValueError("max_skew_seconds must be a positive number")
        self._keys = dict(keys)
        self._region = region
        self._service = service
        self._max_skew = float(max_skew_seconds)
        self._clock = clock
        self._allow_unsigned_payload = allow_unsigned_payload

    def verify(
        self,
        method: str | bytes,
        path: str | bytes,
        query_string: str | bytes,
        headers: Sequence[tuple[str | bytes, str | bytes]] | Mapping[str, str],
        body: bytes,
    ) -> str:
        """Return the access key id that signed the request, or raise :class:`AuthError`.

        ``path`` and ``query_string`` are as sent (percent-encoded, no ``?``); ``headers`` may
        repeat a name (the values are joined with commas, as SigV4 says); ``body`` is the bytes
        received. ``bytes`` arguments are read as Latin-1, like an ASGI scope's.
        """
        try:
            return self._verify(method, path, query_string, headers, body)
        except UnicodeError:
            # A str argument holding lone surrogates: nothing a client could have signed.
            raise _incomplete("The request has text that cannot be encoded for signing.") from None

    # -- the steps ------------------------------------------------------------------------------

    def _verify(
        self,
        method: str | bytes,
        path: str | bytes,
        query_string: str | bytes,
        headers: Sequence[tuple[str | bytes, str | bytes]] | Mapping[str, str],
        body: bytes,
    ) -> str:
        header_values = _collect_headers(headers)
        query_pairs = _split_query(query_string)
        authorization = [v for v in header_values.get("authorization", []) if v.strip()]
        presigned = any(name in _PRESIGN_MARKERS for name, _ in query_pairs)
        if authorization and presigned:
            raise _incomplete(
                "Found both 'X-Amz-Algorithm' (or another X-Amz-* authentication parameter) as a "
                "query-string param and 'Authorization' as HTTP header."
            )
        if not authorization and not presigned:
            raise AuthError(MISSING_AUTHENTICATION_TOKEN, _MISSING_MESSAGE, 403)
        if len(authorization) > 1:
            raise _incomplete("The request has more than one Authorization header.")
        if presigned:
            claim = _presigned_claim(query_pairs)
        else:
            claim = _header_claim(authorization[0], header_values)

        key_id, region = self._check_scope(claim)
        key = self._keys[key_id]
        signed_names = _signed_header_names(claim.signed_headers)
        self._check_time(claim)
        payload = self._payload_line(header_values, query_pairs if presigned else [], body)

        method_text = _text(method)
        if not _METHOD.fullmatch(method_text):
            raise _incomplete("The request method is not an HTTP method token.")
        path_text = _text(path) or "/"
        if not _PATH.fullmatch(path_text):
            raise _incomplete(
                "The request path must start with '/' and hold only printable ASCII without '#' "
                "(percent-encode everything else)."
            )
        selection = _HeaderSelection(signed_names, header_values)
        if selection.line_count() > _MAX_SIGNED_VALUES:
            raise _incomplete(f"The signed headers repeat more than {_MAX_SIGNED_VALUES} times in all.")
        canonical_query = _canonical_query(query_pairs, drop_signature=presigned)

        signer = _VerifyingSigV4Auth(
            Credentials(key.access_key_id, key.secret_access_key),
            self._service,
            region,
            selection,
            canonical_query,
        )
        request = AWSRequest(
            method=method_text, url=_BASE_URL + path_text, headers={"X-Amz-Content-SHA256": payload}
        )
        request.context["timestamp"] = claim.timestamp
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        provided = claim.signature
        if _HEX64.fullmatch(provided) and hmac.compare_digest(expected.encode(), provided.encode()):
            return key_id
        raise _mismatch(_mismatch_message(canonical_request, string_to_sign))

    def _check_scope(self, claim: _Claim) -> tuple[str, str]:
        parts = claim.credential.split("/")
        if len(parts) != 5:
            raise _incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                f"keyid/date/region/service/term, got {len(parts)}."
            )
        key_id, scope_date, region, service, terminator = parts
        if key_id not in self._keys:
            raise AuthError(INVALID_CLIENT_TOKEN_ID, _INVALID_TOKEN_MESSAGE, 403)
        if scope_date != claim.timestamp[:8]:
            raise _mismatch(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                f"HTTP: {_show(scope_date)} != '{claim.timestamp[:8]}', from '{claim.timestamp}'."
            )
        if not _REGION.fullmatch(region) or (self._region is not None and region != self._region):
            raise _mismatch(f"Credential should be scoped to a valid region, not {_show(region)}. ")
        if service != self._service:
            raise _mismatch(f"Credential should be scoped to correct service: '{self._service}'. ")
        if terminator != "aws4_request":
            raise _mismatch(
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not {_show(terminator)}. "
            )
        return key_id, region

    def _check_time(self, claim: _Claim) -> None:
        now = self._clock()
        skew = self._max_skew
        if claim.epoch > now + skew:
            raise _mismatch(
                f"Signature not yet current: {claim.timestamp} is still later than "
                f"{_format_time(now + skew)} ({_format_time(now)} + {_span(skew)})"
            )
        window = skew if claim.expires is None else float(claim.expires)
        if claim.epoch < now - window:
            raise _mismatch(
                f"Signature expired: {claim.timestamp} is now earlier than "
                f"{_format_time(now - window)} ({_format_time(now)} - {_span(window)})"
            )

    def _payload_line(
        self, header_values: Mapping[str, list[str]], query_pairs: list[tuple[bytes, bytes]], body: bytes
    ) -> str:
        """The canonical request's last line: the declared body hash (checked against the body),
        ``UNSIGNED-PAYLOAD``, or the body's hash."""
        declared_values = [v.strip() for v in header_values.get("x-amz-content-sha256", [])]
        if not declared_values:
            # The query-string form some presigners use (S3's convention).
            declared_values = [_query_text(v) for k, v in query_pairs if k == b"X-Amz-Content-Sha256"]
        if len(declared_values) > 1:
            raise _incomplete("The request has more than one X-Amz-Content-Sha256.")
        actual = hashlib.sha256(body).hexdigest()
        if not declared_values:
            return actual
        declared = declared_values[0]
        if declared == UNSIGNED_PAYLOAD:
            if not self._allow_unsigned_payload:
                raise _incomplete("UNSIGNED-PAYLOAD is not accepted here: sign the request body.")
            return declared
        if declared.lower() != actual:
            raise _mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
        return declared


# -- parsing helpers ---------------------------------------------------------------------------


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return value


def _show(value: str, limit: int = 64) -> str:
    """A client-supplied, non-secret value quoted in an error text, or a placeholder when it is
    long or not printable ASCII."""
    if len(value) <= limit and value.isascii() and value.isprintable():
        return f"'{value}'"
    return "(not shown)"


def _collect_headers(
    headers: Sequence[tuple[str | bytes, str | bytes]] | Mapping[str, str],
) -> dict[str, list[str]]:
    items: Iterable[tuple[str | bytes, str | bytes]] = (
        headers.items() if isinstance(headers, Mapping) else headers
    )
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(_text(name).strip().lower(), []).append(_text(value))
    return values


def _split_query(query_string: str | bytes) -> list[tuple[bytes, bytes]]:
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


def _canonical_query(pairs: list[tuple[bytes, bytes]], *, drop_signature: bool) -> str:
    """SigV4's canonical query string: each name and value RFC 3986 encoded (only ``A-Za-z0-9-_.~``
    left as is), sorted by name then value, ``X-Amz-Signature`` left out of a presigned URL's."""
    encoded = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~"))
        for name, value in pairs
        if not (drop_signature and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _query_text(value: bytes) -> str:
    if len(value) > _MAX_AUTH_VALUE:
        raise _incomplete(f"An X-Amz-* query parameter is longer than {_MAX_AUTH_VALUE} characters.")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _incomplete("An X-Amz-* query parameter is not UTF-8.") from None


def _parse_amz_date(value: str) -> float | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        moment = datetime.strptime(value, _SIGV4_TIMESTAMP)
    except ValueError:
        return None
    return float(calendar.timegm(moment.timetuple()))


def _bad_date(value: str) -> AuthError:
    return _incomplete(
        f"Date must be in ISO-8601 'basic format'. Got {_show(value)}. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _header_claim(authorization: str, header_values: Mapping[str, list[str]]) -> _Claim:
    if len(authorization) > _MAX_AUTH_VALUE:
        raise _incomplete(f"The Authorization header is longer than {_MAX_AUTH_VALUE} characters.")
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        raise _incomplete(
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
            raise _incomplete(
                f"Component {position} of the Authorization header is not a valid key=value pair "
                "(missing equal-sign)."
            )
        if name in params:
            raise _incomplete(f"The Authorization header has more than one {_show(name, 32)} parameter.")
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
        raise _incomplete(" ".join(problems))
    if len(amz_dates) > 1 or (not amz_dates and len(http_dates) > 1):
        raise _incomplete("The request has more than one date header.")
    if amz_dates:
        timestamp = amz_dates[0].strip()
        epoch = _parse_amz_date(timestamp)
        if epoch is None:
            raise _bad_date(timestamp)
    else:
        timestamp, epoch = _from_http_date(http_dates[0].strip())
    return _Claim(
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
        raise _incomplete(f"The Date header {_show(value)} is not an HTTP date.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _incomplete(f"The Date header {_show(value)} is not an HTTP date.") from None
    timestamp = moment.strftime(_SIGV4_TIMESTAMP)
    if not _AMZ_DATE.fullmatch(timestamp):
        raise _incomplete(f"The Date header {_show(value)} is out of range.")
    return timestamp, moment.timestamp()


def _presigned_claim(pairs: list[tuple[bytes, bytes]]) -> _Claim:
    params: dict[bytes, bytes] = {}
    for name, value in pairs:
        if name in _PRESIGN_PARAMS:
            if name in params:
                raise _incomplete(f"The query string has more than one '{name.decode()}' parameter.")
            params[name] = value
    if any(name.encode() not in params for name in _PRESIGN_REQUIRED):
        raise _incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. "
            "Re-examine the query-string parameters."
        )
    text = {name: _query_text(params[name.encode()]) for name in _PRESIGN_REQUIRED}
    if text["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"X-Amz-Algorithm only supports '{ALGORITHM}'.")
    timestamp = text["X-Amz-Date"]
    epoch = _parse_amz_date(timestamp)
    if epoch is None:
        raise _bad_date(timestamp)
    expires_text = text["X-Amz-Expires"]
    if not _EXPIRES.fullmatch(expires_text) or int(expires_text) > MAX_PRESIGNED_EXPIRES:
        raise _incomplete(
            f"X-Amz-Expires must be a whole number of seconds from 0 to {MAX_PRESIGNED_EXPIRES} (a week)."
        )
    return _Claim(
        credential=text["X-Amz-Credential"],
        signed_headers=text["X-Amz-SignedHeaders"],
        signature=text["X-Amz-Signature"],
        timestamp=timestamp,
        epoch=epoch,
        expires=int(expires_text),
    )


def _signed_header_names(value: str) -> list[str]:
    if value.count(";") >= _MAX_SIGNED_HEADERS:
        raise _incomplete(f"SignedHeaders names more than {_MAX_SIGNED_HEADERS} headers.")
    names = value.split(";")
    if not all(_HEADER_NAME.fullmatch(name) for name in names):
        raise _incomplete("SignedHeaders must be a ';'-separated list of lowercase header names.")
    if len(set(names)) != len(names):
        raise _incomplete("SignedHeaders names a header more than once.")
    if "host" not in names:
        raise _incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return names


def _format_time(epoch: float) -> str:
    return datetime.fromtimestamp(math.floor(epoch), UTC).strftime(_SIGV4_TIMESTAMP)


def _span(seconds: float) -> str:
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min."
    return f"{seconds:g} sec."


def _mismatch_message(canonical_request: str, string_to_sign: str) -> str:
    """SQS's SignatureDoesNotMatch text, which quotes what the signature should have covered (a
    session token, should one be signed, is blanked)."""
    echoed = _TOKEN_PARAM.sub(r"\1<redacted>", _TOKEN_LINE.sub(r"\1<redacted>", canonical_request))
    if len(echoed) > _MAX_ECHOED_CANONICAL:
        echoed = echoed[:_MAX_ECHOED_CANONICAL] + "\n...(truncated)"
    return (
        f"{_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{echoed}'\n\n"
        f"The String-to-Sign should have been\n'{string_to_sign}'\n"
    )

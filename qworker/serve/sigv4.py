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

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from qworker.serve.sigv4_request import (
    ALGORITHM,
    BASE_URL,
    DEFAULT_MAX_SKEW_SECONDS,
    HEX64,
    INCOMPLETE_SIGNATURE,
    INVALID_CLIENT_TOKEN_ID,
    INVALID_TOKEN_MESSAGE,
    KEY_ID,
    MAX_SIGNED_VALUES,
    MISSING_AUTHENTICATION_TOKEN,
    REGION,
    SECRET,
    SERVICE,
    SIGNATURE_DOES_NOT_MATCH,
    UNSIGNED_PAYLOAD,
    AuthError,
    Claim,
    build_canonical_query,
    collect_headers,
    format_time,
    incomplete,
    mismatch,
    mismatch_message,
    query_text,
    read_claim,
    request_line,
    show,
    signed_header_names,
    span,
    split_query,
)

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


@dataclass(frozen=True)
class AccessKey:
    """One access key pair. The secret never shows in ``repr`` (nor in any error text)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.access_key_id, str) or not KEY_ID.fullmatch(self.access_key_id):
            raise ValueError("an access key id must be 1-128 characters from A-Z a-z 0-9 _ . -")
        if not isinstance(self.secret_access_key, str) or not SECRET.fullmatch(self.secret_access_key):
            raise ValueError(
                f"the secret access key of {self.access_key_id!r} must be 1-1024 printable ASCII "
                "characters without spaces"
            )


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
            if not KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"{where}: the access key id (before the first ':') must be 1-128 characters from "
                    "A-Z a-z 0-9 _ . - (its text is not shown, in case it is a secret)"
                )
            if not SECRET.fullmatch(secret):
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
        if region is not None and not REGION.fullmatch(region):
            raise ValueError(f"region {region!r} is not a region name")
        if not SERVICE.fullmatch(service):
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
            raise incomplete("The request has text that cannot be encoded for signing.") from None

    # -- the steps ------------------------------------------------------------------------------

    def _verify(
        self,
        method: str | bytes,
        path: str | bytes,
        query_string: str | bytes,
        headers: Sequence[tuple[str | bytes, str | bytes]] | Mapping[str, str],
        body: bytes,
    ) -> str:
        header_values = collect_headers(headers)
        query_pairs = split_query(query_string)
        claim, presigned = read_claim(header_values, query_pairs)
        key_id, region = self._check_scope(claim)
        key = self._keys[key_id]
        signed_names = signed_header_names(claim.signed_headers)
        self._check_time(claim)
        payload = self._payload_line(header_values, query_pairs if presigned else [], body)
        method_text, path_text = request_line(method, path)
        selection = _HeaderSelection(signed_names, header_values)
        if selection.line_count() > MAX_SIGNED_VALUES:
            raise incomplete(f"The signed headers repeat more than {MAX_SIGNED_VALUES} times in all.")
        canonical_query = build_canonical_query(query_pairs, drop_signature=presigned)

        signer = _VerifyingSigV4Auth(
            Credentials(key.access_key_id, key.secret_access_key),
            self._service,
            region,
            selection,
            canonical_query,
        )
        request = AWSRequest(
            method=method_text, url=BASE_URL + path_text, headers={"X-Amz-Content-SHA256": payload}
        )
        request.context["timestamp"] = claim.timestamp
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        provided = claim.signature
        if HEX64.fullmatch(provided) and hmac.compare_digest(expected.encode(), provided.encode()):
            return key_id
        raise mismatch(mismatch_message(canonical_request, string_to_sign))

    def _check_scope(self, claim: Claim) -> tuple[str, str]:
        parts = claim.credential.split("/")
        if len(parts) != 5:
            raise incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                f"keyid/date/region/service/term, got {len(parts)}."
            )
        key_id, scope_date, region, service, terminator = parts
        if key_id not in self._keys:
            raise AuthError(INVALID_CLIENT_TOKEN_ID, INVALID_TOKEN_MESSAGE, 403)
        if scope_date != claim.timestamp[:8]:
            raise mismatch(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                f"HTTP: {show(scope_date)} != '{claim.timestamp[:8]}', from '{claim.timestamp}'."
            )
        if not REGION.fullmatch(region) or (self._region is not None and region != self._region):
            raise mismatch(f"Credential should be scoped to a valid region, not {show(region)}. ")
        if service != self._service:
            raise mismatch(f"Credential should be scoped to correct service: '{self._service}'. ")
        if terminator != "aws4_request":
            raise mismatch(
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not {show(terminator)}. "
            )
        return key_id, region

    def _check_time(self, claim: Claim) -> None:
        now = self._clock()
        skew = self._max_skew
        if claim.epoch > now + skew:
            raise mismatch(
                f"Signature not yet current: {claim.timestamp} is still later than "
                f"{format_time(now + skew)} ({format_time(now)} + {span(skew)})"
            )
        window = skew if claim.expires is None else float(claim.expires)
        if claim.epoch < now - window:
            raise mismatch(
                f"Signature expired: {claim.timestamp} is now earlier than "
                f"{format_time(now - window)} ({format_time(now)} - {span(window)})"
            )

    def _payload_line(
        self, header_values: Mapping[str, list[str]], query_pairs: list[tuple[bytes, bytes]], body: bytes
    ) -> str:
        """The canonical request's last line: the declared body hash (checked against the body),
        ``UNSIGNED-PAYLOAD``, or the body's hash."""
        declared_values = [v.strip() for v in header_values.get("x-amz-content-sha256", [])]
        if not declared_values:
            # The query-string form some presigners use (S3's convention).
            declared_values = [query_text(v) for k, v in query_pairs if k == b"X-Amz-Content-Sha256"]
        if len(declared_values) > 1:
            raise incomplete("The request has more than one X-Amz-Content-Sha256.")
        actual = hashlib.sha256(body).hexdigest()
        if not declared_values:
            return actual
        declared = declared_values[0]
        if declared == UNSIGNED_PAYLOAD:
            if not self._allow_unsigned_payload:
                raise incomplete("UNSIGNED-PAYLOAD is not accepted here: sign the request body.")
            return declared
        if declared.lower() != actual:
            raise mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
        return declared

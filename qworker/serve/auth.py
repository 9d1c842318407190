"""Who may call the API: SigV4 signatures checked against the server's access keys, or nobody
checked at all.

With access keys (``--access-key ID:SECRET``, ``QWORKER_SERVE_ACCESS_KEYS``) every request must be
signed with one of them (the ``Authorization`` header, or the presigned-query form); the check
is :class:`qworker.serve.sigv4.SigV4Verifier`, which recomputes the signature with botocore's
own signer. Without keys any signature, or none, is accepted: the server is then only for
loopback use, unless started with ``--allow-anonymous`` (:mod:`qworker.serve.runner`).
"""

from __future__ import annotations

from typing import Any

from qworker.serve.errors import SQSError


class Authenticator:
    """Verifies requests when keys are configured; a no-op otherwise."""

    def __init__(self, keys: dict[str, Any] | None = None, region: str | None = None) -> None:
        self.enabled = bool(keys)
        self._verifier: Any = None
        if self.enabled:
            from qworker.serve.sigv4 import SigV4Verifier

            self._verifier = SigV4Verifier(keys, region=region)

    def check(
        self,
        method: str,
        raw_path: bytes,
        query_string: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> str | None:
        """The verified access key id; ``None`` when no keys are configured. Raises SQSError.

        ``raw_path`` and ``query_string`` are as sent (percent-encoded), ``headers`` the ASGI
        scope's: the signature covers the bytes the client sent, not their decoded form."""
        if not self.enabled:
            return None
        from qworker.serve.sigv4 import AuthError

        try:
            return str(self._verifier.verify(method, raw_path, query_string, headers, body))
        except AuthError as exc:
            raise SQSError(exc.code, exc.message, status=exc.status) from None


def load_keys(values: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``ID:SECRET`` strings as the verifier's keys (usage errors are ``ValueError``)."""
    if not values:
        return {}
    from qworker.serve.sigv4 import parse_access_keys

    return dict(parse_access_keys(list(values)))

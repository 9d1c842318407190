"""The console's front door: one ASGI middleware that every request passes, so no page or action
can forget a check.

In order: the ``Host`` header (a loopback console refuses other names, which stops DNS-rebinding
pages from reading it); the session (a signed cookie, made for every new visitor) or a bearer
token; login when access keys are set; for every POST, read-only mode and the CSRF token (read
from the form body, which is then replayed to the handler); and the security headers on every
response: a strict Content-Security-Policy (scripts and styles only from the console's own
static files, no inline script), no framing, no sniffing, no referrer, no caching of pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from qworker.console import sessions
from qworker.console.settings import ConsoleSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the largest form body accepted (a message body of 256 KiB, form-encoded, fits)
MAX_FORM_BYTES = 2 * 1024 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
#: paths (below the console's root) that need no login
_OPEN_PATHS = ("/login", "/static/")
#: POST paths allowed in read-only mode (they change nothing in the queues)
_READ_ONLY_POSTS = ("/login", "/logout")


class ConsoleGuard:
    """Wraps the console's router; see the module docstring."""

    def __init__(self, app: ASGIApp, settings: ConsoleSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self._host_ok(headers.get("host", "")):
            await _plain(send, 421, "This console answers only to its own host name (Host header refused).")
            return
        settings = self.settings
        session = sessions.decode(
            settings.secret, _cookie(headers.get("cookie", "")), settings.session_seconds
        )
        bearer = sessions.bearer_key(settings.access_keys, headers.get("authorization"))
        if session is not None and session.key_id and session.key_id not in settings.access_keys:
            session = None  # the key was removed since the login
        fresh = session is None
        if session is None:
            session = sessions.new_session()
        scope.setdefault("state", {})
        scope["state"].update(session=session, bearer=bearer, settings=settings)
        path = scope.get("path", "")[len(scope.get("root_path", "")) :] or "/"
        send = self._with_headers(send, session if fresh else None, scope, path.startswith("/static/"))
        authenticated = bearer is not None or session.logged_in or not settings.login_required
        if not authenticated and not path.startswith(_OPEN_PATHS):
            await self._login_needed(scope, send)
            return
        if scope["method"] == "POST":
            body = await _read_body(receive)
            if body is None:
                await _plain(send, 413, "The form is too large.")
                return
            if settings.read_only and path not in _READ_ONLY_POSTS:
                await _plain(send, 403, "This console is read-only (--console-read-only): actions are off.")
                return
            token = parse_qs(body.decode("utf-8", "replace")).get("csrf", [None])[0]
            token = token or headers.get("x-csrf-token")
            # a bearer request carries no ambient credential, so it cannot be forged cross-site
            if bearer is None and not sessions.csrf_ok(settings.secret, session, token):
                await _plain(send, 403, "Missing or wrong CSRF token: reload the page and try again.")
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    def _host_ok(self, host: str) -> bool:
        allowed = self.settings.allowed_hosts
        if allowed is None:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.lower() in allowed

    def _with_headers(self, send: Send, fresh: sessions.Session | None, scope: Scope, static: bool) -> Send:
        cookie = None
        if fresh is not None:
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            root = scope.get("root_path", "") or "/"
            value = sessions.encode(self.settings.secret, fresh)
            cookie = (
                f"{sessions.COOKIE_NAME}={value}; Path={root}; HttpOnly; SameSite=Strict{secure}"
            ).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    # pages hold CSRF tokens and live data: never cached; vendored files may be
                    headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                if cookie is not None and not any(k.lower() == b"set-cookie" for k, _ in headers):
                    headers.append((b"set-cookie", cookie))
                message["headers"] = headers
            await send(message)

        return send_with_headers

    async def _login_needed(self, scope: Scope, send: Send) -> None:
        root = scope.get("root_path", "")
        if scope["method"] == "GET" and "application/json" not in _accept(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", f"{root}/login".encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _plain(send, 401, "Log in first (or send Authorization: Bearer ID:SECRET).")


def _accept(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key.lower() == b"accept":
            return value.decode("latin-1")
    return ""


def _cookie(header: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(sessions.COOKIE_NAME)
    return morsel.value if morsel is not None else None


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

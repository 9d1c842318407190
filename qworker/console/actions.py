"""The console's actions (POST): Send, Purge, Delete, Redrive, Cancel, attribute edits, login.

The guard has already checked the session, the CSRF token and read-only mode for every POST
here. Each action is one backend call (or starts one redrive task), then redirects back to the
queue page (303, so a reload does not repeat it) with a notice code; a refused form re-renders
the page with the reason and status 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from qworker.console import forms, sessions
from qworker.console.forms import FormError
from qworker.console.pages import render_queue
from qworker.errors import QWorkerError

if TYPE_CHECKING:
    from qworker.console.state import Console


def _back(request: Request, name: str, notice: str, anchor: str = "") -> RedirectResponse:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/queues/{quote(name)}?notice={notice}{anchor}", status_code=303)


def routes(console: Console) -> list[Route]:
    """The POST routes, one handler each."""
    actions = Actions(console)
    post = ["POST"]
    return [
        Route("/queues/{name}/send", actions.send, methods=post),
        Route("/queues/{name}/purge", actions.purge, methods=post),
        Route("/queues/{name}/delete", actions.delete, methods=post),
        Route("/queues/{name}/attributes", actions.attributes, methods=post),
        Route("/queues/{name}/redrive", actions.redrive, methods=post),
        Route("/queues/{name}/redrives/{task}/cancel", actions.cancel, methods=post),
        Route("/login", actions.login, methods=post),
        Route("/logout", actions.logout, methods=post),
    ]


class Actions:
    """The action handlers, sharing the console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.backend = console.backend

    async def refused(self, request: Request, name: str, message: str) -> Response:
        return await render_queue(self.console, request, name, error=message, status=400)

    async def done(self, request: Request, name: str, notice: str, anchor: str = "") -> Response:
        """Re-sample (so the page shows the effect) and go back to the queue page."""
        await self.console.sampler.sample_now()
        return _back(request, name, notice, anchor)

    async def send(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        try:
            entry = forms.send_entry(form, name.endswith(".fifo"))
            result = await self.backend.send(name, [entry])
        except (FormError, QWorkerError) as exc:
            return await self.refused(request, name, str(exc))
        if result.failed:
            return await self.refused(request, name, result.failed[0].message)
        return await self.done(request, name, "sent")

    async def purge(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        try:
            info = await self.backend.get_queue(name)
            if forms.one(form, "confirm") != name:  # the first click asks: a page naming queue and count
                return self.console.render(request, "purge.html", name=name, counts=info.counts)
            await self.backend.purge_queue(name)
        except QWorkerError as exc:  # PurgeQueueInProgress within 60 s of the last purge, ...
            return await self.refused(request, name, str(exc))
        return await self.done(request, name, "purged")

    async def delete(self, request: Request) -> Response:
        name = request.path_params["name"]
        message_id = forms.one(forms.parse_form(await request.body()), "message_id")
        try:
            deleted = await self.backend.delete_by_id(name, [message_id])
        except QWorkerError as exc:
            return await self.refused(request, name, str(exc))
        return await self.done(request, name, "deleted" if deleted else "already-gone")

    async def attributes(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        setter = getattr(self.backend, "set_queue_attributes", None)
        try:
            if setter is None:
                raise FormError("This backend cannot change a queue's attributes")
            spec = forms.edited_spec(form, (await self.backend.get_queue(name)).spec)
            await setter(name, spec)
        except (FormError, QWorkerError) as exc:
            return await self.refused(request, name, str(exc))
        return await self.done(request, name, "attributes")

    async def redrive(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            wanted = forms.redrive_request(forms.parse_form(await request.body()))
            if wanted.selected and not self.backend.capabilities.delete_by_id:
                raise FormError("This backend cannot move selected messages (it has no delete by id)")
            await self.console.redrives.start(name, wanted.destination, wanted.rate, wanted.selected)
        except (FormError, QWorkerError) as exc:
            return await self.refused(request, name, str(exc))
        return _back(request, name, "redrive", "#redrive")

    async def cancel(self, request: Request) -> Response:
        name = request.path_params["name"]
        await self.console.redrives.cancel(request.path_params["task"])
        return await self.done(request, name, "cancelled", "#redrive")

    async def login(self, request: Request) -> Response:
        form = forms.parse_form(await request.body())
        key_id, secret = forms.one(form, "access_key_id"), forms.one(form, "secret_access_key")
        settings = self.console.settings
        if not settings.login_required or not sessions.key_ok(settings.access_keys, key_id, secret):
            return self.console.render(
                request, "login.html", status=401, error="Wrong access key id or secret."
            )
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
        _set_session(response, request, settings.secret, sessions.new_session(key_id))
        return response

    async def logout(self, request: Request) -> Response:
        root = request.scope.get("root_path", "")
        target = f"{root}/login" if self.console.settings.login_required else f"{root}/"
        response = RedirectResponse(target, status_code=303)
        _set_session(response, request, self.console.settings.secret, sessions.new_session())
        return response


def _set_session(response: Response, request: Request, secret: bytes, session: sessions.Session) -> None:
    """A new session cookie (login and logout both change the nonce, so the CSRF token too)."""
    response.set_cookie(
        sessions.COOKIE_NAME,
        sessions.encode(secret, session),
        path=request.scope.get("root_path", "") or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )

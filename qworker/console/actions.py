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
    from qworker.console.app import Console


def _back(request: Request, name: str, notice: str, anchor: str = "") -> RedirectResponse:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/queues/{quote(name)}?notice={notice}{anchor}", status_code=303)


def routes(console: Console) -> list[Route]:
    backend = console.backend

    async def refused(request: Request, name: str, message: str) -> Response:
        return await render_queue(console, request, name, error=message, status=400)

    async def send(request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        try:
            entry = forms.send_entry(form, name.endswith(".fifo"))
            result = await backend.send(name, [entry])
        except (FormError, QWorkerError) as exc:
            return await refused(request, name, str(exc))
        if result.failed:
            return await refused(request, name, result.failed[0].message)
        await console.sampler.sample_now()
        return _back(request, name, "sent")

    async def purge(request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        try:
            info = await backend.get_queue(name)
        except QWorkerError as exc:
            return await refused(request, name, str(exc))
        if forms.one(form, "confirm") != name:  # the first click asks: a page naming queue and count
            return console.render(request, "purge.html", name=name, counts=info.counts)
        try:
            await backend.purge_queue(name)
        except QWorkerError as exc:  # PurgeQueueInProgress within 60 s of the last purge, ...
            return await refused(request, name, str(exc))
        await console.sampler.sample_now()
        return _back(request, name, "purged")

    async def delete(request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        message_id = forms.one(form, "message_id")
        try:
            deleted = await backend.delete_by_id(name, [message_id])
        except QWorkerError as exc:
            return await refused(request, name, str(exc))
        await console.sampler.sample_now()
        return _back(request, name, "deleted" if deleted else "already-gone")

    async def attributes(request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        setter = getattr(backend, "set_queue_attributes", None)
        try:
            if setter is None:
                raise FormError("This backend cannot change a queue's attributes")
            spec = forms.edited_spec(form, (await backend.get_queue(name)).spec)
            await setter(name, spec)
        except (FormError, QWorkerError) as exc:
            return await refused(request, name, str(exc))
        await console.sampler.sample_now()
        return _back(request, name, "attributes")

    async def redrive(request: Request) -> Response:
        name = request.path_params["name"]
        form = forms.parse_form(await request.body())
        try:
            wanted = forms.redrive_request(form)
            if wanted.selected and not backend.capabilities.delete_by_id:
                raise FormError("This backend cannot move selected messages (it has no delete by id)")
            await console.redrives.start(name, wanted.destination, wanted.rate, wanted.selected)
        except (FormError, QWorkerError) as exc:
            return await refused(request, name, str(exc))
        return _back(request, name, "redrive", "#redrive")

    async def cancel(request: Request) -> Response:
        name = request.path_params["name"]
        await console.redrives.cancel(request.path_params["task"])
        await console.sampler.sample_now()
        return _back(request, name, "cancelled", "#redrive")

    async def login(request: Request) -> Response:
        form = forms.parse_form(await request.body())
        key_id, secret = forms.one(form, "access_key_id"), forms.one(form, "secret_access_key")
        settings = console.settings
        if not settings.login_required or not sessions.key_ok(settings.access_keys, key_id, secret):
            return console.render(request, "login.html", status=401, error="Wrong access key id or secret.")
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/", status_code=303)
        _set_session(response, request, settings.secret, sessions.new_session(key_id))
        return response

    async def logout(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/login" if console.settings.login_required else f"{root}/", 303)
        _set_session(response, request, console.settings.secret, sessions.new_session())
        return response

    post = ["POST"]
    return [
        Route("/queues/{name}/send", send, methods=post),
        Route("/queues/{name}/purge", purge, methods=post),
        Route("/queues/{name}/delete", delete, methods=post),
        Route("/queues/{name}/attributes", attributes, methods=post),
        Route("/queues/{name}/redrive", redrive, methods=post),
        Route("/queues/{name}/redrives/{task}/cancel", cancel, methods=post),
        Route("/login", login, methods=post),
        Route("/logout", logout, methods=post),
    ]


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

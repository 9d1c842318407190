"""The console's pages (GET): overview, queue, workers, login. They read the sampler's cache,
so a page costs no backend call, except the queue page, which peeks at its messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from qworker.console import present
from qworker.console.sampler import QueueSnapshot
from qworker.errors import QueueDoesNotExist, QWorkerError

if TYPE_CHECKING:
    from qworker.console.state import Console

#: notices an action may ask a page to show (codes, never text from the request)
NOTICES = {
    "sent": "Message sent.",
    "purged": "Queue purged.",
    "deleted": "Message deleted.",
    "already-gone": "That message was no longer in the queue (processed, moved or expired).",
    "attributes": "Attributes saved.",
    "redrive": "Redrive started.",
    "cancelled": "Redrive cancelled.",
    "logged-out": "Logged out.",
}


def routes(console: Console) -> list[Route]:
    async def overview(request: Request) -> Response:
        sample = console.sampler.sample
        queues = list(sample.queues.values())
        return console.render(
            request,
            "overview.html",
            queues=queues,
            sample=sample,
            workers=len(console.workers.workers),
            registry=console.workers.available,
        )

    async def queue_page(request: Request) -> Response:
        return await render_queue(console, request, request.path_params["name"])

    async def workers_page(request: Request) -> Response:
        return console.render(
            request,
            "workers.html",
            workers=console.workers.workers,
            available=console.workers.available,
            error=console.workers.error,
        )

    async def login_page(request: Request) -> Response:
        return console.render(request, "login.html", error=None)

    return [
        Route("/", overview),
        Route("/queues/{name}", queue_page),
        Route("/workers", workers_page),
        Route("/login", login_page, methods=["GET"]),
    ]


async def render_queue(
    console: Console,
    request: Request,
    name: str,
    *,
    error: str | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    """A queue page (also re-rendered by an action whose form was refused, with ``error``)."""
    backend = console.backend
    try:
        info = await backend.get_queue(name)
    except QueueDoesNotExist:
        return HTMLResponse(
            console.templates.get_template("missing.html").render(
                base=request.scope.get("root_path", ""), name=name
            ),
            status_code=404,
        )
    messages, peek_error = await _peeked(console, name)
    quarantined = await _quarantined(console, name) if info.counts.quarantined else []
    snap: QueueSnapshot | None = console.sampler.sample.queues.get(name)
    sources = snap.sources if snap else ()
    same_type = [
        q for q in console.sampler.sample.queues.values() if q.fifo == info.spec.fifo and q.name != name
    ]
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return console.render(
        request,
        "queue.html",
        status=status,
        name=name,
        info=info,
        spec=info.spec,
        counts=info.counts,
        snap=snap,
        sources=sources,
        is_dlq=bool(sources),
        destinations=[q.name for q in same_type],
        messages=messages,
        can_peek=backend.capabilities.peek,
        can_delete=backend.capabilities.delete_by_id,
        can_edit=hasattr(backend, "set_queue_attributes"),
        peek_error=peek_error,
        quarantined=quarantined,
        peek_limit=console.settings.peek_limit,
        redrives=console.redrives.for_queue(name),
        workers=console.workers.for_queue(name),
        notice=notice,
        error=error,
        **extra,
    )


async def _peeked(console: Console, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """The queue's first messages for the page, and the error text when peeking failed (the
    page still renders); nothing on a backend that cannot peek."""
    if not console.backend.capabilities.peek:
        return [], None
    try:
        peeked = await console.backend.peek(name, console.settings.peek_limit)
    except QWorkerError as exc:
        return [], str(exc)
    return [present.message_view(m) for m in peeked], None


async def _quarantined(console: Console, name: str) -> list[dict[str, Any]]:
    """The queue's quarantined messages (RELIABILITY T16), their raw bytes made printable."""
    from qworker.commands.quarantine_output import escape_bytes

    try:
        found = await console.backend.quarantined(name, 20)
    except QWorkerError:
        return []
    return [
        {
            "id": q.message_id,
            "reason": q.reason,
            "at": present.timestamp_ms(q.quarantined_at),
            "size": q.raw_size,
            "preview": escape_bytes(q.raw_preview, 200, more=q.raw_size > len(q.raw_preview)),
        }
        for q in found
    ]

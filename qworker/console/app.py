"""The console as one ASGI app: ``create_console(backend, settings).app``.

``qworker serve`` mounts it at ``/console/`` on its own port (and calls :meth:`Console.start` /
:meth:`Console.stop` from its lifespan, since a mounted app gets none); ``qworker console`` runs
it alone on uvicorn, mounted at the same path, so links and cookies are the same in both.

Why server-rendered pages with htmx rather than a single-page app: every page is useful with a
plain GET (shareable links to a queue during an incident), Jinja2 escapes every message body
by default (the XSS surface of a JSON-to-DOM SPA is every ``innerHTML``), there is no build
step or bundle to keep pinned, and a strict CSP with no inline script is easy to keep. The few
live parts (counts and charts, redrive progress) are small: htmx polls a fragment, and one
small static script updates numbers and uPlot charts from a JSON poll.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qworker.backend import Backend
from qworker.console import actions, api, pages, present
from qworker.console.guard import ConsoleGuard
from qworker.console.redrive_tasks import RedriveTasks
from qworker.console.sampler import Sampler
from qworker.console.settings import ConsoleSettings
from qworker.console.state import Console
from qworker.console.workers import WorkerDirectory

#: where ``qworker serve`` mounts the console
MOUNT_PATH = "/console"


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("qworker.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(age=present.age, ms=present.timestamp_ms, ago=present.seconds_ago)
    return env


def create_console(backend: Backend, settings: ConsoleSettings) -> Console:
    """The console for ``backend`` (which the caller opens and closes)."""
    workers = WorkerDirectory(backend)
    console = Console(
        backend=backend,
        settings=settings,
        sampler=Sampler(backend, workers, settings.sample_interval, settings.history_seconds),
        workers=workers,
        redrives=RedriveTasks(backend),
        templates=_templates(),
    )
    static = str(resources.files("qworker.console").joinpath("static"))
    routes = [
        *pages.routes(console),
        *actions.routes(console),
        *api.routes(console),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    router = Starlette(routes=routes)
    console.app = ConsoleGuard(_starting(router, console), settings)
    return console


def _starting(app: Any, console: Console) -> Any:
    """Start the sampler on the first request when nobody called :meth:`Console.start`."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if not console._started:
                await console.start()
            console.sampler.touch()
        await app(scope, receive, send)

    return wrapped


def is_console_path(path: str, prefix: str = MOUNT_PATH) -> bool:
    """True for the paths the console serves (``/console`` and below), for a plain-ASGI router
    such as ``qworker serve``'s that decides where a request goes."""
    return path == prefix or path.startswith(prefix + "/")


def mounted(console: Console, prefix: str = MOUNT_PATH) -> Any:
    """The console as an ASGI app for a plain-ASGI router: it takes the request with its full
    path, sets ``root_path`` to ``prefix`` (so links and cookies carry it) and redirects
    ``/console`` to ``/console/``. ``qworker serve`` routes :func:`is_console_path` requests here
    and calls ``console.start()`` / ``console.stop()`` from its lifespan (``--no-console``: it
    does neither)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == prefix:
            location = f"{scope.get('root_path', '')}{prefix}/".encode()
            await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location)]})
            await send({"type": "http.response.body", "body": b""})
            return
        await console.app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)

    return app


def standalone_app(console: Console, *, own_backend: bool = True) -> Starlette:
    """The console alone, mounted at :data:`MOUNT_PATH` as ``qworker serve`` will mount it.

    Its lifespan connects the backend (``own_backend``) and starts the sampler, and undoes both
    at shutdown, so the backend lives on the server's event loop.
    """

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if own_backend:
            await console.backend.connect()
        try:
            await console.start()
            yield
        finally:
            await console.stop()
            if own_backend:
                await console.backend.close()

    async def home(_: Request) -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/", status_code=307)

    return Starlette(
        routes=[Route("/", home), Route(MOUNT_PATH, home), Mount(MOUNT_PATH, app=console.app)],
        lifespan=lifespan,
    )

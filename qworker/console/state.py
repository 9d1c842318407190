"""The console's shared state, :class:`Console`: what every handler module (pages, actions, the
JSON API) is given. It lives apart from :mod:`qworker.console.app`, which builds it and wires
the handlers, so the handler modules and the app do not import each other."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from qworker.backend import Backend
from qworker.console import sessions
from qworker.console.redrive_tasks import RedriveTasks
from qworker.console.sampler import Sampler
from qworker.console.settings import ConsoleSettings
from qworker.console.workers import WorkerDirectory
from qworker.version import __version__


@dataclass
class Console:
    """Everything the console's handlers share: the backend, settings, caches and tasks."""

    backend: Backend
    settings: ConsoleSettings
    sampler: Sampler
    workers: WorkerDirectory
    redrives: RedriveTasks
    templates: Environment
    app: Any = None
    _started: bool = field(default=False, init=False)
    _start_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def start(self) -> None:
        """Take the first sample and start the sampler (idempotent; also done on first use)."""
        async with self._start_lock:
            if self._started:
                return
            self._started = True
            await self.sampler.sample_now()
            self.sampler.start()

    async def stop(self) -> None:
        await self.redrives.close()
        await self.sampler.stop()
        self._started = False

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A page, with what every template needs: links, the CSRF token, the mode."""
        state = request.scope["state"]
        session: sessions.Session = state["session"]
        html = self.templates.get_template(template).render(
            base=request.scope.get("root_path", ""),
            csrf=sessions.csrf_token(self.settings.secret, session),
            read_only=self.settings.read_only,
            login_required=self.settings.login_required,
            logged_in_as=session.key_id or state.get("bearer"),
            backend_display=self.settings.backend_display,
            poll_ms=int(max(1.0, self.settings.poll_interval) * 1000),
            version=__version__,
            **context,
        )
        return HTMLResponse(html, status_code=status)

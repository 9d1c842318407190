"""One execution environment's side of the Runtime API: a small state machine.

The runtime process drives it over HTTP (:mod:`.app`); the environment (:mod:`.environment`)
drives it from qworker's side. The states are the RIE's, so a call a state does not allow gets
the RIE's 403:

``Started`` (Init runs) --first GET /next--> ``Ready`` (a /next waits) --dispatch--> ``Running``
--POST response/error--> ``ResponseSent`` --GET /next--> ``Ready`` ...; ``Started`` --POST
init/error--> ``InitError``.

A GET /next while ``Running`` hands out the same invocation again, as the RIE does (a runtime
that restarted its loop gets the invocation it had not answered).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.protocol import Answer, ReportedError

#: seconds a GET /next waits before it watches for its client leaving
WATCH_AFTER = 0.05

Phase = Literal["Started", "Ready", "Running", "ResponseSent", "InitError"]


@dataclass(slots=True)
class Settlement:
    """How the runtime answered one invocation (or why it never will)."""

    kind: Literal["response", "error", "too_large", "exit"]
    body: bytes = b""
    error: ReportedError | None = None


class Invocation:
    """One invocation on its way to the runtime: the payload and headers GET /next sends, and
    the future the response settles."""

    __slots__ = ("headers", "payload", "request_id", "settled")

    def __init__(self, request_id: str, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.request_id = request_id
        self.payload = payload
        self.headers = headers
        self.settled: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()

    def settle(self, settlement: Settlement) -> None:
        if not self.settled.done():
            self.settled.set_result(settlement)


class RuntimeApiState:
    """What the API of one execution environment knows: the phase, the invocation in flight."""

    def __init__(self) -> None:
        self.phase: Phase = "Started"
        #: resolved at the end of Init: ``None`` when the runtime asked for its first invocation,
        #: the reported error after POST /init/error
        self.initialized: asyncio.Future[ReportedError | None] = asyncio.get_running_loop().create_future()
        self.current: Invocation | None = None  #: handed to the runtime (or about to be)
        self._queued: Invocation | None = None  #: dispatched while no GET /next was waiting
        self._waiter: asyncio.Future[Invocation] | None = None

    @property
    def request_id(self) -> str | None:
        """The id of the latest invocation, for output lines: a line read just after the
        response still belongs to the invocation that wrote it."""
        current = self.current
        return current.request_id if current is not None else None

    # -- qworker's side ------------------------------------------------------------------------

    def dispatch(self, invocation: Invocation) -> None:
        """Queue ``invocation``; a waiting GET /next gets it at once."""
        self.current = invocation
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(invocation)
        else:
            self._queued = invocation

    def abandon(self, settlement: Settlement) -> None:
        """The process ended: settle what is in flight, and end Init if it was running."""
        if self.current is not None:
            self.current.settle(settlement)
        if not self.initialized.done():
            self.initialized.set_result(None)

    # -- the runtime's side (called by the HTTP app) ------------------------------------------

    async def next(self, disconnected: Callable[[], Awaitable[object]]) -> Invocation | Answer:
        """GET /next: the next invocation, once there is one; ``disconnected()`` (the ASGI
        ``receive``, which returns only when the client leaves) ends a wait."""
        if self.phase == "InitError":
            return protocol.invalid_transition(self.phase, "Ready")
        if not self.initialized.done():
            self.initialized.set_result(None)  # the runtime is initialized: Init ends here
        current = self.current
        if self.phase == "Running" and current is not None and not current.settled.done():
            return current
        self.phase = "Ready"
        invocation = self._queued
        if invocation is None:
            invocation = await self._wait(disconnected)
            if invocation is None:
                return protocol.Answer(499, b"")  # the client is gone: nothing is sent
        self._queued = None
        self.phase = "Running"
        return invocation

    async def _wait(self, disconnected: Callable[[], Awaitable[object]]) -> Invocation | None:
        """Wait for a dispatch; ``None`` when the client left first (its ``receive`` returned).

        The disconnect watch (a task on ``receive``) starts only after :data:`WATCH_AFTER`: with
        a backlog the invocation comes sooner, and the task would cost more than the wait.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Invocation | None] = loop.create_future()
        self._waiter = waiter  # type: ignore[assignment]
        watch: list[asyncio.Future[object]] = []

        def left(_: object) -> None:
            if not waiter.done():
                waiter.set_result(None)

        def start_watch() -> None:
            gone = asyncio.ensure_future(disconnected())
            gone.add_done_callback(left)
            watch.append(gone)

        timer = loop.call_later(WATCH_AFTER, start_watch)
        try:
            invocation = await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None
            for gone in watch:
                gone.remove_done_callback(left)
                if not gone.done():
                    gone.cancel()
        return invocation

    def respond(self, request_id: str, body: bytes, *, too_large: bool) -> Answer:
        """POST /invocation/{id}/response."""
        problem = self._check(request_id, "InvocationResponse")
        if problem is not None:
            return problem
        assert self.current is not None
        self.phase = "ResponseSent"
        if too_large:
            self.current.settle(Settlement("too_large"))
            return protocol.TOO_LARGE
        self.current.settle(Settlement("response", body))
        return protocol.ACCEPTED

    def error(self, request_id: str, error_type: str | None, body: bytes) -> Answer:
        """POST /invocation/{id}/error."""
        problem = self._check(request_id, "InvocationErrorResponse")
        if problem is not None:
            return problem
        assert self.current is not None
        self.phase = "ResponseSent"
        self.current.settle(Settlement("error", error=protocol.read_error(error_type, body)))
        return protocol.ACCEPTED

    def init_error(self, error_type: str | None, body: bytes) -> Answer:
        """POST /init/error: allowed during Init only."""
        if self.phase != "Started" or self.initialized.done():
            return protocol.invalid_transition(self.phase, "InitError")
        self.phase = "InitError"
        self.initialized.set_result(protocol.read_error(error_type, body))
        return protocol.ACCEPTED

    def _check(self, request_id: str, target: str) -> Answer | None:
        current = self.current
        if current is None or request_id != current.request_id:
            return protocol.INVALID_REQUEST_ID
        if self.phase not in ("Running", "ResponseSent"):
            return protocol.INVALID_REQUEST_ID
        if self.phase != "Running" or current.settled.done():
            return protocol.invalid_transition(self.phase, target)
        return None

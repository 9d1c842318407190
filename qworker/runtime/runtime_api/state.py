"""One execution environment's side of the Runtime API: a small state machine.

The runtime process drives it over HTTP (:mod:`.listener`, :mod:`.app`); the environment (:mod:`.environment`)
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from qworker.runtime.runtime_api import protocol
from qworker.runtime.runtime_api.protocol import Answer, ReportedError

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


#: what a waiting GET /next is answered through: the server writes the invocation out
Deliver = Callable[[Invocation], None]


class RuntimeApiState:
    """What the API of one execution environment knows: the phase, the invocation in flight."""

    def __init__(self) -> None:
        self.phase: Phase = "Started"
        #: resolved at the end of Init: ``None`` when the runtime asked for its first invocation,
        #: the reported error after POST /init/error
        self.initialized: asyncio.Future[ReportedError | None] = asyncio.get_running_loop().create_future()
        self.current: Invocation | None = None  #: handed to the runtime (or about to be)
        self._queued: Invocation | None = None  #: dispatched while no GET /next was waiting
        self._waiter: Deliver | None = None  #: how to answer the GET /next that waits

    @property
    def request_id(self) -> str | None:
        """The id of the latest invocation, for output lines: a line read just after the
        response still belongs to the invocation that wrote it."""
        current = self.current
        return current.request_id if current is not None else None

    # -- qworker's side ------------------------------------------------------------------------

    def dispatch(self, invocation: Invocation) -> None:
        """Queue ``invocation``; a waiting GET /next gets it at once (its ``deliver`` runs now)."""
        self.current = invocation
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            self.phase = "Running"
            waiter(invocation)
        else:
            self._queued = invocation

    def abandon(self, settlement: Settlement) -> None:
        """The process ended: settle what is in flight, and end Init if it was running."""
        if self.current is not None:
            self.current.settle(settlement)
        if not self.initialized.done():
            self.initialized.set_result(None)

    # -- the runtime's side (called by the HTTP server) ---------------------------------------

    def next(self, deliver: Deliver) -> Invocation | Answer | None:
        """GET /next: the invocation to send now, an answer that refuses the call, or ``None``
        when there is no invocation yet: ``deliver`` then gets the next one as it is dispatched,
        unless :meth:`stop_waiting` came first (the client went away)."""
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
            self._waiter = deliver
            return None
        self._queued = None
        self.phase = "Running"
        return invocation

    def stop_waiting(self, deliver: Deliver) -> None:
        """The client of a waiting GET /next left: the next invocation stays queued for the
        runtime's next GET /next (on a new connection)."""
        if self._waiter == deliver:  # == : bound methods of one connection are equal, not identical
            self._waiter = None

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

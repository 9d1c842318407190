"""ReceiveMessage: SQS's parameter checks, the backend's receive, the attributes asked for.

``ReceiveRequestAttemptId`` (FIFO queues): an SDK that retries a receive whose answer was lost
sends the same attempt id; SQS then returns the same messages and receipt handles instead of
leaving them hidden with nobody holding them. The server remembers each FIFO receive's answer
under its attempt id for five minutes, while its messages are still hidden, and answers a
repeated attempt with it. The memory is per server process (``--workers``: a retry that lands on
another process receives anew, and the first answer's messages come back after their
visibility timeout, as after any lost receive).
"""

from __future__ import annotations

from typing import Any

from qworker import limits
from qworker.serve.call import Call
from qworker.serve.errors import invalid_value
from qworker.serve.messages import Selection, message_shape
from qworker.serve.service import Service

MAX_MESSAGES = 10
MAX_WAIT = 20


def _checked(call: Call) -> tuple[int, int | None, int | None]:
    count = call.integer("MaxNumberOfMessages")
    if count is not None and not 1 <= count <= MAX_MESSAGES:
        raise invalid_value("MaxNumberOfMessages", count, "Must be between 1 and 10, if provided.")
    wait = call.integer("WaitTimeSeconds")
    if wait is not None and not 0 <= wait <= MAX_WAIT:
        raise invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
    visibility = call.integer("VisibilityTimeout")
    if visibility is not None and not 0 <= visibility <= limits.MAX_VISIBILITY_TIMEOUT:
        raise invalid_value(
            "VisibilityTimeout",
            visibility,
            f"Must be >= 0 and <= {limits.MAX_VISIBILITY_TIMEOUT}, if provided.",
        )
    return count or 1, wait, visibility


async def receive_message(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    count, wait, visibility = _checked(call)
    system = call.strings("MessageSystemAttributeNames") + call.strings("AttributeNames")
    selection = Selection(system, call.strings("MessageAttributeNames"))
    attempt = call.string("ReceiveRequestAttemptId") if name.endswith(".fifo") else None
    if attempt is not None:
        answer = svc.attempts.get(name, attempt)
        if answer is not None:
            return {"Messages": answer} if answer else {}
    received = await svc.backend.receive(
        name, max_messages=count, wait_seconds=wait, visibility_timeout=visibility
    )
    shapes = [message_shape(message, selection) for message in received]
    if attempt is not None and shapes:
        hidden_for = (
            visibility if visibility is not None else (await svc.get_queue(name)).spec.visibility_timeout
        )
        svc.attempts.put(name, attempt, hidden_for, shapes)
    return {"Messages": shapes} if shapes else {}

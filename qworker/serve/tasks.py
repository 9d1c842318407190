"""Message move tasks (StartMessageMoveTask): running them, and the records that describe them.

A task runs the backend's ``redrive`` (SPEC ESM-DLQ-6) as an asyncio task of the server process
that started it. What ListMessageMoveTasks shows (status, counts, failure) is the task's record.
When the backend has the shared record store (``capabilities.records``) the records live there,
so every ``--workers`` process lists every task and refuses a second active task for a source
queue; a CancelMessageMoveTask that lands on another process marks the record, and the owner,
which reads its record every :data:`HEARTBEAT` seconds while the task runs, cancels it. A running
task's record expires :data:`RUNNING_TTL` seconds after its owner last wrote it (an owner that
died leaves no task "running" for ever); a finished one is kept :data:`FINISHED_TTL` seconds.
Without the record store, records are this process's alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from qworker.backend import Backend
from qworker.errors import QWorkerError

log = structlog.get_logger("qworker.serve")

KIND = "serve-move-task"
HEARTBEAT = 1.0
RUNNING_TTL = 30.0
FINISHED_TTL = 14 * 24 * 3600.0  #: as long as SQS lists finished tasks
ACTIVE = ("RUNNING", "CANCELLING")


@dataclass
class MoveTask:
    """One task's record."""

    task_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    status: str = "RUNNING"
    moved: int = 0
    failure: str | None = None
    cancel_requested: bool = False

    @property
    def handle(self) -> str:
        doc = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn})
        return base64.b64encode(doc.encode()).decode()

    def entry(self) -> dict[str, Any]:
        """A ``ListMessageMoveTasksResultEntry``."""
        out: dict[str, Any] = {"SourceArn": self.source_arn, "Status": self.status}
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        out["ApproximateNumberOfMessagesMoved"] = self.moved
        out["ApproximateNumberOfMessagesToMove"] = self.to_move
        if self.failure:
            out["FailureReason"] = self.failure
        out["StartedTimestamp"] = self.started_ms
        return out


def decode_handle(handle: str) -> tuple[str, str]:
    """``(task id, source ARN)`` of a task handle; ``ValueError`` when it is not one."""
    doc = json.loads(base64.b64decode(handle.encode(), validate=True))
    if not isinstance(doc, dict):
        raise ValueError("not a task handle")
    return str(doc["taskId"]), str(doc["sourceArn"])


class TaskBook:
    """The records of move tasks (shared through the backend when it can) and this process's
    running tasks."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.local: dict[str, MoveTask] = {}
        self.runners: dict[str, asyncio.Task[None]] = {}

    @property
    def shared(self) -> bool:
        return bool(getattr(self.backend.capabilities, "records", False))

    async def save(self, task: MoveTask) -> None:
        self.local[task.task_id] = task
        if self.shared:
            ttl = RUNNING_TTL if task.status in ACTIVE else FINISHED_TTL
            await self.backend.put_record(KIND, task.task_id, asdict(task), ttl)  # type: ignore[attr-defined]

    async def get(self, task_id: str) -> MoveTask | None:
        if self.shared:
            value = await self.backend.get_record(KIND, task_id)  # type: ignore[attr-defined]
            return None if value is None else MoveTask(**value)
        return self.local.get(task_id)

    async def all(self) -> list[MoveTask]:
        if self.shared:
            records = await self.backend.list_records(KIND)  # type: ignore[attr-defined]
            return [MoveTask(**value) for value in records.values()]
        return list(self.local.values())

    async def for_source(self, source_arn: str) -> list[MoveTask]:
        found = [task for task in await self.all() if task.source_arn == source_arn]
        return sorted(found, key=lambda task: task.started_ms, reverse=True)

    async def active_for(self, source_arn: str) -> MoveTask | None:
        return next((t for t in await self.for_source(source_arn) if t.status in ACTIVE), None)

    def start(self, task: MoveTask, source: str, destination: str | None) -> None:
        self.runners[task.task_id] = asyncio.create_task(self._run(task, source, destination))

    async def cancel(self, task: MoveTask) -> None:
        """Cancel here when this process runs it, else ask its owner through the record."""
        task.status, task.cancel_requested = "CANCELLING", True
        await self.save(task)
        runner = self.runners.get(task.task_id)
        if runner is not None:
            runner.cancel()

    async def _run(self, task: MoveTask, source: str, destination: str | None) -> None:
        work = asyncio.ensure_future(self.backend.redrive(source, destination, task.rate))
        watch = asyncio.ensure_future(self._watch(task, work)) if self.shared else None
        try:
            result = await work
        except asyncio.CancelledError:
            work.cancel()
            task.status = "CANCELLED"
        except QWorkerError as exc:
            task.status, task.failure = "FAILED", exc.code
            log.warning("serve.move_task_failed", task=task.task_id, error=str(exc))
        except Exception as exc:  # a bug or a lost backend: the task fails, the server goes on
            task.status, task.failure = "FAILED", type(exc).__name__
            log.exception("serve.move_task_failed", task=task.task_id)
        else:
            task.moved = result.moved
            task.status = "FAILED" if result.failed else "COMPLETED"
            if result.failed:
                task.failure = "AWS.SimpleQueueService.NonExistentQueue"
        finally:
            if watch is not None:
                watch.cancel()
            self.runners.pop(task.task_id, None)
        with contextlib.suppress(Exception):
            await self.save(task)

    async def _watch(self, task: MoveTask, work: asyncio.Future[Any]) -> None:
        """Keep the running task's record alive; cancel the work when another process asks."""
        while not work.done():
            await asyncio.sleep(HEARTBEAT)
            with contextlib.suppress(Exception):
                stored = await self.get(task.task_id)
                if stored is not None and stored.cancel_requested:
                    work.cancel()
                    return
                await self.save(task)

    async def close(self) -> None:
        runners = list(self.runners.values())
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(BaseException):
                await runner

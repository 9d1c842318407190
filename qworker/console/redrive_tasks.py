"""Redrive as a background task with progress and **Cancel** (SQS's message move task).

Two kinds of move:

* **All** dead letters: the backend's own ``redrive(dlq, destination, max_per_second)``, which
  paces itself and moves each message safely (one transaction per chunk on SQLite, a lease then
  an atomic move on Redis). Progress is read from the dead-letter queue's depth while it runs.
  Cancel cancels the call between two of its steps: what moved stays moved, the rest stays in
  the dead-letter queue (on Redis a leased batch is visible again within its short lease).
* **Selected** dead letters: the console sends a copy of each to the destination, then deletes
  the original by id (``delete_by_id``), one at a time at the chosen rate. At least once: a
  crash between the two steps leaves a duplicate, never a loss. Only visible messages move;
  one a consumer holds is skipped and counted as failed.

Tasks live in the server process (like SQS's, they are not persistent); finished ones are kept
for a while so the page can show how they ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from qworker import arn
from qworker.backend import Backend, PeekedMessage, SendEntry
from qworker.errors import QWorkerError

log = structlog.get_logger("qworker.console")

#: how many finished tasks are remembered
KEEP_FINISHED = 50
#: the most dead letters a selected redrive looks through to find the chosen ones
SELECT_SCAN = 1000


@dataclass(slots=True)
class RedriveTask:
    """One move, with its progress."""

    id: str
    dead_letter_queue: str
    destination: str | None  #: None: each message's source queue
    rate: int | None  #: messages per second (None: as fast as the backend goes)
    selected: tuple[str, ...] = ()  #: message ids; empty = every visible dead letter
    state: str = "running"  #: running, done, cancelled, failed
    total: int = 0
    moved: int = 0
    failed: int = 0
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _start_depth: int = 0
    _task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * (self.moved + self.failed) / self.total))


class RedriveTasks:
    """Every redrive task of this server."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tasks: dict[str, RedriveTask] = {}
        self._ids = itertools.count(1)

    def for_queue(self, dead_letter_queue: str) -> list[RedriveTask]:
        return [t for t in reversed(self.tasks.values()) if t.dead_letter_queue == dead_letter_queue]

    def get(self, task_id: str) -> RedriveTask | None:
        return self.tasks.get(task_id)

    async def start(
        self, dead_letter_queue: str, destination: str | None, rate: int | None, selected: Sequence[str] = ()
    ) -> RedriveTask:
        """Start a move; raises QWorkerError at once for a queue that does not exist."""
        info = await self.backend.get_queue(dead_letter_queue)
        task = RedriveTask(f"r{next(self._ids)}", dead_letter_queue, destination, rate, tuple(selected))
        task.total = len(task.selected) if task.selected else info.counts.visible
        task._start_depth = info.counts.visible
        runner = self._run_selected(task) if task.selected else self._run_all(task)
        task._task = asyncio.create_task(self._guard(task, runner), name=f"qworker redrive {task.id}")
        self.tasks[task.id] = task
        self._forget_old()
        return task

    async def cancel(self, task_id: str) -> RedriveTask | None:
        task = self.tasks.get(task_id)
        if task is not None and task.running and task._task is not None:
            task._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task._task
        return task

    async def progress(self, task: RedriveTask) -> RedriveTask:
        """Refresh an all-messages task's count from the dead-letter queue's depth."""
        if task.running and not task.selected:
            with contextlib.suppress(QWorkerError):
                visible = (await self.backend.get_queue(task.dead_letter_queue)).counts.visible
                task.moved = max(task.moved, min(task.total, task._start_depth - visible))
        return task

    async def close(self) -> None:
        for task in list(self.tasks.values()):
            await self.cancel(task.id)

    async def _guard(self, task: RedriveTask, runner: object) -> None:
        try:
            await runner  # type: ignore[misc]
            task.state = "done"
        except asyncio.CancelledError:
            task.state = "cancelled"
            raise
        except Exception as exc:
            task.state, task.error = "failed", str(exc)
            log.warning("redrive failed", dead_letter_queue=task.dead_letter_queue, error=repr(exc))
        finally:
            task.finished = time.time()

    async def _run_all(self, task: RedriveTask) -> None:
        result = await self.backend.redrive(task.dead_letter_queue, task.destination, task.rate)
        task.moved, task.failed = result.moved, result.failed
        task.total = max(task.total, result.moved + result.failed)

    async def _run_selected(self, task: RedriveTask) -> None:
        peeked = {m.message_id: m for m in await self.backend.peek(task.dead_letter_queue, SELECT_SCAN)}
        began = time.monotonic()
        for index, message_id in enumerate(task.selected):
            if task.rate:
                await asyncio.sleep(max(0.0, began + index / task.rate - time.monotonic()))
            message = peeked.get(message_id)
            if message is None or message.state != "visible" or not await self._move(task, message):
                task.failed += 1
            else:
                task.moved += 1

    async def _move(self, task: RedriveTask, message: PeekedMessage) -> bool:
        source = message.attributes.get("DeadLetterQueueSourceArn")
        target = task.destination or (arn.queue_name_from_arn(source) if source else None)
        if target is None:
            return False
        fifo = target.endswith(".fifo")
        entry = SendEntry(
            message.body,
            message_attributes=message.message_attributes,
            message_group_id=message.attributes.get("MessageGroupId") if fifo else None,
            message_deduplication_id=message.message_id if fifo else None,
            trace_header=message.attributes.get("AWSTraceHeader"),
        )
        result = await self.backend.send(target, [entry])
        if result.failed:
            return False
        await self.backend.delete_by_id(task.dead_letter_queue, [message.message_id])
        return True

    def _forget_old(self) -> None:
        finished = [t for t in self.tasks.values() if not t.running]
        for task in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.tasks[task.id]

"""What ``send_batch`` returns: one result per message, in the order given.

Like SQS's ``SendMessageBatch``, a batch succeeds or fails entry by entry: a refused message is a
:class:`~qworker.backend.BatchEntryError` among the results, never an exception, so a program can
retry exactly the ones that failed. Errors of the whole call (the queue does not exist, the
backend cannot be reached) are raised: every one is a :class:`~qworker.errors.QWorkerError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qworker.backend import BatchEntryError, SendBatchResult, SendResult
from qworker.errors import SendFailed


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of ``send_batch``: ``results[i]`` is the i-th message's."""

    queue: str
    results: tuple[SendResult | BatchEntryError, ...]

    @classmethod
    def of(cls, queue: str, ids: Sequence[str], result: SendBatchResult) -> BatchResult:
        """Put the backend's ``successful`` and ``failed`` lists back in input order."""
        by_id: dict[str, SendResult | BatchEntryError] = {ok.id: ok for ok in result.successful}
        by_id.update((failed.id, failed) for failed in result.failed)
        return cls(queue, tuple(by_id[entry_id] for entry_id in ids))

    @property
    def successful(self) -> list[SendResult]:
        return [r for r in self.results if isinstance(r, SendResult)]

    @property
    def failed(self) -> list[BatchEntryError]:
        """The refused messages; ``id`` is the entry id (its position, unless given)."""
        return [r for r in self.results if isinstance(r, BatchEntryError)]

    @property
    def message_ids(self) -> list[str | None]:
        """Each message's id, ``None`` where it was refused."""
        return [r.message_id if isinstance(r, SendResult) else None for r in self.results]

    def raise_for_failures(self) -> None:
        """Raise :class:`~qworker.errors.SendFailed` for the first refused message, if any."""
        for result in self.results:
            if isinstance(result, BatchEntryError):
                raise SendFailed(self.queue, result.code, result.message, sender_fault=result.sender_fault)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[SendResult | BatchEntryError]:
        return iter(self.results)

    def __getitem__(self, index: int) -> SendResult | BatchEntryError:
        return self.results[index]

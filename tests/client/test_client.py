"""qworker.Client and qworker.AsyncClient against real backends (SQLite and Redis; SQS in
test_client_sqs.py): what they send is what a receiver gets, errors carry SQS's codes."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from typing import Any

import pytest

import qworker
from qworker.backend import Backend, MessageAttributeValue, QueueSpec, RedrivePolicy, SendResult
from qworker.client import Message, SendFailed
from qworker.errors import InvalidAttributeName, QueueDoesNotExist, QueueNameExists


async def test_send_is_received_as_sent(backend: Backend, backend_url: str) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.create_queue("orders", VisibilityTimeout=30)
        message_id = await client.send(
            "orders",
            {"order": 1, "name": "café"},
            attributes={"tenant": "acme", "retries": 3, "price": Decimal("9.90"), "blob": b"\x00\x01"},
        )
    [received] = await backend.receive("orders", 10)
    assert received.message_id == message_id
    assert received.body == '{"order":1,"name":"café"}'
    assert received.message_attributes == {
        "tenant": MessageAttributeValue("String", "acme"),
        "retries": MessageAttributeValue("Number", "3"),
        "price": MessageAttributeValue("Number", "9.90"),
        "blob": MessageAttributeValue("Binary", binary_value=b"\x00\x01"),
    }


async def test_send_batch_splits_and_returns_entry_failures_in_order(
    backend: Backend, backend_url: str
) -> None:
    """More than SQS's 10 entries in one call; a refused entry is a result, not an exception."""
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.create_queue("bulk")
        entries: list[Message | dict[str, object]] = [Message(f"m{i}") for i in range(25)]
        entries[7] = {"body": "late", "delay": 901}  # SQS's limit is 900 s
        result = await client.send_batch("bulk", entries)
        assert len(result) == 25
        assert [r.id for r in result.failed] == ["7"]
        assert result.failed[0].code == "InvalidParameterValue"
        assert result.message_ids[7] is None and all(result.message_ids[i] for i in range(25) if i != 7)
        assert isinstance(result[0], SendResult)
        with pytest.raises(SendFailed) as failed:
            result.raise_for_failures()
        assert failed.value.code == "InvalidParameterValue"
        assert (await client.send_batch("bulk", [])).results == ()
        stats = await client.stats("bulk")
    assert stats["ApproximateNumberOfMessages"] == "24"
    bodies = sorted(m.body for m in await backend.receive("bulk", 100))
    assert bodies == sorted(f"m{i}" for i in range(25) if i != 7)


async def test_fifo_groups_dedup_ids_and_content_based_dedup(backend: Backend, backend_url: str) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.create_queue("steps.fifo", ContentBasedDeduplication=True)
        first = await client.send("steps.fifo", "one", group_id="g")
        assert await client.send("steps.fifo", "one", group_id="g") == first  # deduplicated by content
        await client.send("steps.fifo", "one", group_id="g", dedup_id="explicit")
        await client.send_batch("steps.fifo", [{"body": f"b{i}", "group_id": "g"} for i in range(12)])
        with pytest.raises(SendFailed) as missing:
            await client.send("steps.fifo", "x")
        assert missing.value.code == "MissingParameter"
        with pytest.raises(SendFailed) as delayed:
            await client.send("steps.fifo", "x", group_id="g", delay=5)  # FIFO: no per-message delay
        assert delayed.value.code == "InvalidParameterValue"
    bodies = []
    while batch := await backend.receive("steps.fifo", 10):
        bodies += [m.body for m in batch]
        await backend.delete("steps.fifo", [m.receipt_handle for m in batch])
    assert bodies == ["one", "one", *(f"b{i}" for i in range(12))]


async def test_delay_and_queue_attributes(backend: Backend, backend_url: str) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.create_queue("dlq")
        await client.create_queue("slow", delay_seconds=60, redrive_policy=RedrivePolicy("dlq", 4))
        await client.create_queue(QueueSpec("slow", delay_seconds=60, redrive_policy=RedrivePolicy("dlq", 4)))
        await client.send("slow", "later")  # the queue's DelaySeconds
        await client.send("slow", "now", delay=0)  # a per-message delay overrides it, as on SQS
        stats = await client.stats("slow")
        with pytest.raises(QueueNameExists):
            await client.create_queue("slow", delay_seconds=1)
        with pytest.raises(InvalidAttributeName):
            await client.create_queue("other", Bogus="1")
    assert stats["ApproximateNumberOfMessagesDelayed"] == "1"
    assert stats["ApproximateNumberOfMessages"] == "1"
    assert json.loads(stats["RedrivePolicy"])["maxReceiveCount"] == 4
    assert [m.body for m in await backend.receive("slow", 10)] == ["now"]


async def test_whole_call_failures_raise_the_backends_errors(backend_url: str) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        for call in (
            client.send("missing", "x"),
            client.send_batch("missing", [{"body": "x"}]),
            client.stats("missing"),
        ):
            with pytest.raises(QueueDoesNotExist) as error:
                await call
            assert error.value.code == "QueueDoesNotExist"


def test_sync_client_connects_lazily_and_closes_once(backend_url: str) -> None:
    client = qworker.Client.from_url(backend_url)
    client.create_queue("lazy")  # the first call starts the thread and connects
    assert client.send("lazy", "x")
    assert client.stats("lazy")["ApproximateNumberOfMessages"] == "1"
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.send("lazy", "y")
    with qworker.Client.from_url(backend_url) as again:
        assert again.send_batch("lazy", [Message("y")]).failed == []
        assert again.stats("lazy")["ApproximateNumberOfMessages"] == "2"


async def test_an_async_client_belongs_to_one_event_loop(backend_url: str) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        await client.create_queue("loop")
        errors: list[BaseException] = []

        def elsewhere() -> None:
            try:
                asyncio.run(client.send("loop", "x"))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert isinstance(errors[0], RuntimeError) and "event loop" in str(errors[0])
    with pytest.raises(RuntimeError, match="closed"):
        await client.send("loop", "x")


@pytest.mark.parametrize(("coalesce", "most_calls"), [(True, 5), (False, 200)])
async def test_concurrent_sends_are_coalesced_into_batch_calls(
    backend_url: str, coalesce: bool, most_calls: int
) -> None:
    """Sends made in one turn of the event loop share one backend call; each caller gets its own
    message's id. Without coalescing each is a call of its own."""
    async with qworker.AsyncClient.from_url(backend_url, coalesce=coalesce) as client:
        await client.create_queue("many")
        calls: list[int] = []
        send = client.backend.send

        async def counting(queue: str, entries: list[Any]) -> Any:
            calls.append(len(entries))
            return await send(queue, entries)

        client.backend.send = counting  # type: ignore[method-assign]
        ids = await asyncio.gather(*(client.send("many", str(i)) for i in range(200)))
    assert len(set(ids)) == 200
    assert sum(calls) == 200 and len(calls) <= most_calls, calls


async def test_coalesced_sends_share_whole_call_failures_and_skip_cancelled_ones(
    backend: Backend, backend_url: str
) -> None:
    async with qworker.AsyncClient.from_url(backend_url) as client:
        outcomes = await asyncio.gather(
            *(client.send("absent", str(i)) for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(outcome, QueueDoesNotExist) for outcome in outcomes)
        await client.create_queue("cancel")
        gate = asyncio.Event()
        send = client.backend.send

        async def held(queue: str, entries: list[Any]) -> Any:
            await gate.wait()
            return await send(queue, entries)

        client.backend.send = held  # type: ignore[method-assign]
        first = [asyncio.create_task(client.send("cancel", f"direct{i}")) for i in range(2)]
        waiting = [asyncio.create_task(client.send("cancel", f"waiting{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        waiting[1].cancel()  # still waiting for a free call: it is never sent
        gate.set()
        await asyncio.gather(*first, waiting[0], waiting[2])
    bodies = sorted(m.body for m in await backend.receive("cancel", 10))
    assert bodies == ["direct0", "direct1", "waiting0", "waiting2"]

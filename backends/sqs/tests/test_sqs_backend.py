"""What the SQS backend adds on top of the conformance suite, against moto's server.

SQS's limits handled inside the backend (10 messages a receive, 20 s long polls, 10 entries and
1 MiB a batch, whole seconds), queues by URL, the real ARNs, per-entry retries of what SQS says
may succeed on retry, and the network: retried without losing or double-deleting messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable

import pytest

from qworker.backend import MessageAttributeValue, QueueSpec, RedrivePolicy, SendEntry, VisibilityChange
from qworker.errors import (
    BackendUnavailable,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    UnsupportedOperation,
)
from qworker_sqs import SQSBackend
from qworker_sqs.testing import FlakyProxy, MotoSQSServer


def qname(prefix: str = "sb", fifo: bool = False) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return f"{name}.fifo" if fifo else name


async def make(sqs: SQSBackend, **attributes: object) -> str:
    fifo = bool(attributes.pop("fifo", False))
    name = qname(fifo=fifo)
    await sqs.create_queue(QueueSpec(name, **attributes))  # type: ignore[arg-type]
    return name


async def fill(sqs: SQSBackend, queue: str, count: int) -> list[str]:
    result = await sqs.send(queue, [SendEntry(f"m{i:03d}") for i in range(count)])
    assert not result.failed
    return [r.message_id for r in result.successful]


# -- capabilities -------------------------------------------------------------------------------


async def test_peek_is_unsupported_and_failure_notes_are_a_no_op(sqs: SQSBackend) -> None:
    """SQS cannot look without receiving (capabilities.peek False) nor store notes (records_failures)."""
    name = await make(sqs)
    with pytest.raises(UnsupportedOperation, match="cannot look at messages"):
        await sqs.peek(name)
    await sqs.record_failures(name, [])


# -- queues, URLs and ARNs ----------------------------------------------------------------------


async def test_arns_are_sqs_own(sqs: SQSBackend) -> None:
    """EVT-7, ESM-DLQ-1: queue_arn is SQS's QueueArn (moto's account), and RedrivePolicy keeps it."""
    dlq = await make(sqs)
    source = await make(sqs, redrive_policy=RedrivePolicy(dlq, 4))
    expected = f"arn:aws:sqs:us-east-1:{MotoSQSServer.ACCOUNT_ID}:{dlq}"
    assert sqs.queue_arn(dlq) == expected
    info = await sqs.get_queue(source)
    assert info.arn == sqs.queue_arn(source) == f"arn:aws:sqs:us-east-1:{MotoSQSServer.ACCOUNT_ID}:{source}"
    assert json.loads(info.attributes()["RedrivePolicy"]) == {
        "deadLetterTargetArn": expected,
        "maxReceiveCount": 4,
    }
    assert info.spec.redrive_policy == RedrivePolicy(dlq, 4)


async def test_queue_arn_before_the_queue_was_read(sqs_url: str, sqs: SQSBackend) -> None:
    """EVT-7: a URL gives its ARN at once; a name read by any call gives SQS's QueueArn."""
    name = await make(sqs)
    url = (await sqs.ref(name)).url
    async with SQSBackend(sqs_url) as fresh:
        assert fresh.queue_arn(url) == sqs.queue_arn(name)
        await fresh.get_queue(name)
        assert fresh.queue_arn(name) == sqs.queue_arn(name)


async def test_a_queue_can_be_named_by_its_url(sqs: SQSBackend) -> None:
    """DESIGN.md: --queue takes a full queue URL on SQS; every operation works with it."""
    name = await make(sqs)
    url = (await sqs.ref(name)).url
    assert url.startswith("http://127.0.0.1:") and url.endswith(f"/{MotoSQSServer.ACCOUNT_ID}/{name}")
    assert not (await sqs.send(url, [SendEntry("by url")])).failed
    (message,) = await sqs.receive(url, wait_seconds=2)
    assert message.body == "by url"
    assert (await sqs.get_queue(url)).spec.name == name
    assert await sqs.change_visibility(url, [VisibilityChange(message.receipt_handle, 5)]) == []
    assert await sqs.delete(url, [message.receipt_handle]) == []
    assert (await sqs.get_queue(url)).counts.in_flight == 0


async def test_endpoint_from_aws_endpoint_url_sqs(
    moto_server: MotoSQSServer, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standard AWS_ENDPOINT_URL_SQS variable points a bare sqs:// at an SQS-compatible server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server.endpoint_url)
    async with SQSBackend("sqs://") as backend:
        assert backend.endpoint_url == moto_server.endpoint_url
        name = await make(backend)
        assert name in await backend.list_queues(name)


async def test_create_queue_rounds_up_and_compares_every_attribute(sqs: SQSBackend) -> None:
    """SQS-V-1: whole seconds, rounded up; an existing queue with other attributes is QueueNameExists."""
    name = qname()
    await sqs.create_queue(QueueSpec(name, visibility_timeout=0.2, receive_wait_time_seconds=1.5))
    spec = (await sqs.get_queue(name)).spec
    assert (spec.visibility_timeout, spec.receive_wait_time_seconds) == (1, 2)
    await sqs.create_queue(QueueSpec(name, visibility_timeout=0.2, receive_wait_time_seconds=1.5))
    with pytest.raises(QueueNameExists):
        await sqs.create_queue(QueueSpec(name))  # SQS alone would not compare what is not sent
    dlq = await make(sqs)
    with pytest.raises(QueueNameExists):
        await sqs.create_queue(
            QueueSpec(
                name, visibility_timeout=1, receive_wait_time_seconds=2, redrive_policy=RedrivePolicy(dlq, 5)
            )
        )


async def test_set_queue_attributes_by_url_and_back_to_sqs_defaults(sqs: SQSBackend) -> None:
    """SetQueueAttributes on a queue named by its URL; attributes the new spec leaves out go back
    to SQS's defaults (no RedrivePolicy, no Policy, SSE-SQS on); tags by URL too."""
    dlq = await make(sqs)
    name = await make(sqs)
    url = (await sqs.ref(name)).url
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    changed = QueueSpec(
        name,
        visibility_timeout=7,
        redrive_policy=RedrivePolicy(dlq, 4),
        extra_attributes=(("Policy", policy), ("SqsManagedSseEnabled", "false")),
    )
    await sqs.set_queue_attributes(url, changed)
    info = await sqs.get_queue(name)
    assert info.spec.visibility_timeout == 7 and info.spec.redrive_policy == RedrivePolicy(dlq, 4)
    assert info.spec.extra()["SqsManagedSseEnabled"] == "false"
    await sqs.set_queue_attributes(name, QueueSpec(name))
    info = await sqs.get_queue(name)
    assert info.spec == QueueSpec(name)
    assert "RedrivePolicy" not in info.sqs_attributes and "Policy" not in info.sqs_attributes
    assert info.sqs_attributes["SqsManagedSseEnabled"] == "true"  # SQS's default, shown as SQS says
    with pytest.raises(InvalidParameterValue):
        await sqs.set_queue_attributes(url, QueueSpec(dlq))  # a spec of another queue
    await sqs.tag_queue(url, {"k": "v"})
    assert await sqs.queue_tags(name) == {"k": "v"}
    await sqs.untag_queue(url, [])
    with pytest.raises(QueueDoesNotExist):
        await sqs.untag_queue(qname(), [])


async def test_purge_queue_in_progress_is_sqs_error(sqs: SQSBackend) -> None:
    """PurgeQueueInProgress comes back from SQS as an HTTP 403; it is not taken for a refusal of
    the credentials."""
    name = await make(sqs)
    await sqs.purge_queue(name)
    with pytest.raises(PurgeQueueInProgress, match=f"Only one PurgeQueue operation on {name} "):
        await sqs.purge_queue((await sqs.ref(name)).url)


async def test_a_whole_batch_refusal_fails_only_its_entry(sqs: SQSBackend, sqs_url: str) -> None:
    """A client whose cached attributes allow an entry SQS refuses (MaximumMessageSize lowered by
    another client): moto refuses the whole SendMessageBatch, and the backend sends the entries
    one by one, so only that entry fails."""
    name = await make(sqs)
    async with SQSBackend(sqs_url) as other:
        assert not (await other.send(name, [SendEntry("warm")])).failed
        await sqs.set_queue_attributes(name, QueueSpec(name, maximum_message_size=1024))
        result = await other.send(name, [SendEntry("a"), SendEntry("b" * 2000), SendEntry("c")])
    assert [f.id for f in result.failed] == ["1"]
    assert [r.id for r in result.successful] == ["0", "2"]


async def test_a_deleted_queue_is_forgotten(sqs: SQSBackend) -> None:
    """The cached URL goes with the queue: a queue deleted elsewhere is QueueDoesNotExist."""
    name = await make(sqs)
    await sqs.send(name, [SendEntry("x")])
    await sqs.delete_queue(name)
    with pytest.raises(QueueDoesNotExist):
        await sqs.send(name, [SendEntry("y")])


async def test_list_queues_reads_every_page(sqs: SQSBackend) -> None:
    """SQS ListQueues pages (MaxResults/NextToken): every page is read."""
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    for i in range(3):
        await sqs.create_queue(QueueSpec(f"{prefix}-{i}"))
    assert await sqs.list_queues(prefix) == [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]


# -- receive ------------------------------------------------------------------------------------


async def test_receive_more_than_ten_assembles_several_receives(sqs: SQSBackend) -> None:
    """SQS-R-1: ReceiveMessage gives at most 10; receive(35) on a backlog gets all 35 at once."""
    name = await make(sqs, visibility_timeout=600)
    sent = await fill(sqs, name, 35)
    got = await sqs.receive(name, max_messages=35, wait_seconds=0)
    assert sorted(m.message_id for m in got) == sorted(sent)
    assert len({m.receipt_handle for m in got}) == 35


async def test_receive_returns_what_there_is_without_waiting_to_fill(sqs: SQSBackend) -> None:
    """SQS-R-1: with 12 messages, receive(100) returns the 12 now (no long poll to fill up)."""
    name = await make(sqs)
    await fill(sqs, name, 12)
    start = time.monotonic()
    got = await sqs.receive(name, max_messages=100, wait_seconds=10)
    assert len(got) == 12
    assert time.monotonic() - start < 3


async def test_fractional_wait_ends_on_time(sqs: SQSBackend) -> None:
    """SQS-R-1: SQS waits whole seconds; a 1.5 s wait long-polls 1 s, then waits out the rest."""
    name = await make(sqs)
    start = time.monotonic()
    assert await sqs.receive(name, max_messages=10, wait_seconds=1.5) == []
    elapsed = time.monotonic() - start
    assert 1.45 <= elapsed < 3


async def test_message_arriving_in_the_last_fraction_of_a_wait_is_received(sqs: SQSBackend) -> None:
    """SQS-R-1: the short poll at the end of a fractional wait picks up a late message."""
    name = await make(sqs)

    async def send_late() -> None:
        await asyncio.sleep(0.3)
        await sqs.send(name, [SendEntry("late")])

    sender = asyncio.create_task(send_late())
    got = await sqs.receive(name, max_messages=10, wait_seconds=0.8)
    await sender
    assert [m.body for m in got] == ["late"]


async def test_visibility_timeouts_round_up_to_whole_seconds(sqs: SQSBackend) -> None:
    """SQS-V-1, SQS-V-2: 0.2 s becomes 1 s on SQS, never 0 (which would mean visible at once)."""
    name = await make(sqs)
    await fill(sqs, name, 1)
    (message,) = await sqs.receive(name, wait_seconds=0, visibility_timeout=0.2)
    await asyncio.sleep(0.4)
    assert await sqs.receive(name, wait_seconds=0) == [], "visible again before a whole second"
    assert await sqs.change_visibility(name, [VisibilityChange(message.receipt_handle, 0.1)]) == []
    assert await sqs.receive(name, wait_seconds=0) == []
    (again,) = await sqs.receive(name, wait_seconds=3)
    assert again.message_id == message.message_id


async def test_bad_receive_arguments(sqs: SQSBackend) -> None:
    name = await make(sqs)
    for kwargs in ({"max_messages": 0}, {"wait_seconds": -1}, {"visibility_timeout": 43_201}):
        with pytest.raises(InvalidParameterValue):
            await sqs.receive(name, **kwargs)  # type: ignore[arg-type]


# -- send ---------------------------------------------------------------------------------------


async def test_send_splits_into_batches_and_keeps_the_callers_order(sqs: SQSBackend) -> None:
    """SQS SendMessageBatch takes 10 entries: 25 are sent as 3 calls; results follow the input."""
    name = await make(sqs)
    entries = [SendEntry(f"m{i}", id=f"e{i}") for i in range(25)]
    entries.insert(7, SendEntry("", id="empty"))
    result = await sqs.send(name, entries)
    assert [r.id for r in result.successful] == [f"e{i}" for i in range(25)]
    assert [(f.id, f.code) for f in result.failed] == [("empty", "MissingParameter")]
    assert (await sqs.get_queue(name)).counts.visible == 25


async def test_send_batches_stay_under_one_mib(sqs: SQSBackend) -> None:
    """SQS-L-1: a SendMessageBatch carries at most 1 MiB in all; big entries go in several calls."""
    name = await make(sqs)
    big = "x" * 400_000
    result = await sqs.send(name, [SendEntry(big + str(i)) for i in range(4)])
    assert not result.failed and len(result.successful) == 4
    assert (await sqs.get_queue(name)).counts.visible == 4


async def test_fifo_send_of_many_batches_keeps_order(sqs: SQSBackend) -> None:
    """SQS-F-5: the batches of one FIFO send are sent one after the other, so order holds."""
    name = await make(sqs, fifo=True, content_based_deduplication=True)
    texts = [f"f{i:02d}" for i in range(25)]
    result = await sqs.send(name, [SendEntry(t, message_group_id="g") for t in texts])
    assert not result.failed
    seen: list[str] = []
    while len(seen) < 25:
        got = await sqs.receive(name, max_messages=10, wait_seconds=2)
        assert got
        seen += [m.body for m in got]
        assert await sqs.delete(name, [m.receipt_handle for m in got]) == []
    assert seen == texts


async def test_records_carry_sqs_values(sqs: SQSBackend) -> None:
    """EVT-3, EVT-5, EVT-6: message id, MD5s and binary attributes exactly as SQS returns them."""
    name = await make(sqs)
    attrs = {
        "b": MessageAttributeValue("Binary", binary_value=b"\x00\xff"),
        "s": MessageAttributeValue("String", "v"),
    }
    sent = (await sqs.send(name, [SendEntry("body", message_attributes=attrs)])).successful[0]
    (message,) = await sqs.receive(name, wait_seconds=2)
    assert message.message_id == sent.message_id
    assert message.md5_of_body == sent.md5_of_message_body
    assert message.md5_of_message_attributes == sent.md5_of_message_attributes
    assert message.message_attributes == attrs
    assert isinstance(message.message_attributes["b"].binary_value, bytes)


async def test_trace_header_is_sent_as_a_system_attribute(sqs: SQSBackend) -> None:
    """EVT-4: AWSTraceHeader goes to SQS as MessageSystemAttributes (moto then drops it from
    batches: MOTO_BATCH_DROPS_SYSTEM_ATTRIBUTES in test_sqs_conformance.py)."""
    name = await make(sqs)
    requests: list[dict] = []
    sqs._sqs.require().meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: requests.append(params)
    )
    await sqs.send(name, [SendEntry("t", trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")])
    (entry,) = requests[0]["Entries"]
    assert entry["MessageSystemAttributes"] == {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    }


# -- per-entry failures SQS says may succeed on retry --------------------------------------------


async def test_transient_delete_failures_are_retried(
    sqs: SQSBackend, inject_entry_failures: Callable[[str, int], list[int]]
) -> None:
    """RELIABILITY T23: DeleteMessageBatch entries failed with SenderFault=false are retried."""
    name = await make(sqs)
    await fill(sqs, name, 3)
    got = await sqs.receive(name, max_messages=3, wait_seconds=2)
    calls = inject_entry_failures("delete_message_batch", 1)
    assert await sqs.delete(name, [m.receipt_handle for m in got]) == []
    assert calls == [3, 3]
    counts = (await sqs.get_queue(name)).counts
    assert (counts.visible, counts.in_flight) == (0, 0)


async def test_lasting_delete_failures_are_returned_not_dropped(
    sqs: SQSBackend, inject_entry_failures: Callable[[str, int], list[int]]
) -> None:
    """RELIABILITY T23 (sqs-consumer #193): a delete that keeps failing is reported per entry,
    retryable (sender_fault False), and a later delete of the same handles works."""
    name = await make(sqs)
    await fill(sqs, name, 2)
    got = await sqs.receive(name, max_messages=2, wait_seconds=2)
    handles = [m.receipt_handle for m in got]
    inject_entry_failures("delete_message_batch", 4)
    failed = await sqs.delete(name, handles)
    assert sorted(f.id for f in failed) == sorted(handles)
    assert all(f.code == "InternalError" and not f.sender_fault for f in failed)
    assert (await sqs.get_queue(name)).counts.in_flight == 2
    assert await sqs.delete(name, handles) == []
    assert (await sqs.get_queue(name)).counts.in_flight == 0


async def test_transient_send_failures_are_retried_once_each(
    sqs: SQSBackend, inject_entry_failures: Callable[[str, int], list[int]]
) -> None:
    """SendMessageBatch entries failed with SenderFault=false are sent again, once."""
    name = await make(sqs)
    inject_entry_failures("send_message_batch", 1)
    result = await sqs.send(name, [SendEntry(f"s{i}") for i in range(4)])
    assert not result.failed and [r.id for r in result.successful] == ["0", "1", "2", "3"]
    assert (await sqs.get_queue(name)).counts.visible == 4


async def test_fifo_send_stops_at_an_entry_that_may_succeed_later(
    sqs: SQSBackend, inject_entry_failures: Callable[[str, int], list[int]]
) -> None:
    """SQS-F-5: when a FIFO batch keeps failing with SenderFault=false, the batches after it are not
    sent (their entries fail, retryable), so nothing overtakes a message the caller will resend."""
    name = await make(sqs, fifo=True, content_based_deduplication=True)
    calls = inject_entry_failures("send_message_batch", 4)
    result = await sqs.send(name, [SendEntry(f"f{i}", message_group_id="g") for i in range(15)])
    assert calls == [10, 10, 10, 10], "the second batch must not be sent"
    assert result.successful == []
    assert [f.id for f in result.failed] == [str(i) for i in range(15)]
    assert all(not f.sender_fault for f in result.failed)
    assert (await sqs.get_queue(name)).counts.visible == 0


async def test_transient_visibility_failures_are_retried(
    sqs: SQSBackend, inject_entry_failures: Callable[[str, int], list[int]]
) -> None:
    """RELIABILITY T23: ChangeMessageVisibilityBatch entries failed with SenderFault=false are retried."""
    name = await make(sqs, visibility_timeout=600)
    await fill(sqs, name, 1)
    (message,) = await sqs.receive(name, wait_seconds=2)
    calls = inject_entry_failures("change_message_visibility_batch", 2)
    assert await sqs.change_visibility(name, [VisibilityChange(message.receipt_handle, 0)]) == []
    assert calls == [1, 1, 1]
    (again,) = await sqs.receive(name, wait_seconds=2)
    assert again.message_id == message.message_id


# -- throttling ---------------------------------------------------------------------------------


async def test_throttling_is_retried_then_reported(sqs: SQSBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS throttling (RequestThrottled) is retried by the SDK's adaptive mode; once its attempts
    (two here) are spent, the call raises BackendUnavailable, which the runtime retries later."""
    from moto.sqs import exceptions, models

    name = await make(sqs)
    await fill(sqs, name, 1)
    original = models.SQSBackend.receive_message
    throttles = [1]

    def throttled(self: object, *args: object, **kwargs: object) -> object:
        if throttles[0] > 0:
            throttles[0] -= 1
            raise exceptions.SQSException("RequestThrottled", "Rate exceeded")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(models.SQSBackend, "receive_message", throttled)
    (message,) = await sqs.receive(name, wait_seconds=0)
    assert throttles == [0]
    throttles[0] = 2
    with pytest.raises(BackendUnavailable, match="RequestThrottled"):
        await sqs.receive(name, wait_seconds=0)
    assert await sqs.delete(name, [message.receipt_handle]) == []


# -- the network --------------------------------------------------------------------------------


async def test_dropped_connections_are_retried(
    moto_server: MotoSQSServer, aws_env: None, flaky_proxy: FlakyProxy
) -> None:
    """A connection that breaks before SQS got the request is retried by the SDK; nothing is lost."""
    url = f"sqs://?endpoint_url=http://127.0.0.1:{flaky_proxy.port}&region=us-east-1&max_attempts=3"
    async with SQSBackend(url) as backend:
        name = await make(backend)
        flaky_proxy.drop_before = 2
        assert not (await backend.send(name, [SendEntry("survives")])).failed
        flaky_proxy.drop_before = 1
        (message,) = await backend.receive(name, wait_seconds=2)
        flaky_proxy.drop_before = 1
        assert await backend.delete(name, [message.receipt_handle]) == []
        assert (await backend.get_queue(name)).counts.in_flight == 0


async def test_lost_delete_answer_is_retried_without_harm(
    moto_server: MotoSQSServer, aws_env: None, flaky_proxy: FlakyProxy
) -> None:
    """A delete that reached SQS but whose answer was lost is sent again: deleting twice is not an
    error, and no other message is touched (no double delete)."""
    url = f"sqs://?endpoint_url=http://127.0.0.1:{flaky_proxy.port}&region=us-east-1&max_attempts=3"
    async with SQSBackend(url) as backend:
        name = await make(backend, visibility_timeout=600)
        await fill(backend, name, 2)
        first, second = await backend.receive(name, max_messages=2, wait_seconds=2)
        flaky_proxy.drop_after = 1
        before = flaky_proxy.connections
        assert await backend.delete(name, [first.receipt_handle]) == []
        assert flaky_proxy.connections - before == 2, "the delete was not retried"
        counts = (await backend.get_queue(name)).counts
        assert counts.in_flight == 1
        assert await backend.delete(name, [second.receipt_handle]) == []


async def test_lost_fifo_send_answer_does_not_duplicate(
    moto_server: MotoSQSServer, aws_env: None, flaky_proxy: FlakyProxy
) -> None:
    """SQS-F-3: a FIFO send retried after a lost answer is deduplicated by its id."""
    url = f"sqs://?endpoint_url=http://127.0.0.1:{flaky_proxy.port}&region=us-east-1&max_attempts=3"
    async with SQSBackend(url) as backend:
        name = await make(backend, fifo=True)
        flaky_proxy.drop_after = 1
        result = await backend.send(
            name, [SendEntry("once", message_group_id="g", message_deduplication_id="d1")]
        )
        assert not result.failed
        got = await backend.receive(name, max_messages=10, wait_seconds=1)
        assert [m.body for m in got] == ["once"]


async def test_unreachable_endpoint_fails_at_connect(aws_env: None) -> None:
    """Exit code 3 material: nothing listens there; connect says so (after the SDK's retries)."""
    from qworker_sqs.testing import free_port

    backend = SQSBackend(
        f"sqs://?endpoint_url=http://127.0.0.1:{free_port()}&region=us-east-1&max_attempts=2"
    )
    with pytest.raises(BackendUnavailable, match="Cannot reach SQS"):
        await backend.connect()
    await backend.close()


async def test_outage_during_a_batch_call_is_backend_unavailable(
    moto_server: MotoSQSServer, aws_env: None, flaky_proxy: FlakyProxy
) -> None:
    """When the SDK's retries are spent, the call raises BackendUnavailable (the runtime backs off)."""
    url = f"sqs://?endpoint_url=http://127.0.0.1:{flaky_proxy.port}&region=us-east-1&max_attempts=2"
    async with SQSBackend(url) as backend:
        name = await make(backend)
        flaky_proxy.drop_before = 2
        with pytest.raises(BackendUnavailable):
            await backend.send(name, [SendEntry("x")])
        flaky_proxy.drop_before = 2
        with pytest.raises(BackendUnavailable):
            await backend.receive(name, wait_seconds=0)


# -- redrive fallback ---------------------------------------------------------------------------


async def test_redrive_falls_back_once_and_remembers(sqs: SQSBackend) -> None:
    """ESM-DLQ-6: moto has no StartMessageMoveTask: receive+send+delete moves the messages, and the
    backend remembers not to try the action again."""
    dlq = await make(sqs)
    source = await make(sqs, redrive_policy=RedrivePolicy(dlq, 1))
    await fill(sqs, source, 3)
    got = await sqs.receive(source, max_messages=3, wait_seconds=2)
    await sqs.change_visibility(source, [VisibilityChange(m.receipt_handle, 0) for m in got])
    assert await sqs.receive(source, max_messages=10, wait_seconds=0) == []
    assert sqs.move_tasks_supported is None
    assert (await sqs.redrive(dlq)).moved == 3
    assert sqs.move_tasks_supported is False
    assert (await sqs.get_queue(source)).counts.visible == 3


async def test_redrive_without_a_known_source_leaves_the_messages(sqs: SQSBackend) -> None:
    """ESM-DLQ-6: a dead letter whose source cannot be told (no DeadLetterQueueSourceArn, two
    source queues) is counted failed and left, visible, in the dead-letter queue."""
    dlq = await make(sqs)
    first = await make(sqs, redrive_policy=RedrivePolicy(dlq, 1))
    await make(sqs, redrive_policy=RedrivePolicy(dlq, 1))
    await fill(sqs, first, 2)
    got = await sqs.receive(first, max_messages=2, wait_seconds=2)
    await sqs.change_visibility(first, [VisibilityChange(m.receipt_handle, 0) for m in got])
    assert await sqs.receive(first, max_messages=10, wait_seconds=0) == []
    result = await sqs.redrive(dlq)
    assert (result.moved, result.failed) == (0, 2)
    assert (await sqs.get_queue(dlq)).counts.visible == 2
    result = await sqs.redrive(dlq, destination=first)
    assert (result.moved, result.failed) == (2, 0)


async def test_redrive_arguments_are_checked(sqs: SQSBackend) -> None:
    dlq = await make(sqs)
    fifo = await make(sqs, fifo=True)
    with pytest.raises(InvalidParameterValue):
        await sqs.redrive(dlq, max_per_second=501)
    with pytest.raises(InvalidParameterValue):
        await sqs.redrive(dlq, destination=fifo)
    with pytest.raises(InvalidParameterValue):
        await sqs.redrive(dlq, destination=dlq)


# -- logs ---------------------------------------------------------------------------------------


async def test_botocore_debug_logs_stay_off_unless_asked(
    sqs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RELIABILITY §3.4: botocore's DEBUG wire logs (signed headers) are off, even with a DEBUG root,
    unless QWORKER_UNSAFE_WIRE_LOGS=1."""
    loggers = [logging.getLogger(name) for name in ("botocore", "aiobotocore")]
    for logger in loggers:
        monkeypatch.setattr(logger, "level", logging.DEBUG)
    async with SQSBackend(sqs_url):
        assert all(logger.getEffectiveLevel() >= logging.INFO for logger in loggers)
    for logger in loggers:
        monkeypatch.setattr(logger, "level", logging.DEBUG)
    monkeypatch.setenv("QWORKER_UNSAFE_WIRE_LOGS", "1")
    async with SQSBackend(sqs_url):
        assert all(logger.getEffectiveLevel() == logging.DEBUG for logger in loggers)

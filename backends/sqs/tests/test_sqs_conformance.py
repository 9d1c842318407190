"""The backend conformance suite on SQS: against moto's server always, against AWS when asked.

**moto.** Every test of :class:`~qworker.testing.conformance.BackendConformance` runs against
moto 5.2.5's SQS server. Where moto itself is not faithful to SQS the test is overridden here
with a strict ``xfail`` whose reason names the infidelity and the moto source that shows it (so
the override goes the day moto is fixed: a strict xfail that passes fails the run), and, where
the rest of the test still says something, a ``*_on_moto`` variant checks every part moto does
implement. The backend is never bent to moto. The tests the suite itself skips here: ``peek`` and
failure notes (SQS has neither: ``capabilities``), and the four that move the clock (the
5-minute deduplication window, the 12-hour visibility cap, retention): moto's clock is the wall
clock (``controls_clock = False``).

**AWS** (``-m aws``). The same suite against real SQS when AWS credentials are found and the
``CI`` variable is not set; skipped otherwise, never run in CI. It creates (and deletes) real
queues named ``cf-*``/``ls-*`` in the default region. SQS's documented leeway can fail some tests
there: short polls (``wait_seconds=0``) sample a subset of servers and may come back empty
(SQS-R-1), approximate counts and purges take up to a minute to settle, and a stale receipt
handle "might" still delete (SQS-RH-1).
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qworker.backend import Backend, MessageAttributeValue, QueueSpec, SendEntry, VisibilityChange
from qworker.testing.conformance import BackendConformance, bodies, comparable, unique_name
from qworker_sqs import SQSBackend

#: aiohttp warns (ResourceWarning, ignored by Python's default filters) when a request body is
#: over 1 MiB; a SendMessageBatch at SQS's 1 MiB limit is that, by design (test_body_at_the_size_limit).
pytestmark = pytest.mark.filterwarnings("ignore:Sending a large body directly with raw bytes:ResourceWarning")

MOTO_STALE_DELETE = (
    "moto infidelity: Queue.delete_message (moto/sqs/models.py) deletes the message of any receipt "
    "handle it ever had (Message.had_receipt_handle also matches _old_receipt_handles), so a stale handle "
    "deletes a message another consumer received since"
)
MOTO_NO_MESSAGE_NOT_INFLIGHT = (
    "moto infidelity: SQSBackend.change_message_visibility (moto/sqs/models.py) accepts any handle the "
    "message ever had and changes the visibility of a message that is not in flight; it never reports "
    "MessageNotInflight"
)
MOTO_NO_DLQ_SOURCE_ARN = (
    "moto infidelity: ReceiveMessage never returns DeadLetterQueueSourceArn (it is missing from "
    "SUPPORTED_SYSTEM_MESSAGE_ATTRIBUTE_NAMES in moto/sqs/responses.py)"
)
MOTO_BATCH_DROPS_SYSTEM_ATTRIBUTES = (
    "moto infidelity: SendMessageBatch drops MessageSystemAttributes (SQSBackend.send_message_batch in "
    "moto/sqs/models.py calls send_message without system_attributes), so AWSTraceHeader is lost"
)
MOTO_RANDOM_SEQUENCE_NUMBERS = (
    "moto infidelity: SequenceNumber is 20 random digits (SQSBackend.send_message in moto/sqs/models.py), "
    "not increasing, and is set only when a MessageDeduplicationId is given explicitly"
)
MOTO_DEDUP_FORGETS_DELETED = (
    "moto infidelity: Queue.add_message (moto/sqs/models.py) deduplicates only against messages still "
    "in the queue (a deleted message's deduplication id is forgotten), and answers a duplicate with a "
    "new MessageId instead of the original's"
)
MOTO_NO_REDRIVE_ALLOW_POLICY = (
    "moto infidelity: RedriveAllowPolicy is stored but never returned by GetQueueAttributes (it is not in "
    "Queue.BASE_ATTRIBUTES, used by Queue.attributes in moto/sqs/models.py)"
)
MOTO_IGNORES_DEDUP_SCOPE = (
    "moto infidelity: DeduplicationScope is stored but ignored; Queue.add_message (moto/sqs/models.py) "
    "deduplicates across the whole queue"
)


class TestSQSConformanceOnMoto(BackendConformance):
    timing_unit = 1.0  # SQS timeouts are whole seconds
    controls_clock = False  # moto's clock is the wall clock

    @pytest.fixture
    async def backend(self, sqs_url: str) -> AsyncIterator[SQSBackend]:
        async with SQSBackend(sqs_url) as backend:
            yield backend

    @pytest.fixture
    async def other_backend(self, sqs_url: str) -> AsyncIterator[SQSBackend]:
        async with SQSBackend(sqs_url) as other:
            yield other

    # -- where moto is not SQS ------------------------------------------------------------------

    @pytest.mark.xfail(strict=True, reason=MOTO_BATCH_DROPS_SYSTEM_ATTRIBUTES)
    async def test_received_message_attributes(self, backend: Backend) -> None:
        await super().test_received_message_attributes(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_STALE_DELETE)
    async def test_stale_receipt_handle_never_deletes(self, backend: Backend) -> None:
        await super().test_stale_receipt_handle_never_deletes(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_NO_MESSAGE_NOT_INFLIGHT)
    async def test_change_visibility_failures(self, backend: Backend) -> None:
        await super().test_change_visibility_failures(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_NO_MESSAGE_NOT_INFLIGHT)
    async def test_change_visibility_on_a_visible_message_fails(self, backend: Backend) -> None:
        await super().test_change_visibility_on_a_visible_message_fails(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_NO_DLQ_SOURCE_ARN)
    async def test_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count(self, backend: Backend) -> None:
        await super().test_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_NO_DLQ_SOURCE_ARN)
    async def test_fifo_dead_letter_keeps_group_and_unblocks_it(self, backend: Backend) -> None:
        await super().test_fifo_dead_letter_keeps_group_and_unblocks_it(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_RANDOM_SEQUENCE_NUMBERS)
    async def test_fifo_sequence_numbers_increase(self, backend: Backend) -> None:
        await super().test_fifo_sequence_numbers_increase(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_DEDUP_FORGETS_DELETED)
    async def test_fifo_deduplication_within_five_minutes(self, backend: Backend) -> None:
        await super().test_fifo_deduplication_within_five_minutes(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_IGNORES_DEDUP_SCOPE)
    async def test_fifo_deduplication_scope_message_group(self, backend: Backend) -> None:
        await super().test_fifo_deduplication_scope_message_group(backend)

    @pytest.mark.xfail(strict=True, reason=MOTO_NO_REDRIVE_ALLOW_POLICY)
    async def test_extra_attributes_are_kept_as_given(self, backend: Backend) -> None:
        await super().test_extra_attributes_are_kept_as_given(backend)

    # -- the parts of those tests moto does implement --------------------------------------------

    async def test_extra_attributes_are_kept_as_given_on_moto(self, backend: Backend) -> None:
        """SQS CreateQueue/SetQueueAttributes (all but RedriveAllowPolicy, see
        MOTO_NO_REDRIVE_ALLOW_POLICY): the extra attributes are kept and replaced."""
        name = unique_name()
        spec = QueueSpec(name, extra_attributes=(("Policy", self.POLICY), ("SqsManagedSseEnabled", "false")))
        await backend.create_queue(spec)
        assert comparable((await backend.get_queue(name)).spec) == comparable(spec)
        await backend.create_queue(spec)
        kms = (("KmsMasterKeyId", "alias/aws/sqs"), ("KmsDataKeyReusePeriodSeconds", "900"))
        changed = QueueSpec(name, extra_attributes=(*kms, ("SqsManagedSseEnabled", "false")))
        await backend.set_queue_attributes(name, changed)
        info = await backend.get_queue(name)
        assert info.spec == changed
        assert "Policy" not in info.attributes()

    async def test_received_message_attributes_on_moto(self, backend: Backend) -> None:
        """SQS-R-2, EVT-4 (all but AWSTraceHeader, see MOTO_BATCH_DROPS_SYSTEM_ATTRIBUTES): system
        attributes are SQS's strings, in Lambda's order."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        (message,) = await self.receive_all(backend, name, 1)
        attrs = message.attributes
        assert all(isinstance(v, str) for v in attrs.values())
        assert list(attrs)[:2] == ["ApproximateReceiveCount", "SentTimestamp"]
        assert list(attrs)[-1] == "ApproximateFirstReceiveTimestamp"
        assert attrs["ApproximateReceiveCount"] == "1"
        assert int(attrs["SentTimestamp"]) <= int(attrs["ApproximateFirstReceiveTimestamp"])
        assert attrs["SenderId"]

    async def test_change_visibility_failures_on_moto(self, backend: Backend) -> None:
        """SQS-V-2 (all but MessageNotInflight, see MOTO_NO_MESSAGE_NOT_INFLIGHT): malformed and
        out-of-range entries fail alone with SQS's codes; the good entry applies."""
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a", "b")
        first, other = await self.receive_all(backend, name, 2)
        failed = await backend.change_visibility(
            name,
            [
                VisibilityChange("???", 100),
                VisibilityChange(other.receipt_handle, 43_201),
                VisibilityChange(other.receipt_handle, -1),
                VisibilityChange(first.receipt_handle, 0),
            ],
        )
        assert sorted((f.id, f.code) for f in failed) == sorted(
            [
                ("???", "ReceiptHandleIsInvalid"),
                (other.receipt_handle, "InvalidParameterValue"),
                (other.receipt_handle, "InvalidParameterValue"),
            ]
        )
        assert all(f.sender_fault for f in failed)
        (again,) = await backend.receive(name, wait_seconds=2)
        assert again.message_id == first.message_id

    async def test_moves_to_dlq_on_moto(self, backend: Backend) -> None:
        """ESM-DLQ-2, ESM-DLQ-4, ESM-F-3 (all but DeadLetterQueueSourceArn, see
        MOTO_NO_DLQ_SOURCE_ARN): delivered maxReceiveCount times, then in the DLQ with its id,
        body and attributes."""
        source, dlq = await self.make_queue_with_dlq(backend, 3)
        attrs = {"kind": MessageAttributeValue("String", string_value="poison")}
        result = await backend.send(source, [SendEntry("poison", message_attributes=attrs)])
        counts = []
        for _ in range(3):
            (message,) = await backend.receive(source, wait_seconds=2)
            counts.append(message.receive_count)
            await self.release(backend, source, [message])
        assert counts == [1, 2, 3]
        assert await backend.receive(source, max_messages=10, wait_seconds=0) == []
        (dead,) = await backend.receive(dlq, wait_seconds=2)
        assert (dead.message_id, dead.body, dead.message_attributes) == (
            result.successful[0].message_id,
            "poison",
            attrs,
        )
        assert dead.receive_count >= 3

    async def test_fifo_dead_letter_unblocks_the_group_on_moto(self, backend: Backend) -> None:
        """ESM-DLQ-2, ESM-DLQ-3 (all but DeadLetterQueueSourceArn): the FIFO poison message goes
        to the FIFO DLQ with its group, and its group moves on."""
        source, dlq = await self.make_queue_with_dlq(backend, 2, fifo=True, visibility_timeout=600)
        await self.send_bodies(backend, source, "poison", "next", group="A")
        for expected in (1, 2):
            (message,) = await backend.receive(source, max_messages=1, wait_seconds=2)
            assert (message.body, message.receive_count) == ("poison", expected)
            await self.release(backend, source, [message])
        (following,) = await backend.receive(source, max_messages=1, wait_seconds=2)
        assert following.body == "next"
        (dead,) = await backend.receive(dlq, wait_seconds=2)
        assert (dead.body, dead.message_group_id) == ("poison", "A")

    async def test_fifo_deduplication_on_moto(self, backend: Backend) -> None:
        """SQS-F-3 (while the first copy is still queued, see MOTO_DEDUP_FORGETS_DELETED): a
        duplicate deduplication id is accepted and not delivered."""
        name = await self.make_queue(backend, fifo=True)
        for body in ("one", "two"):
            result = await backend.send(
                name, [SendEntry(body, message_group_id="g", message_deduplication_id="same")]
            )
            assert not result.failed
        assert bodies(await self.receive_all(backend, name, 2, wait=0.5)) == ["one"]


class TestSQSConformanceOnServe(BackendConformance):
    """The same suite against ``qworker serve`` over SQLite and Redis: qworker's SQS backend
    talking to qworker's own SQS API. None of moto's infidelities above may exist here, so no
    test is overridden."""

    timing_unit = 1.0  # the API takes whole seconds, as SQS does
    controls_clock = False  # the server runs on the wall clock

    @pytest.fixture
    async def backend(self, serve_endpoint: str, aws_env: None) -> AsyncIterator[SQSBackend]:
        async with SQSBackend(f"sqs://?endpoint_url={serve_endpoint}&region=us-east-1") as backend:
            yield backend


def _aws_credentials_found() -> str | None:
    """Why the AWS tests cannot run here, or ``None`` when they can."""
    if os.environ.get("CI"):
        return "AWS tests never run in CI"
    hints = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
    files = (Path.home() / ".aws" / "credentials", Path.home() / ".aws" / "config")
    if not any(os.environ.get(name) for name in hints) and not any(f.exists() for f in files):
        return "no AWS credentials in the environment or in ~/.aws"
    return _resolved_credentials()


@functools.cache
def _resolved_credentials() -> str | None:
    import botocore.session

    try:
        found = botocore.session.Session().get_credentials()
    except Exception as exc:  # a broken profile is "no credentials" for this purpose
        return f"AWS credentials could not be resolved: {type(exc).__name__}"
    return None if found is not None else "no AWS credentials found"


@pytest.mark.aws
class TestSQSConformanceOnAWS(BackendConformance):
    """The suite against Amazon SQS itself (``pytest -m aws``); see the module docstring."""

    timing_unit = 1.0
    controls_clock = False

    @pytest.fixture
    async def backend(self) -> AsyncIterator[SQSBackend]:
        reason = _aws_credentials_found()
        if reason is not None:
            pytest.skip(reason)
        import botocore.session

        region = botocore.session.Session().get_config_variable("region") or "us-east-1"
        async with SQSBackend(f"sqs://?region={region}") as backend:
            before = set(await backend.list_queues())
            yield backend
            made = set(await backend.list_queues()) - before
            for name in made:
                if name.startswith(("cf-", "ls-")):
                    await backend.delete_queue(name)

    @pytest.mark.xfail(strict=False, reason="SQS-RH-1: on SQS a stale receipt handle 'might' still delete")
    async def test_stale_receipt_handle_never_deletes(self, backend: Backend) -> None:
        await super().test_stale_receipt_handle_never_deletes(backend)

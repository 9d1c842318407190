"""The conformance suite's part on send, receive, long polls and visibility timeouts."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from qworker import digest
from qworker.backend import (
    Backend,
    MessageAttributeValue,
    SendEntry,
)
from qworker.errors import (
    InvalidParameterValue,
)
from qworker.testing.conformance.base import SuiteBase, bodies


class MessageTests(SuiteBase):
    """Send, receive, long polls and visibility timeouts."""

    # == send ===================================================================================

    async def test_send_returns_ids_and_sqs_md5s(self, backend: Backend) -> None:
        """EVT-3, EVT-6: md5OfBody and md5OfMessageAttributes as SQS computes them."""
        name = await self.make_queue(backend)
        attrs = {"attribName1": MessageAttributeValue("String", string_value="attribValue 1")}
        result = await backend.send(
            name, [SendEntry("héllo wörld", message_attributes=attrs), SendEntry("plain")]
        )
        assert not result.failed
        first, second = result.successful
        assert (first.id, second.id) == ("0", "1")
        assert first.md5_of_message_body == digest.md5_of_body("héllo wörld")
        assert first.md5_of_message_attributes == "19e27d4e946b072f3f58da80d94fd778"
        assert second.md5_of_message_attributes is None
        assert uuid.UUID(first.message_id) and first.message_id != second.message_id
        got = await self.receive_all(backend, name, 2)
        by_body = {m.body: m for m in got}
        assert by_body["héllo wörld"].message_id == first.message_id
        assert by_body["héllo wörld"].md5_of_body == first.md5_of_message_body
        assert by_body["héllo wörld"].md5_of_message_attributes == "19e27d4e946b072f3f58da80d94fd778"
        assert by_body["héllo wörld"].message_attributes == attrs
        assert by_body["plain"].md5_of_message_attributes is None

    async def test_message_attributes_round_trip(self, backend: Backend) -> None:
        """SQS-L-5, EVT-5: String, Number, Binary and custom-labelled attributes are kept exactly."""
        name = await self.make_queue(backend)
        attrs = {
            "text": MessageAttributeValue("String", string_value="ünïcode ✓"),
            "count": MessageAttributeValue("Number", string_value="-12.50"),
            "blob": MessageAttributeValue("Binary", binary_value=bytes(range(256))),
            "custom_num": MessageAttributeValue("Number.float", string_value="3.14"),
            "custom.json": MessageAttributeValue("String.json", string_value='{"a": 1}'),
            "custom-bin": MessageAttributeValue("Binary.gzip", binary_value=b"\x1f\x8b\x00"),
        }
        result = await backend.send(name, [SendEntry("body", message_attributes=attrs)])
        assert not result.failed
        (message,) = await self.receive_all(backend, name, 1)
        assert message.message_attributes == attrs
        assert message.md5_of_message_attributes == digest.md5_of_message_attributes(attrs)

    async def test_message_attribute_md5_matches_sqs_vectors(self, backend: Backend) -> None:
        """EVT-6: digests agree with SQS's published algorithm on known vectors."""
        name = await self.make_queue(backend)
        attrs = {
            "attribName1": MessageAttributeValue("String", string_value="attribValue 1"),
            "customNumberTypeAttrib": MessageAttributeValue(
                "Number.float", string_value="4563442423554324324264524243.32543234"
            ),
            "binaryAttribute": MessageAttributeValue("Binary", binary_value=b"Hello binary world!"),
        }
        result = await backend.send(name, [SendEntry("x", message_attributes=attrs)])
        assert result.successful[0].md5_of_message_attributes == "c932db14a896c663f83c260297d594ff"

    async def test_bad_entries_fail_alone(self, backend: Backend) -> None:
        """SQS-L-1, SQS-L-2, SQS-L-5: each bad entry fails with SQS's code; the good ones are sent."""
        name = await self.make_queue(backend, maximum_message_size=1024)
        entries = [
            SendEntry("good-1"),
            SendEntry(""),  # empty body
            SendEntry("x" * 1025),  # over the queue's MaximumMessageSize
            SendEntry(
                "x" * 1000, message_attributes={"pad": MessageAttributeValue("String", string_value="y" * 30)}
            ),
            SendEntry("bad \x00 char"),
            SendEntry("bad attr", message_attributes={"AWS.reserved": MessageAttributeValue("String", "v")}),
            SendEntry("bad number", message_attributes={"n": MessageAttributeValue("Number", "twelve")}),
            SendEntry("bad type", message_attributes={"t": MessageAttributeValue("Strung", "v")}),
            SendEntry(
                "too many attrs",
                message_attributes={f"a{i}": MessageAttributeValue("String", "v") for i in range(11)},
            ),
            SendEntry("delay too long", delay_seconds=901),
            SendEntry("dedup on standard", message_deduplication_id="d1"),
            SendEntry("good-2"),
        ]
        result = await backend.send(name, entries)
        assert [r.id for r in result.successful] == ["0", "11"]
        codes = {f.id: f.code for f in result.failed}
        assert codes == {
            "1": "MissingParameter",
            "2": "InvalidParameterValue",
            "3": "InvalidParameterValue",
            "4": "InvalidMessageContents",
            "5": "InvalidParameterValue",
            "6": "InvalidParameterValue",
            "7": "InvalidParameterValue",
            "8": "InvalidParameterValue",
            "9": "InvalidParameterValue",
            "10": "InvalidParameterValue",
        }
        assert all(f.sender_fault and f.message for f in result.failed)
        assert sorted(bodies(await self.receive_all(backend, name, 2))) == ["good-1", "good-2"]

    async def test_entry_ids_are_echoed_and_must_be_distinct(self, backend: Backend) -> None:
        """SQS SendMessageBatch: results carry the entry Id; duplicate Ids fail the whole call."""
        name = await self.make_queue(backend)
        result = await backend.send(name, [SendEntry("a", id="first"), SendEntry("b", id="second")])
        assert sorted(r.id for r in result.successful) == ["first", "second"]
        with pytest.raises(InvalidParameterValue):
            await backend.send(name, [SendEntry("a", id="same"), SendEntry("b", id="same")])

    async def test_body_at_the_size_limit(self, backend: Backend) -> None:
        """SQS-L-1: a body of exactly MaximumMessageSize bytes is accepted and kept whole."""
        name = await self.make_queue(backend)
        big = "é" * (1_048_576 // 2)  # 2 bytes each in UTF-8
        result = await backend.send(name, [SendEntry(big), SendEntry(big + "x")])
        assert [r.id for r in result.successful] == ["0"]
        (message,) = await self.receive_all(backend, name, 1)
        assert message.body == big

    async def test_sent_batch_is_received_in_order_standard(self, backend: Backend) -> None:
        """SQS-R-1, ESM-B-1: a receive returns up to max_messages; more than 10 in one call works."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, *[f"m{i}" for i in range(25)])
        got = await backend.receive(name, max_messages=25, wait_seconds=0)
        assert 1 <= len(got) <= 25
        got += await self.receive_all(backend, name, 25 - len(got))
        assert sorted(bodies(got)) == sorted(f"m{i}" for i in range(25))
        assert len({m.message_id for m in got}) == 25

    # == receive and visibility =================================================================

    async def test_received_message_attributes(self, backend: Backend) -> None:
        """SQS-R-2, EVT-4: system attributes are strings; count 1 and first-receive time on first receive."""
        name = await self.make_queue(backend)
        before = int(time.time() * 1000) - 5000
        await backend.send(name, [SendEntry("a", trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")])
        (message,) = await self.receive_all(backend, name, 1)
        attrs = message.attributes
        assert all(isinstance(v, str) for v in attrs.values())
        assert attrs["ApproximateReceiveCount"] == "1" and message.receive_count == 1
        sent = int(attrs["SentTimestamp"])
        first = int(attrs["ApproximateFirstReceiveTimestamp"])
        assert before <= sent <= first
        assert attrs["SenderId"]
        assert attrs["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
        assert "SequenceNumber" not in attrs and "MessageGroupId" not in attrs
        assert message.message_attributes == {}

    async def test_standard_queue_keeps_a_message_group_id(self, backend: Backend) -> None:
        """EVT-4 (fair queues): a standard queue's message sent with a MessageGroupId is received
        with it, in Lambda's attribute order, and one sent without has none; no FIFO fields."""
        name = await self.make_queue(backend)
        await backend.send(name, [SendEntry("tenant", message_group_id="tenant-1"), SendEntry("none")])
        by_body = {m.body: m for m in await self.receive_all(backend, name, 2)}
        attrs = by_body["tenant"].attributes
        assert attrs["MessageGroupId"] == "tenant-1"
        assert list(attrs) == [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "MessageGroupId",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ]
        assert "MessageGroupId" not in by_body["none"].attributes

    async def test_visibility_timeout_hides_then_message_reappears(self, backend: Backend) -> None:
        """SQS-V-1, SQS-R-2, ESM-F-2, EVT-8: hidden for the timeout, then back: count 2, a new handle."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=unit)
        await self.send_bodies(backend, name, "a")
        start = time.monotonic()
        (first,) = await backend.receive(name, wait_seconds=0)
        assert await backend.receive(name, wait_seconds=0) == []  # hidden now
        (second,) = await backend.receive(name, wait_seconds=unit * 6)
        elapsed = time.monotonic() - start
        assert elapsed >= unit * 0.95, "the message came back before its visibility timeout"
        assert elapsed < unit * 6, "a long poll did not wake when the message became visible"
        assert second.message_id == first.message_id
        assert second.receive_count == 2
        assert second.receipt_handle != first.receipt_handle
        assert (
            second.attributes["ApproximateFirstReceiveTimestamp"]
            == first.attributes["ApproximateFirstReceiveTimestamp"]
        )
        assert second.attributes["SentTimestamp"] == first.attributes["SentTimestamp"]

    async def test_receive_visibility_timeout_override(self, backend: Backend) -> None:
        """SQS-R-1: a receive's VisibilityTimeout overrides the queue's for that receive only."""
        unit = self.timing_unit
        name = await self.make_queue(backend, visibility_timeout=600)
        await self.send_bodies(backend, name, "a")
        (first,) = await backend.receive(name, wait_seconds=0, visibility_timeout=unit)
        (again,) = await backend.receive(name, wait_seconds=unit * 6)
        assert again.message_id == first.message_id and again.receive_count == 2
        assert await backend.receive(name, wait_seconds=unit * 2) == [], "queue timeout (600 s) applies again"

    async def test_receive_refuses_a_bad_max_messages_and_takes_nothing(self, backend: Backend) -> None:
        """SQS-R-1: MaxNumberOfMessages is a whole number of at least 1; anything else is
        InvalidParameterValue, and the call takes nothing (no message is hidden by it)."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, "a")
        for bad in (0, -1, True, 1.5, "2"):
            with pytest.raises(InvalidParameterValue, match="MaxNumberOfMessages"):
                await backend.receive(name, max_messages=bad, wait_seconds=0)  # type: ignore[arg-type]
        (message,) = await backend.receive(name, wait_seconds=0)
        assert message.body == "a" and message.receive_count == 1

    async def test_long_poll_returns_as_soon_as_a_message_is_sent(self, backend: Backend) -> None:
        """SQS-R-1: a long poll on an empty queue returns when a message arrives, not at the end."""
        name = await self.make_queue(backend)

        async def send_later() -> None:
            await asyncio.sleep(0.2)
            await self.send_bodies(backend, name, "late")

        sender = asyncio.create_task(send_later())
        start = time.monotonic()
        got = await backend.receive(name, max_messages=10, wait_seconds=10)
        elapsed = time.monotonic() - start
        await sender
        assert bodies(got) == ["late"]
        assert elapsed < 5, f"long poll held {elapsed:.2f}s after a message was available"

    async def test_long_poll_times_out_empty(self, backend: Backend) -> None:
        """SQS-R-1: with nothing to receive, the long poll waits its time and returns nothing."""
        name = await self.make_queue(backend)
        wait = self.timing_unit
        start = time.monotonic()
        assert await backend.receive(name, max_messages=10, wait_seconds=wait) == []
        assert time.monotonic() - start >= wait * 0.9

    async def test_short_poll_returns_immediately(self, backend: Backend) -> None:
        """SQS-R-1: WaitTimeSeconds=0 does not wait."""
        name = await self.make_queue(backend)
        start = time.monotonic()
        assert await backend.receive(name, max_messages=10, wait_seconds=0) == []
        assert time.monotonic() - start < 2

    async def test_queue_default_wait_time(self, backend: Backend) -> None:
        """SQS-R-1: without wait_seconds the queue's ReceiveMessageWaitTimeSeconds applies."""
        name = await self.make_queue(backend, receive_wait_time_seconds=1)
        start = time.monotonic()
        assert await backend.receive(name, max_messages=1) == []
        assert time.monotonic() - start >= 0.9

    async def test_per_message_delay(self, backend: Backend) -> None:
        """SQS-L-2: a delayed message is counted as delayed and not returned before its delay ends."""
        name = await self.make_queue(backend)
        await backend.send(name, [SendEntry("delayed", delay_seconds=1), SendEntry("now")])
        start = time.monotonic()
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=0)) == ["now"]
        assert (await backend.get_queue(name)).counts.delayed == 1
        got = await backend.receive(name, max_messages=10, wait_seconds=5)
        assert bodies(got) == ["delayed"]
        assert time.monotonic() - start >= 0.9

    async def test_queue_delay_applies_by_default(self, backend: Backend) -> None:
        """SQS-L-2: the queue's DelaySeconds applies when the message gives none; 0 overrides it."""
        name = await self.make_queue(backend, delay_seconds=1)
        await backend.send(name, [SendEntry("queue-delay"), SendEntry("no-delay", delay_seconds=0)])
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=0)) == ["no-delay"]
        assert bodies(await backend.receive(name, max_messages=10, wait_seconds=5)) == ["queue-delay"]

    async def test_max_messages_is_respected(self, backend: Backend) -> None:
        """SQS-R-1: never more than max_messages."""
        name = await self.make_queue(backend)
        await self.send_bodies(backend, name, *"abcdef")
        got = await backend.receive(name, max_messages=4, wait_seconds=0)
        assert 1 <= len(got) <= 4

"""Queue administration on SQS: CreateQueue (compared with an existing queue first),
SetQueueAttributes, tags, GetQueueAttributes, ListQueues, PurgeQueue, DeleteQueue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qworker import limits
from qworker.backend import QueueSpec
from qworker.errors import QueueDoesNotExist, QueueNameExists
from qworker_sqs import convert
from qworker_sqs.client import SQSClient, dead_letter_target
from qworker_sqs.queues import QueueRef, name_from_url


async def create_queue(client: SQSClient, spec: QueueSpec, tags: Mapping[str, str] | None = None) -> None:
    """CreateQueue with every attribute given; see :meth:`qworker.backend.Backend.create_queue`.

    The dead-letter queue must exist, and an existing queue is compared with the spec first
    (:func:`~qworker_sqs.convert.same_attributes`), so a queue created with different
    attributes is :class:`~qworker.errors.QueueNameExists` even where SQS would only compare
    the attributes sent, and its tags are left alone (CreateQueue's ``tags`` are sent only
    when the queue is made). Fractional seconds are rounded up (SQS stores whole seconds).
    """
    limits.validate_queue_spec(spec)
    initial = limits.check_tags(tags or {})
    target_arn = await dead_letter_target(client, spec)
    wanted = convert.normalized_spec(spec)
    try:
        existing = await get_queue(client, spec.name)
    except QueueDoesNotExist:
        existing = None
    if existing is not None:
        if not convert.same_attributes(existing.spec, wanted):
            raise QueueNameExists(
                f"A queue named {spec.name!r} already exists with different attributes "
                f"(it has {existing.spec}, asked for {wanted})."
            )
        return
    params: dict[str, Any] = {
        "QueueName": spec.name,
        "Attributes": convert.queue_attributes(spec, target_arn),
    }
    if initial:
        params["tags"] = initial
    response = await client.call("CreateQueue", spec.name, **params)
    ref = QueueRef(spec.name, response["QueueUrl"])
    client.refs[spec.name] = ref
    await client.load(ref, spec.name)


async def set_queue_attributes(client: SQSClient, queue: str, spec: QueueSpec) -> None:
    """SetQueueAttributes with every attribute of ``spec`` (``RedrivePolicy`` ``""`` removes
    one; an extra attribute the queue has and the spec does not goes back to SQS's default:
    ``""`` for ``Policy``, ``RedriveAllowPolicy`` and ``KmsMasterKeyId``); ``queue`` may be a
    name or a URL (``spec.name`` is its name).

    SQS itself takes up to 60 s to apply a change everywhere (15 minutes for
    MessageRetentionPeriod), and other SQSBackend objects validate sends against attributes
    they cached for up to a minute: an entry their copy refuses is checked again against
    fresh attributes before it is reported failed, and one it allows is refused by SQS.
    """
    ref = await client.ref(queue)
    limits.check_spec_change(ref.name, spec)
    attrs = convert.queue_attributes(spec, await dead_letter_target(client, spec))
    attrs.pop("FifoQueue", None)  # set at creation only
    if spec.redrive_policy is None:
        attrs["RedrivePolicy"] = ""
    current = await client.load(ref, queue)
    for name, default in (
        ("Policy", ""),
        ("RedriveAllowPolicy", ""),
        ("KmsMasterKeyId", ""),
        ("KmsDataKeyReusePeriodSeconds", "300"),
        # SSE-SQS is SQS's default, but not with a KMS key (one encryption per queue)
        ("SqsManagedSseEnabled", "false" if "KmsMasterKeyId" in attrs else "true"),
    ):
        if name not in attrs and current.get(name, default) != default:
            attrs[name] = default
    await client.call("SetQueueAttributes", queue, QueueUrl=ref.url, Attributes=attrs)
    await client.load(ref, queue)


async def tag_queue(client: SQSClient, queue: str, tags: Mapping[str, str]) -> None:
    """TagQueue; the 50-tag limit is checked against the queue's tags first (ListQueueTags)."""
    limits.check_tags(tags)
    if not tags:
        return
    limits.check_tags(tags, await queue_tags(client, queue))
    ref = await client.ref(queue)
    await client.call("TagQueue", queue, QueueUrl=ref.url, Tags=dict(tags))


async def untag_queue(client: SQSClient, queue: str, keys: Sequence[str]) -> None:
    doomed = limits.check_tag_keys(keys)
    ref = await client.ref(queue)
    if doomed:
        await client.call("UntagQueue", queue, QueueUrl=ref.url, TagKeys=doomed)
    else:  # SQS wants at least one key; an empty untag still says whether the queue exists
        await client.call("ListQueueTags", queue, QueueUrl=ref.url)


async def queue_tags(client: SQSClient, queue: str) -> dict[str, str]:
    ref = await client.ref(queue)
    response = await client.call("ListQueueTags", queue, QueueUrl=ref.url)
    return {str(key): str(value) for key, value in (response.get("Tags") or {}).items()}


async def get_queue(client: SQSClient, queue: str) -> convert.SQSQueueInfo:
    """GetQueueAttributes(All): the spec, approximate counts and the real ARN."""
    ref = await client.ref(queue)
    attrs = await client.load(ref, queue)
    return convert.queue_info(ref.name, attrs)


async def list_queues(client: SQSClient, prefix: str = "") -> list[str]:
    """ListQueues, every page; names sorted."""
    names: list[str] = []
    params: dict[str, Any] = {"MaxResults": 1000}
    if prefix:
        params["QueueNamePrefix"] = prefix
    while True:
        response = await client.call("ListQueues", None, **params)
        names.extend(name_from_url(url) for url in response.get("QueueUrls", []))
        token = response.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    return sorted(names)


async def purge_queue(client: SQSClient, queue: str) -> None:
    """PurgeQueue. SQS allows one purge per queue every 60 seconds
    (:class:`~qworker.errors.PurgeQueueInProgress`)."""
    ref = await client.ref(queue)
    await client.call("PurgeQueue", queue, QueueUrl=ref.url)


async def delete_queue(client: SQSClient, queue: str) -> None:
    """DeleteQueue. (On AWS the name can be reused only 60 seconds later.)"""
    ref = await client.ref(queue)
    await client.call("DeleteQueue", queue, QueueUrl=ref.url)
    client.forget(queue)

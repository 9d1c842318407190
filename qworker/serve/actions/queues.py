"""Queue actions: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes,
PurgeQueue, ListDeadLetterSourceQueues.

Each action takes the :class:`~qworker.serve.service.Service` and the :class:`~qworker.serve.call.Call`
and returns the result shape of the JSON protocol (``None`` for actions without one).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from qworker.backend import QueueInfo
from qworker.errors import QueueDoesNotExist, QueueNameExists
from qworker.serve import attributes
from qworker.serve.call import Call
from qworker.serve.errors import SQSError, invalid_parameter, invalid_value
from qworker.serve.service import Service

MAX_RESULTS = 1000  #: ListQueues and ListDeadLetterSourceQueues return at most this many a page


async def create_queue(svc: Service, call: Call) -> dict[str, Any]:
    name = call.required_string("QueueName")
    attrs = call.mapping("Attributes")
    tags = _tags(call.mapping("tags"))
    if attrs.get("Policy") == "":
        attrs = {k: v for k, v in attrs.items() if k != "Policy"}
    spec = attributes.new_queue(name, attrs)
    try:
        info: QueueInfo | None = await svc.get_queue(name)
    except QueueDoesNotExist:
        info = None
    if info is not None:
        _check_same(info, attrs)
    else:
        try:
            await svc.create_queue(spec, tags)
        except QueueNameExists:  # created meanwhile by another request: compare with that one
            _check_same(await svc.get_queue(name), attrs)
    return {"QueueUrl": call.queue_url(name)}


def _check_same(info: QueueInfo, attrs: dict[str, Any]) -> None:
    """CreateQueue of an existing queue succeeds when every given attribute has its value."""
    for key, value in attrs.items():
        if key in ("FifoQueue", "FifoThroughputLimit"):
            continue
        if attributes.changed_queue(info.spec, {key: value}) != info.spec:
            raise SQSError(
                "QueueNameExists",
                f"A queue already exists with the same name and a different value for attribute {key}",
            )


def _tags(tags: dict[str, Any]) -> dict[str, str]:
    for key, value in tags.items():
        if not isinstance(value, str) or not key:
            raise invalid_parameter(f"Tag {key!r} must have a string value.")
    return tags


async def get_queue_url(svc: Service, call: Call) -> dict[str, Any]:
    name = call.required_string("QueueName")
    owner = call.string("QueueOwnerAWSAccountId")
    if owner is not None and owner != call.account:
        raise call.does_not_exist()
    await svc.get_queue(name)
    return {"QueueUrl": call.queue_url(name)}


def _page(names: list[str], call: Call) -> tuple[list[str], str | None]:
    """One page of sorted names after ``NextToken``, at most ``MaxResults`` (1..1000)."""
    limit = call.integer("MaxResults")
    if limit is not None and not 1 <= limit <= MAX_RESULTS:
        raise invalid_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
    token = call.string("NextToken")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, ValueError):
            raise invalid_parameter("Invalid NextToken value.") from None
        names = [name for name in names if name > after]
    size = limit or MAX_RESULTS
    page = names[:size]
    more = limit is not None and len(names) > size
    return page, (base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None)


async def list_queues(svc: Service, call: Call) -> dict[str, Any]:
    prefix = call.string("QueueNamePrefix") or ""
    names = sorted(await svc.backend.list_queues(prefix))
    page, token = _page(names, call)
    result: dict[str, Any] = {}
    if page:
        result["QueueUrls"] = [call.queue_url(name) for name in page]
    if token:
        result["NextToken"] = token
    return result


async def delete_queue(svc: Service, call: Call) -> None:
    await svc.delete_queue(call.queue_name())


async def get_queue_attributes(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    names = call.strings("AttributeNames")
    info = await svc.get_queue(name)
    if not names:
        return {}
    selected = attributes.selected(info, names)
    return {"Attributes": selected} if selected else {}


async def set_queue_attributes(svc: Service, call: Call) -> None:
    name = call.queue_name()
    attrs = call.mapping("Attributes")
    info = await svc.get_queue(name)
    if not attrs:
        return
    spec = attributes.changed_queue(info.spec, attrs)
    policy = spec.redrive_policy
    if policy is not None and policy != info.spec.redrive_policy:
        await _check_dead_letter_queue(svc, spec.fifo, policy.dead_letter_queue, attrs["RedrivePolicy"])
    if spec != info.spec:
        await svc.set_queue_attributes(name, spec)


async def _check_dead_letter_queue(svc: Service, fifo: bool, dlq: str, text: str) -> None:
    try:
        target = await svc.get_queue(dlq)
    except QueueDoesNotExist:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
        ) from None
    if target.spec.fifo != fifo:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter target owner queue "
            "and source queue must both be FIFO or standard queues."
        )


async def purge_queue(svc: Service, call: Call) -> None:
    await svc.purge_queue(call.queue_name())


async def list_dead_letter_source_queues(svc: Service, call: Call) -> dict[str, Any]:
    name = call.queue_name()
    await svc.get_queue(name)
    sources = []
    for other in sorted(await svc.backend.list_queues("")):
        try:
            info = await svc.get_queue(other)
        except QueueDoesNotExist:
            continue
        policy = info.spec.redrive_policy
        if policy is not None and policy.dead_letter_queue == name:
            sources.append(other)
    page, token = _page(sources, call)
    result: dict[str, Any] = {"queueUrls": [call.queue_url(source) for source in page]}
    if token:
        result["NextToken"] = token
    return result


async def tag_queue(svc: Service, call: Call) -> None:
    name = call.queue_name()
    tags = _tags(call.mapping("Tags"))
    await svc.backend.tag_queue(name, tags)


async def untag_queue(svc: Service, call: Call) -> None:
    name = call.queue_name()
    await svc.backend.untag_queue(name, call.strings("TagKeys"))


async def list_queue_tags(svc: Service, call: Call) -> dict[str, Any]:
    tags = await svc.backend.queue_tags(call.queue_name())
    return {"Tags": tags} if tags else {}

"""One API call as the actions see it: the action's parameters, whichever protocol carried them,
and what the request says about where it was sent (to build queue URLs and name the queue).

The typed getters raise SQS's errors for a parameter of the wrong type, so an action can trust
what it reads; JSON clients that skip their SDK's validation get a 400, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qworker import arn
from qworker.serve.errors import SQSError, invalid_value, missing_parameter, queue_does_not_exist

#: ``isinstance(v, dict)`` and ``isinstance(v, str)`` as one-argument functions, for ``map``
_is_dict = dict.__instancecheck__
_is_str = str.__instancecheck__


@dataclass(slots=True)
class Call:
    action: str
    params: dict[str, Any]
    #: True for the query protocol (form in, XML out), False for AWS JSON 1.0
    query: bool
    #: ``scheme://host[:port]`` the client used (the Host header), the base of queue URLs
    base_url: str
    #: the request path, which may name the queue (``/ACCOUNT/QUEUE``)
    path: str = "/"
    #: the verified access key id, when the server checks signatures
    access_key: str | None = None
    #: the account in queue URLs and ARNs (``QWORKER_ACCOUNT_ID``), read once per server
    account: str = arn.DEFAULT_ACCOUNT_ID
    #: the request's ``X-Amzn-Trace-Id`` header: SQS gives it to the messages sent as their
    #: ``AWSTraceHeader`` unless they carry one themselves
    trace: str | None = None

    # -- typed parameters -----------------------------------------------------------------------

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None:
            if required:
                raise missing_parameter(name)
            return None
        if not isinstance(value, str):
            raise invalid_value(name, value, "must be a string.")
        return value

    def required_string(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_value(name, value, "must be an integer.")
        return value

    def strings(self, name: str) -> list[str]:
        value = self.params.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(map(_is_str, value)):
            raise invalid_value(name, value, "must be a list of strings.")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.params.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid_value(name, value, "must be a map.")
        return value

    def entries(self, name: str = "Entries") -> list[dict[str, Any]]:
        value = self.params.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(map(_is_dict, value)):
            raise invalid_value(name, value, "must be a list of entries.")
        return value

    # -- queues ---------------------------------------------------------------------------------

    def queue_url(self, name: str) -> str:
        """The URL of queue ``name`` as this client reaches the server."""
        return f"{self.base_url}/{self.account}/{name}"

    def queue_name(self) -> str:
        """The queue the call is about: ``QueueUrl`` from the parameters, else the request path.

        A URL names its queue by its last path segment; its account must be this server's
        (another account's queue does not exist here). A bare name is accepted too.
        """
        url = self.params.get("QueueUrl")
        if url is None:
            url = self.path if self.path.count("/") == 2 else None
            if url is None:
                raise missing_parameter("QueueUrl")
        if not isinstance(url, str):
            raise invalid_value("QueueUrl", url, "must be a queue URL.")
        if not url:
            raise missing_parameter("QueueUrl")
        name = _names.get((url, self.account))
        if name is None:
            name = name_from_url(url, self.query, self.account)  # raises for another account's
            if len(_names) >= _MAX_NAMES:
                _names.clear()
            _names[(url, self.account)] = name
        return name

    def does_not_exist(self) -> SQSError:
        return queue_does_not_exist(self.query)


#: queue names by (queue URL, account): a client sends the same few URLs again and again
_names: dict[tuple[str, str], str] = {}
_MAX_NAMES = 1024


def name_from_url(url: str, query: bool, account: str) -> str:
    """The queue name of a queue URL (``http://host/ACCOUNT/NAME``, ``/ACCOUNT/NAME`` or ``NAME``)."""
    if "://" in url:
        _, _, rest = url.partition("://")
        _, slash, path = rest.partition("/")
        path = slash + path
    else:
        path = url if url.startswith("/") else "/" + url
    segments = [s for s in path.split("/") if s]
    if len(segments) == 1:
        return segments[0]
    if len(segments) == 2 and segments[0] == account:
        return segments[1]
    raise queue_does_not_exist(query)

"""No-op Python handlers (in process, and through awslambdaric) for bench_runtime_api.py."""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    return None


async def async_handler(event: dict[str, Any], context: Any) -> None:
    return None

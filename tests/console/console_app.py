"""A handler for the console's browser tests: fails while a flag file exists (so messages reach
the dead-letter queue with a traceback), else writes each body to a ledger file."""

from __future__ import annotations

import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    bodies = [record["body"] for record in event["Records"]]
    if os.path.exists(os.environ["CONSOLE_TEST_FAIL_FLAG"]):
        raise ValueError(f"payment service said no to {bodies[0][:30]!r}")
    with open(os.environ["CONSOLE_TEST_LEDGER"], "a", encoding="utf-8") as ledger:
        for body in bodies:
            ledger.write(body + "\n")

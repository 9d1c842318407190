"""A handler that records when the first record reached it, then ends the process at once.

``bench_startup`` starts ``qworker run`` on a queue holding one message and reads what this
writes to ``$BENCH_FIRST_FILE``: the wall-clock time and the process's CPU seconds (user +
system) at the first record. The file is created exclusively, so a second record cannot
overwrite the first one's figures. The process ends with ``os._exit``: what comes after the first
record is not start-up, and the message's queue is thrown away.
"""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    cpu = os.times()
    with open(os.environ["BENCH_FIRST_FILE"], "x") as out:
        out.write(f"{time.time()} {cpu.user + cpu.system}")
    os._exit(0)

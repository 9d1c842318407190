"""Start-up (issue #17): a worker on a single Redis node never imports redis-py.

``import redis`` runs all of redis-py's package (~90 ms, a third of ``qworker run``'s start-up);
on a single node the backend speaks RESP on its own lanes, so nothing needs it. These tests run
in a fresh interpreter, where ``sys.modules`` shows what was really imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from qworker_redis.testing import RedisServer


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_round_trip_on_a_single_node_imports_no_redis_py(redis_server: RedisServer) -> None:
    out = _run(f"""
        import asyncio, sys
        from qworker.backend import QueueSpec, SendEntry
        from qworker.registry import open_backend

        async def main():
            async with open_backend({redis_server.url!r}) as backend:
                await backend.create_queue(QueueSpec("lazy-q"))
                await backend.send("lazy-q", [SendEntry("hello")])
                (message,) = await backend.receive("lazy-q", wait_seconds=1)
                assert await backend.delete("lazy-q", [message.receipt_handle]) == []
                assert await backend.receive("lazy-q", wait_seconds=0.2) == []  # a long poll too
                print(message.body)

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis.")))
    """)
    assert out.splitlines() == ["hello", "[]"]


def test_the_run_command_imports_nothing_it_does_not_use() -> None:
    """rich, colorama and greenlet (structlog would import them), installed metadata, TOML,
    multiprocessing (the process pool's), decimal and ctypes.util (ldconfig in a subprocess, for
    inotify) are not needed to start a worker: importing them cost ~100 ms of start-up together."""
    out = _run("""
        import sys
        import qworker.cli
        qworker.cli.cli.get_command(None, "run")
        import qworker.runtime.worker, qworker_redis.backend, qworker_sqlite
        from qworker.registry import backend_class
        backend_class("redis"), backend_class("sqlite")
        heavy = ("redis", "rich", "colorama", "greenlet", "pygments", "importlib.metadata", "tomllib",
                 "multiprocessing", "decimal", "ctypes.util")
        print([name for name in heavy if name in sys.modules])
        import rich  # still importable afterwards (the CLI's progress bars)
    """)
    assert out == "[]"

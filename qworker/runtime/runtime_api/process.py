"""Runtime processes: started in a process group of their own, killed as a group, never orphaned.

* Each runtime process leads a new session (``setsid``), so a timeout kills it *and* what it
  started (a shell ``bootstrap`` and its ``curl``) with one ``killpg``.
* On Linux the child asks the kernel for ``SIGKILL`` when the worker dies
  (``prctl(PR_SET_PDEATHSIG)``, through ctypes in a ``preexec_fn``): even a ``kill -9`` of the
  worker takes its runtime processes with it. Grandchildren are not covered by the parent-death
  signal; they lose their Runtime API connection with the worker and, for the usual runtime
  loops, end there.
* Every group still alive at interpreter exit is killed (:func:`_kill_all_at_exit`), for exits
  that skip the invoker's ``close()``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

#: the process groups of live runtime processes (their leaders' pids)
_GROUPS: set[int] = set()

_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that sets ``PR_SET_PDEATHSIG`` (Linux), or ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the worker died before prctl took effect
            os._exit(1)

    return preexec


async def spawn(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """Start a runtime process in its own session, output piped, no stdin."""
    preexec = _parent_death_signal()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec,
    )
    _GROUPS.add(process.pid)
    return process


def kill_group(process: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal the process's whole group (it leads it); quiet when it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:
        _GROUPS.discard(process.pid)


async def stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the group, SIGKILL it after ``grace`` seconds, and reap the process."""
    if process.returncode is None and grace > 0:
        kill_group(process, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
    kill_group(process)  # the leader may be gone while others of its group are not
    await process.wait()


def forget(pid: int) -> None:
    """The group needs no killing at exit any more."""
    _GROUPS.discard(pid)


@atexit.register
def _kill_all_at_exit() -> None:
    for pid in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _GROUPS.clear()

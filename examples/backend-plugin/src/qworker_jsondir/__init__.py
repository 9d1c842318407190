"""qworker-jsondir: a third-party qworker backend, ``jsondir://PATH``, one JSON file per queue.

An example of a backend plugin: it registers its URL scheme under the ``qworker.backends``
entry-point group (see ``pyproject.toml``), so ``qworker run ... --backend jsondir:///tmp/q``
finds it, and it proves its SQS semantics with qworker's conformance suite
(``tests/test_jsondir_conformance.py``). The walk-through is qworker's
``docs/writing-a-backend.md``.
"""

from __future__ import annotations

from qworker_jsondir.backend import JsonDirBackend

__all__ = ["JsonDirBackend"]

"""The house rules a reader relies on: no module of qworker's own code over 500 lines and no
function over 60 (from its ``def`` line to its last line, docstring included), in ``qworker/``
and every ``backends/*/src`` package. Read with :mod:`ast`; nothing is imported.

A module or function that grows past these is a place to split by what it does, not a limit
to raise: the failure names each offender with its size.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def source_files() -> list[Path]:
    roots = [REPO / "qworker", *sorted((REPO / "backends").glob("*/src"))]
    return sorted(path for root in roots for path in root.rglob("*.py"))


def oversized(path: Path, root: Path = REPO) -> list[str]:
    """Every limit ``path`` breaks, as readable lines (paths shown relative to ``root``)."""
    text = path.read_text()
    where = path.relative_to(root)
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{where}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{where}:{node.lineno} {node.name}(): {length} lines (at most {MAX_FUNCTION_LINES})"
                )
    return found


def test_the_rules_see_the_code() -> None:
    """The walk finds the packages (an empty walk would pass anything)."""
    names = {path.relative_to(REPO).as_posix() for path in source_files()}
    assert "qworker/backend.py" in names
    assert any(name.startswith("backends/redis/src/qworker_redis/") for name in names)
    assert any(name.startswith("backends/sqlite/src/qworker_sqlite/") for name in names)


def test_the_rules_catch_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def long():\n{body}\n")
    assert oversized(sample, tmp_path) == [f"sample.py:1 long(): {MAX_FUNCTION_LINES + 1} lines (at most 60)"]
    sample.write_text("def short():\n    return 1\n" + "\n" * MAX_MODULE_LINES)
    assert oversized(sample, tmp_path) == [f"sample.py: {MAX_MODULE_LINES + 2} lines (at most 500)"]


def test_no_module_over_500_lines_and_no_function_over_60() -> None:
    offenders = [line for path in source_files() for line in oversized(path)]
    assert not offenders, "split these by what they do:\n" + "\n".join(offenders)

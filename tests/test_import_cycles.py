"""No import cycles in qworker's own code: ``qworker/`` and every ``backends/*/src`` package.

The graph is read from the sources with :mod:`ast` (nothing is imported): an edge for every
``import``/``from ... import`` of a first-party module, wherever it stands: at module level,
inside a function (a deferred import still ties the two modules together) and under
``if TYPE_CHECKING:`` (a type-only import is a cycle a reader has to untangle all the same).
``from package import name`` counts as an import of ``package.name`` when that is a module, else
of ``package``. A cycle fails the test with its modules in order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_roots() -> list[Path]:
    """The folders that hold first-party top-level packages."""
    return [REPO, *sorted((REPO / "backends").glob("*/src"))]


def first_party_modules() -> dict[str, Path]:
    """Module name -> source file, for ``qworker`` and every backend package."""
    modules: dict[str, Path] = {}
    for root in package_roots():
        for init in sorted(root.glob("*/__init__.py")):
            package = init.parent
            if root == REPO and package.name != "qworker":
                continue  # the repository root also holds tests/, benchmarks/, examples/
            for path in package.rglob("*.py"):
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                modules[".".join(parts)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            base = module.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        for alias in node.names:
            yield f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target


def import_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (a module importing ``a.b.c`` depends on
    ``a.b.c``; its parents ``a`` and ``a.b`` run first but are not its choice, so not edges)."""
    modules = first_party_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _imported(node, module, is_package, modules):
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), each listed as
    one cycle through its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(component, graph) for component in components]


def _one_cycle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the component's first module back to itself, for the failure message."""
    members = set(component)
    start = component[0]
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph[path[-1]] & members):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return component


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    for package in ("qworker", "qworker_sqlite", "qworker_redis", "qworker_sqs"):
        assert package in graph
    assert "qworker_redis.transport" in graph["qworker_redis.core"]


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)

"""Layers only look down (issue 15): no import cycle between the project's packages, a light config,
and no function in src/ longer than 80 lines.

A function's length is ``end_lineno - lineno + 1`` of its ``def``: docstring and nested functions
included, decorators excluded (a long docstring is still a long function to read).

The import graph is read with `ast` from every module under src/trans3dhead, counting every import
statement: top-level and inside functions (lazy imports).  Imports inside an `if TYPE_CHECKING:` block
are skipped: they never run. A node of the graph is a
top-level subpackage or module of trans3dhead (`trans3dhead.models`, `trans3dhead.config`, ...); the
package's own `__init__` is not a node (it re-exports the public API from everything).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

MAX_FUNCTION_LINES = 80
SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "trans3dhead"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Absolute names of every module imported by `tree`, lazy imports included."""
    found: list[str] = []
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.append(prefix)
            found.extend(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def _layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "trans3dhead" or len(parts) < 2:
        return None
    return parts[1]


def package_graph() -> dict[str, set[str]]:
    """Edges between top-level parts of trans3dhead, from every import in every module."""
    layers = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
              if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        source = _layer(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imports(tree, module, path.name == "__init__.py"):
            target = _layer(name)
            if target is not None and target != source and target in layers:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between trans3dhead packages: " + " -> ".join(cycle)


def test_config_does_not_import_torch():
    code = "import sys, trans3dhead.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1",
                              "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"
def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions in src/ longer than `limit` lines, decorators excluded, docstring included
    (`end_lineno - lineno + 1` of the def)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_longer_than_80_lines():
    assert long_functions() == []

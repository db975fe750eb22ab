"""The import graph of `adopt`: no circles, and `optimize` never reaches up into `curves`.

Every import counts, at module level (``if TYPE_CHECKING:`` blocks too) and
inside functions, read from the source with `ast`: a lazy import hides a
circle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "adopt"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """adopt module -> the adopt modules it imports (a package counts as its __init__)."""
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule pkg.sub
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base
                             for a in node.names)
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_function_level_and_type_checking_imports():
    graph = import_graph()
    assert "adopt.plan.compare" in graph["adopt.plan.plan"]  # module level
    assert "adopt.report" in graph["adopt.plan.plan"]  # inside Plan.to_html
    assert "adopt.optimize.lp" in graph["adopt.optimize.solve"]


def test_no_circles_at_all():
    assert cycles(import_graph()) == []


def test_optimize_never_imports_curves():
    graph = import_graph()
    upward = sorted((a, b) for a, deps in graph.items() if a.startswith("adopt.optimize")
                    for b in deps if b == "adopt.curves" or b.startswith("adopt.curves."))
    assert upward == []

"""The house rules that keep rtbench extensible: methods reach the harness only through SearchContext,
no import cycles between rtbench's modules, no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rtbench"
HARNESS = ("rtbench.hardware", "rtbench.runner", "rtbench.trials", "rtbench.records", "rtbench.config", "rtbench.train")
HARNESS += ("rtbench.datasets", "rtbench.leaderboard", "rtbench.reproduce", "rtbench.runfolder", "rtbench.cli")
DOORS = {"base.py", "context.py"}
"""The method interface itself (``methods/base.py``, ``methods/context.py``) is harness-side; ``__init__`` only lists."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """rtbench modules imported at module level (not inside functions, not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rtbench"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from rtbench.spaces import msnas` imports a module
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("rtbench"))
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


METHOD_MODULES = [p for p in MODULES.values() if p.relative_to(PACKAGE).parts[0] == "methods" and p.name not in DOORS]


@pytest.mark.parametrize("path", METHOD_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_methods_import_no_harness_internals(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    bad = sorted(m for m in imported if m.startswith(HARNESS))
    assert not bad, f"{path.relative_to(PACKAGE)} imports harness internals {bad}: use SearchContext"


def test_no_import_cycles() -> None:
    graph = {name: {m for m in top_level_imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_module_over_400_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in MODULES.values()}
    over = {k: v for k, v in sizes.items() if v > 400}
    assert not over, f"modules over 400 lines (one job each): {over}"

"""No two qcompiler modules import each other, directly or round a longer circle.

Every import counts, function-level ones included: an import moved into a function
hides a circle from Python's loader but not from a reader, and the next refactor
trips over it. Imports under `if TYPE_CHECKING:` never run and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (setup.py's package_dir mapping)
PACKAGE_ROOTS = {"qcompiler": "qcompiler", "passes": "qcompiler.passes", "backends": "qcompiler.backends"}

# A circle that is part of the design, with the reason. Keep it empty unless a circle
# cannot be broken by moving the shared piece to a module both sides can import.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def module_files() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGE_ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import statements anywhere in the tree except TYPE_CHECKING blocks."""
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking_block(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that module `name` (at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> nx.DiGraph:
    files = module_files()
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        graph.add_edges_from((name, target) for target in imported_modules(name, path, set(files)))
    return graph


def import_cycles(graph: nx.DiGraph) -> list[frozenset[str]]:
    """Each group of modules that reach one another through imports."""
    return [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def describe(graph: nx.DiGraph, cycle: frozenset[str]) -> str:
    loop = nx.find_cycle(graph.subgraph(cycle))
    return " -> ".join([a for a, _ in loop] + [loop[0][0]])


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph()


def test_no_import_cycles(graph):
    new = [c for c in import_cycles(graph) if c not in ALLOWED_CYCLES]
    assert not new, "modules importing each other:\n" + "\n".join(describe(graph, c) for c in new)


def test_allowed_cycles_still_exist(graph):
    """An allow-list entry whose circle is gone is stale and must go with it."""
    current = set(import_cycles(graph))
    assert not [c for c in ALLOWED_CYCLES if c not in current]


def test_finds_function_level_and_relative_cycles(tmp_path):
    (tmp_path / "a.py").write_text("from .b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from . import a\n")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"
                                   "import pkg.b\n")
    known = {"pkg.a", "pkg.b", "pkg.c"}
    edges = {name: imported_modules(name, tmp_path / f"{name[4:]}.py", known) for name in known}
    assert edges == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.b"}}
    assert import_cycles(nx.DiGraph([(a, b) for a, targets in edges.items() for b in targets])) == \
        [frozenset({"pkg.a", "pkg.b"})]

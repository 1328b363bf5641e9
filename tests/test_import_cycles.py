"""No import cycles inside the core or any plugin.

Each package's import graph is built from the source with ``ast`` (nothing is imported), over
its own modules only, and must be acyclic.

What counts as an edge: every ``import`` / ``from ... import`` of a module of the same package,
**at module level and inside functions alike**. An import moved into a function still makes the
importing module depend on the imported one; deferring it only changes *when* the dependency
bites, and moving an import into a function is the usual way a cycle gets hidden rather than
removed. Only imports under ``if TYPE_CHECKING:`` are left out: they exist for type checkers and
never run.

``from . import x`` counts as an edge to ``pkg.x`` when ``x`` is a module, else to ``pkg``
(the package's ``__init__``). An import of ``pkg.a.b`` is an edge to ``pkg.a.b`` only (Python
runs ``pkg/a/__init__`` too, but that is the package's own business: an ``__init__`` that
imports its submodules would otherwise be in a cycle with every one of them).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def packages() -> list[Path]:
    found = [ROOT / "core" / "musicconnect", ROOT / "cli" / "musicconnect_cli"]
    for base in (ROOT / "plugins").glob("*"), (ROOT / "examples").glob("*"):
        for d in base:
            found += [p for p in d.glob("musicconnect_*") if (p / "__init__.py").exists()]
    return sorted(p for p in found if (p / "__init__.py").exists())


def module_name(pkg: Path, path: Path) -> str:
    rel = path.relative_to(pkg.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node, except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def graph(pkg: Path) -> dict[str, set[str]]:
    """``{module: {modules of the same package it imports}}``."""
    files = {module_name(pkg, p): p for p in pkg.rglob("*.py") if "migrations" not in p.relative_to(pkg).parts}
    modules = set(files)
    top = pkg.name
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = mod if is_pkg else mod.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = here
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in modules else base)
            for t in targets:
                if t.split(".")[0] != top:
                    continue
                while t and t not in modules:  # an attribute path: the module that holds it
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges[mod].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one cycle
    path through it for the message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on, stack, out = set(), [], []
    counter = [0]

    def visit(v: str) -> None:  # graphs here are small: recursion is fine
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(_path(edges, set(comp)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _path(edges: dict[str, set[str]], comp: set[str]) -> list[str]:
    """One cycle inside a strongly connected component: a → ... → a."""
    start = min(comp)
    prev: dict[str, str] = {}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(edges[v] & comp):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start] + path[::-1][1:] + [start] if len(path) > 1 else [start, start]
            if w not in prev:
                prev[w] = v
                todo.append(w)
    return sorted(comp)


# ---------------------------------------------------------------- the checker checks itself

def test_the_checker_finds_cycles_through_function_level_imports(tmp_path):
    pkg = tmp_path / "musicconnect_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import thing\n")
    (pkg / "c.py").write_text("import musicconnect_demo.a\nfrom typing import TYPE_CHECKING\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .e import E\n")
    (pkg / "e.py").write_text("from musicconnect_demo.d import D\n")
    g = graph(pkg)
    assert g["musicconnect_demo.b"] == {"musicconnect_demo.c"}
    assert g["musicconnect_demo.d"] == set()  # type-checking only
    assert cycles(g) == [["musicconnect_demo.a", "musicconnect_demo.b", "musicconnect_demo.c", "musicconnect_demo.a"]]
    (pkg / "c.py").write_text("")
    assert cycles(graph(pkg)) == []


def test_every_package_is_found():
    names = {p.name for p in packages()}
    assert {"musicconnect", "musicconnect_cli", "musicconnect_billing", "musicconnect_streaming",
            "musicconnect_fanclub"} <= names


@pytest.mark.parametrize("pkg", packages(), ids=lambda p: p.name)
def test_no_import_cycles(pkg):
    found = cycles(graph(pkg))
    assert found == [], "import cycles (split the modules by purpose so dependencies point one way):\n" + "\n".join(
        " -> ".join(c) for c in found)

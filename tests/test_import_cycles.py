"""No import cycle between symkit modules: the graph of imports run at import time is acyclic.

An edge ``a -> b`` means that importing ``a`` imports ``b``: a module-level ``import b`` or
``from b import x`` (``from p import m`` of a submodule ``m`` is an edge to ``p.m``), plus every
package above ``b`` that is not a package above ``a`` (Python imports those first). Imports
inside functions and under ``if TYPE_CHECKING:`` run later, and are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import symkit

ROOT = Path(symkit.__file__).parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the ``symkit`` package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _import_time_statements(body: list[ast.stmt]):
    """Statements that run when the module is imported (not in functions, not type-only)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _import_time_statements(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            children = getattr(node, field, None)
            if isinstance(children, list) and children and isinstance(children[0], ast.AST):
                yield from _import_time_statements(
                    [c for h in children for c in (h.body if isinstance(h, ast.ExceptHandler)
                                                   else [h])])


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """``module -> modules it imports at import time`` within ``symkit`` (see the docstring)."""
    files = module_files() if files is None else files
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _import_time_statements(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        edges = set()
        for target in targets:
            if target not in files:
                continue
            edges |= {t for t in [*_ancestors(target), target]
                      if t != name and t not in _ancestors(name)}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of ``graph``, or ``None`` when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_symkit_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 80
    assert {"symkit._config_keys", "symkit.registry"} <= graph["symkit.config"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_sees_a_cycle_and_parent_packages(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import thing\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n"
        "def f():\n    import pkg.c\nthing = 1\n")
    (pkg / "c.py").write_text("import pkg.sub.b\n")
    files = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.sub": pkg / "sub" /
             "__init__.py", "pkg.sub.b": pkg / "sub" / "b.py", "pkg.c": pkg / "c.py"}
    graph = import_graph(files)
    assert graph["pkg.a"] == {"pkg.sub.b", "pkg.sub"}  # the submodule and its package
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == set()  # function-level and type-only imports are not edges
    assert find_cycle(graph) is None
    (pkg / "sub" / "b.py").write_text("import pkg.c\nthing = 1\n")  # b -> c -> b
    cycle = find_cycle(import_graph(files))  # c imports pkg.sub first, whose b imports c
    assert cycle == ["pkg.sub", "pkg.sub.b", "pkg.c", "pkg.sub"]

"""First-party and contrib plugins import only symkit's public API (docs/plugins/api.md).

Public means: a module with no underscored part in its dotted name, and a name in that
module's ``__all__``. A plugin that reaches into ``symkit.backbones._fields`` would break on
any refactoring of the core; this test names the file, the line and the import.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for folder in ("plugins", "contrib") for p in (ROOT / folder).rglob("*.py")
    if "/build/" not in p.as_posix()
)


def symkit_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for every import of ``symkit`` (``name`` None: a module import)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] == "symkit":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names
                      if alias.name.split(".")[0] == "symkit"]
    return found


def test_plugin_sources_are_found():
    assert any("symkit-pointcloud" in p.as_posix() for p in SOURCES)
    assert any("symkit-vision" in p.as_posix() for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_only_public_names(path):
    bad = []
    for line, module, name in symkit_imports(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if any(part.startswith("_") for part in module.split(".")):
            bad.append(f"{where}: private module {module}")
            continue
        exported = getattr(importlib.import_module(module), "__all__", None)
        if name is not None and exported is not None and name not in exported:
            is_module = importlib.util.find_spec(f"{module}.{name}") is not None
            if not (is_module and not name.startswith("_")):
                bad.append(f"{where}: {module}.{name} is not in {module}.__all__")
    assert not bad, "\n".join(bad)

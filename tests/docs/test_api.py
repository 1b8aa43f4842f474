"""The API reference renders every public module and every name in its ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil
import re

import symkit


def public_modules() -> list[str]:
    """Every importable ``symkit`` module with no underscored part in its dotted name."""
    names = ["symkit"]
    for info in pkgutil.walk_packages(symkit.__path__, "symkit."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def rendered_ids(site) -> set[str]:
    ids: set[str] = set()
    for page in (site / "api").rglob("index.html"):
        ids |= set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))
    return ids


def test_public_modules_are_found():
    modules = public_modules()
    for expected in ("symkit.groups", "symkit.reps", "symkit.symmetrizers", "symkit.testing",
                     "symkit.canonicalizers", "symkit.backbones", "symkit.errors",
                     "symkit.registry"):
        assert expected in modules
    assert not [m for m in modules if "._" in m]


def test_every_public_name_has_a_rendered_entry(built_site):
    ids = rendered_ids(built_site)
    missing = []
    for name in public_modules():
        module = importlib.import_module(name)
        if name not in ids:
            missing.append(f"module {name} (add `::: {name}` to a page under docs/api/)")
        missing += [f"{name}.{export}" for export in getattr(module, "__all__", ())
                    if f"{name}.{export}" not in ids]
    assert not missing, "not in the API reference: " + ", ".join(missing)


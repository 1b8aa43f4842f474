"""Every package docstring names every core part that the package registers (no stale lists)."""

from __future__ import annotations

import importlib

from symkit.plugins import ensure_loaded
from symkit.registry import CATEGORIES, CORE_SCOPE, registry

PACKAGES = ["symkit.groups", "symkit.reps", "symkit.backbones", "symkit.data",
            "symkit.symmetrizers", "symkit.symmetrizers.learned", "symkit.canonicalizers"]


def owner(origin: str) -> str | None:
    """The innermost package of :data:`PACKAGES` that a part's origin lies in."""
    inside = [p for p in PACKAGES if origin.startswith(p + ".")]
    return max(inside, key=len, default=None)


def test_package_docstrings_list_what_they_register():
    ensure_loaded()
    missing = []
    for category in CATEGORIES:
        for entry in registry(category).entries():
            package = owner(entry.origin) if entry.scope == CORE_SCOPE else None
            if package is None or package == "symkit.groups":  # groups: listed by __all__
                continue
            doc = importlib.import_module(package).__doc__ or ""
            if f"``{entry.name}``" not in doc and f"``{entry.name}(" not in doc:
                missing.append(f"{package}: {category} '{entry.name}'")
    assert not missing, "package docstrings do not name: " + ", ".join(missing)


def test_the_check_sees_a_stale_docstring():
    assert owner("symkit.symmetrizers.learned._mds.mds_invariant") == "symkit.symmetrizers.learned"
    assert owner("symkit.symmetrizers._group_averaging.group_averaging") == "symkit.symmetrizers"
    assert owner("symkit.losses.mse") is None

"""The docs-only griffe extensions in ``scripts/griffe_symkit.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("griffe", reason="griffe comes with the docs extra (pip install -e '.[docs]')")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "griffe_symkit", ROOT / "scripts" / "griffe_symkit.py"
)
griffe_symkit = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("griffe_symkit", griffe_symkit)
_spec.loader.exec_module(griffe_symkit)


def test_grouped_params_get_one_entry_each_with_the_shared_text():
    text = ("Average.\n\nArgs:\n    a, b: shared\n        more.\n    c: one.\n\n"
            "Shapes:\n    x, y: (B,)")
    assert griffe_symkit.split_grouped_params(text) == (
        "Average.\n\nArgs:\n    a: shared\n        more.\n    b: shared\n        more.\n"
        "    c: one.\n\nShapes:\n    x, y: (B,)"
    )


def test_grouped_params_leave_continuation_lines_and_other_sections_alone():
    text = ("Args:\n    a: first\n        b, c: not an item, a continuation.\n"
            "Returns:\n    d, e: pair")
    assert griffe_symkit.split_grouped_params(text) == text


def test_grouped_params_keep_types():
    text = "Args:\n    a, b (int): counts."
    expected = "Args:\n    a (int): counts.\n    b (int): counts."
    assert griffe_symkit.split_grouped_params(text) == expected


def test_sphinx_roles_become_inline_code():
    text = "See :class:`Spec` and :meth:`~symkit.spec.Spec.act`.\nExample::\n\n    spec.act(g, x)"
    assert griffe_symkit.markdown_roles(text) == (
        "See `Spec` and `symkit.spec.Spec.act`.\nExample:\n\n    spec.act(g, x)"
    )

"""Test tools for symkit and its plugins: equivariance measurement and conformance checks.

``assert_equivariant`` / ``equivariance_error`` / ``equivariance_report`` measure
``f(g . x)`` against ``g . f(x)``; ``check_rep_homomorphism`` checks a representation;
``check_group_axioms``, ``check_homomorphism`` and ``check_haar_statistics`` check a group;
``conformance_cases`` parametrizes tests over the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

from symkit.testing._equivariance import (
    EquivarianceError,
    FieldError,
    assert_equivariant,
    check_rep_conformance,
    check_rep_homomorphism,
    default_rtol,
    equivariance_error,
    equivariance_report,
    example_input,
    num_nodes,
)

__all__ = [
    "EquivarianceError",
    "FieldError",
    "equivariance_error",
    "assert_equivariant",
    "equivariance_report",
    "default_rtol",
    "check_rep_homomorphism",
    "check_rep_conformance",
    "example_input",
    "num_nodes",
    "conformance_cases",
    "check_group_axioms",
    "check_homomorphism",
    "check_haar_statistics",
]

# Imported on first use: the group checks live in a module written separately, and the
# pytest helpers import pytest.
_LAZY = {
    "check_group_axioms": "symkit.testing._group_axioms",
    "check_homomorphism": "symkit.testing._group_axioms",
    "check_haar_statistics": "symkit.testing._group_axioms",
    "conformance_cases": "symkit.testing.pytest_plugin",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symkit.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

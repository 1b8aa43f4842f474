"""Test tools for symkit and its plugins: equivariance measurement and conformance checks.

``assert_equivariant`` / ``equivariance_error`` / ``equivariance_report`` measure
``f(g . x)`` against ``g . f(x)``; ``check_rep_homomorphism`` checks a representation;
``check_group_axioms``, ``check_homomorphism``, ``check_sample_kinds`` and
``check_haar_statistics`` check a group; ``check_symmetrizer`` checks a symmetrizer around
``FlatMLP`` (a deliberately non-equivariant backbone) on ``example_sample`` inputs, and
``symmetrizer_is_exact`` says which check applies; ``worst_case_error`` searches the element
with the largest error (gradient ascent on the group, or all elements of a finite one);
``conformance_cases`` parametrizes tests
over the registry (see also the pytest plugin's fixtures ``symkit_registry`` and
``symkit_plugin``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EQUIVARIANCE = (
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
)
_GROUP_CHECKS = (
    "check_group_axioms",
    "check_homomorphism",
    "check_sample_kinds",
    "check_haar_statistics",
)
_SYMMETRIZER_CHECKS = ("check_symmetrizer", "symmetrizer_is_exact", "example_sample", "FlatMLP")
_WORST_CASE = ("worst_case_error", "WorstCase")

__all__ = [*_EQUIVARIANCE, "conformance_cases", *_GROUP_CHECKS, *_SYMMETRIZER_CHECKS,
           *_WORST_CASE]

# Everything is imported on first use: pytest imports symkit.testing.pytest_plugin (and so this
# package) in every run, which must not pull in torch; the group checks live in their own module.
_LAZY = {
    **dict.fromkeys(_EQUIVARIANCE, "symkit.testing._equivariance"),
    **dict.fromkeys(_GROUP_CHECKS, "symkit.testing._group_axioms"),
    **dict.fromkeys(_SYMMETRIZER_CHECKS, "symkit.testing._symmetrizers"),
    "conformance_cases": "symkit.testing.pytest_plugin",
    **dict.fromkeys(_WORST_CASE, "symkit.testing._worst_case"),
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symkit.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

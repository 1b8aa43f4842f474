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

The hard-input corpus (``molecules``, ``hard_inputs``: real molecules of every symmetry class,
padded, ragged and empty batches, extreme scales, half precision, a NaN sample) and
``check_hard_inputs`` check the three allowed outcomes per sample (``check_outcomes``: exact,
flagged and equivariant in distribution, or a ``SampleError``) and the forces of an invariant
energy (``check_forces``), around ``NodeMLP`` (a non-equivariant backbone for every layout).

``check_symmetrizer`` and ``check_outcomes`` hold every element that a symmetrizer averages,
for every sample (empty ones included), to be a valid element of its group
(``element_problem``, ``invalid_elements``: finite, orthogonal, a permutation...). Every check
also holds a model's outputs to the layout and dtype of its output spec
(``output_problem``); ``check_backbone`` checks a backbone alone: output layout and dtype, batch
independence, masks and the empty batch.
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
    "output_spread",
)
_GROUP_CHECKS = (
    "check_group_axioms",
    "check_homomorphism",
    "check_sample_kinds",
    "check_haar_statistics",
    "invalid_elements",
)
_SYMMETRIZER_CHECKS = ("check_symmetrizer", "symmetrizer_is_exact", "example_sample", "FlatMLP",
                       "QuarterTurns")
_CORPUS = ("SYMMETRY_CLASSES", "FRAME_OUTCOMES", "Molecule", "HardInput", "molecules",
           "molecule_sample", "padded_batch", "ragged_batch", "remove_sample", "hard_inputs")
_HARD_INPUT_CHECKS = ("check_hard_inputs", "build_symmetrized", "molecule_in_spec",
                      "MOLECULE_OUT_SPECS", "HardInputFailure", "with_nodes")
_OUTCOMES = ("OutcomeReport", "check_outcomes", "element_problem", "exact_rtol",
             "per_sample_error")
_FORCES = ("check_forces", "forces")

_WORST_CASE = ("worst_case_error", "WorstCase")
_OUTPUTS = ("check_backbone", "output_problem")

__all__ = [*_EQUIVARIANCE, "conformance_cases", *_GROUP_CHECKS, *_SYMMETRIZER_CHECKS, *_CORPUS,
           *_HARD_INPUT_CHECKS, *_OUTCOMES, *_FORCES, "NodeMLP",
           *_WORST_CASE, *_OUTPUTS]

# Everything is imported on first use: pytest imports symkit.testing.pytest_plugin (and so this
# package) in every run, which must not pull in torch; the group checks live in their own module.
_LAZY = {
    **dict.fromkeys(_EQUIVARIANCE, "symkit.testing._equivariance"),
    **dict.fromkeys(_GROUP_CHECKS, "symkit.testing._group_axioms"),
    **dict.fromkeys(_SYMMETRIZER_CHECKS, "symkit.testing._symmetrizers"),
    **dict.fromkeys(_CORPUS, "symkit.testing._corpus"),
    **dict.fromkeys(_HARD_INPUT_CHECKS, "symkit.testing._hard_inputs"),
    **dict.fromkeys(_OUTCOMES, "symkit.testing._outcomes"),
    **dict.fromkeys(_FORCES, "symkit.testing._forces"),
    "NodeMLP": "symkit.testing._node_mlp",
    "conformance_cases": "symkit.testing.pytest_plugin",
    **dict.fromkeys(_WORST_CASE, "symkit.testing._worst_case"),
    "check_backbone": "symkit.testing._backbones",
    "output_problem": "symkit.testing._outputs",
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

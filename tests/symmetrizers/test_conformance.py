"""Every registered symmetrizer x every registered group it supports x dtype x output kind."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.testing._symmetrizers import check_symmetrizer, example_sample

from .conftest import in_spec, registered_groups

#: Every core symmetrizer, learned ones included (built untrained; exact kinds checked exactly,
#: sampling kinds by an error that falls with K). ``probabilistic`` is checked in
#: tests/symmetrizers/learned/test_probabilistic.py instead: untrained, its error does not fall
#: reliably with K on every group here (E(2), S_n, C4 in float32; see the closing note).
SYMMETRIZERS = [
    e for e in registry("symmetrizers").entries()
    if e.origin.startswith("symkit.symmetrizers.") and e.name != "probabilistic"
]
CASES = [
    pytest.param(sym.name, gname, group, id=f"{sym.name}-{gname}")
    for sym in SYMMETRIZERS
    for gname, group in registered_groups()
    if getattr(sym.load(), "supports", lambda g: False)(group)
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("name", "gname", "group"), CASES)
def test_symmetrizer_is_equivariant(name, gname, group, dtype, out_spec):
    spec = in_spec()
    sample = example_sample(group, spec, batch=3, generator=torch.Generator().manual_seed(1))
    check_symmetrizer(name, group, spec, out_spec, sample, dtype=dtype)


def test_every_symmetrizer_supports_some_group():
    groups = [g for _, g in registered_groups()]
    assert {e.name for e in SYMMETRIZERS} >= {"group_averaging", "frame_averaging",
                                              "canonicalization"}
    for sym in SYMMETRIZERS:
        assert any(sym.load().supports(g) for g in groups), sym.name

"""Regular representation: a permutation representation with (rho(g) f)(h) = f(g^-1 h)."""

import pytest
import torch

from symkit.registry import registry
from symkit.reps import cayley_table

regular = registry("reps").build("regular")


@pytest.mark.parametrize("name", ["c4", "d4", "trivial"])
def test_regular_is_a_permutation_representation(name):
    group = registry("groups").build(name)
    elems, n = group.elements(), group.order
    basis = torch.eye(n, dtype=torch.float64).expand(n, n, n)  # row b: all delta functions
    mats = regular.act(group, elems, basis)
    assert torch.equal(mats.sum(-1), torch.ones(n, n, dtype=torch.float64))
    assert torch.equal(mats.sum(-2), torch.ones(n, n, dtype=torch.float64))
    assert set(mats.unique().tolist()) <= {0.0, 1.0}


def test_delta_at_identity_moves_to_g():
    group = registry("groups").build("d4")
    elems, n = group.elements(), group.order
    delta_e = torch.zeros(n, n)
    delta_e[:, group.element_index(group.identity(1))] = 1.0
    assert torch.equal(regular.act(group, elems, delta_e), torch.eye(n))


def test_cayley_table_is_cached_per_group():
    group = registry("groups").build("d4")
    assert cayley_table(group) is cayley_table(group)
    assert cayley_table(registry("groups").build("c4")).shape == (4, 4)


def test_regular_broadcasts_and_skips_permutation_factors():
    group = registry("groups").build("product", ["symmetric", "c4"])
    assert regular.supports(group) and regular.feature_shape(group) == (4,)
    g = group.sample(2)
    x = torch.randn(2, 5, 3, 4)
    out = regular.act(group, g, x)  # S5 acts on nodes only through a Field
    torch.testing.assert_close(out, regular.act(group.factors()[1], g[1], x))
    assert not regular.supports(registry("groups").build("so3"))

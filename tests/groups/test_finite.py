"""C_n, D_n and S_n: encodings, products and enumeration as documented."""

from __future__ import annotations

import math

import pytest
import torch

from symkit.groups import Cyclic, Dihedral, Symmetric, Trivial
from symkit.spec import permute_nodes
from symkit.testing._group_axioms import check_group_axioms, check_homomorphism


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_cyclic_and_dihedral_orders(n):
    for group, order in ((Cyclic(n), n), (Dihedral(n), 2 * n)):
        check_group_axioms(group)
        check_homomorphism(group)
        assert group.order == order
        idx = group.element_index(group.elements())
        assert torch.equal(idx, torch.arange(order))


def test_cyclic_matrix_is_rotation():
    m = Cyclic(4).matrix(torch.tensor([1]))
    assert torch.allclose(m[0], torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64))
    assert m.dtype == torch.float64


def test_dihedral_encoding():
    d4 = Dihedral(4)
    s = torch.tensor([[0, 1]])
    r = torch.tensor([[1, 0]])
    assert torch.allclose(d4.matrix(s)[0], torch.diag(torch.tensor([1.0, -1.0])).double())
    # s r = r^-1 s
    assert torch.equal(d4.compose(s, r), torch.tensor([[3, 1]]))
    assert torch.equal(d4.compose(r, s), torch.tensor([[1, 1]]))
    assert torch.equal(d4.inverse(torch.tensor([[1, 0], [1, 1]])), torch.tensor([[3, 0], [1, 1]]))
    refl = d4.sample_kind("reflection", 50, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(torch.linalg.det(d4.matrix(refl)), -torch.ones(50, dtype=torch.float64))


def test_symmetric_composition_matches_node_action():
    s5 = Symmetric(5)
    gen = torch.Generator().manual_seed(0)
    a, b = s5.sample(4, generator=gen), s5.sample(4, generator=gen)
    x = torch.randn(4, 5, 3, generator=gen)
    # act by b, then a == act by a∘b
    assert torch.equal(permute_nodes(permute_nodes(x, b), a), permute_nodes(x, s5.compose(a, b)))
    assert torch.equal(s5.compose(a, b), torch.gather(a, 1, b))
    # node i goes to position p[i]
    assert torch.equal(permute_nodes(x, a)[0, a[0, 2]], x[0, 2])


def test_symmetric_enumeration_and_rank():
    s4 = Symmetric(4)
    el = s4.elements()
    assert el.shape == (24, 4) and s4.order == 24
    assert torch.equal(el[0], torch.arange(4)) and torch.equal(el[-1], torch.tensor([3, 2, 1, 0]))
    assert torch.equal(s4.element_index(el), torch.arange(24))
    big = Symmetric(12)
    assert big.order == math.factorial(12)
    with pytest.raises(TypeError, match="too many"):
        big.elements()
    check_group_axioms(big)
    g = big.sample(3)
    assert ((big.element_index(g) >= 0) & (big.element_index(g) < big.order)).all()


def test_integer_groups_ignore_dtype():
    for group in (Cyclic(4), Dihedral(3), Symmetric(4)):
        g = group.sample(3, dtype=torch.float32)
        assert g.dtype == torch.long
        assert group.identity(2, dtype=torch.float32).dtype == torch.long


def test_trivial():
    t = Trivial()
    assert t.sample(3, dtype=torch.float32).shape == (3, 0)
    assert t.order == 1 and t.matrix(t.sample(2)) is None and t.kinds == ()

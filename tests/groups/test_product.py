"""Direct products: flattening, per-factor kinds, folded action, finite enumeration."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.groups import (
    Cyclic,
    DirectProduct,
    Euclidean,
    Scaling,
    SpecialOrthogonal,
    Symmetric,
    Trivial,
    product,
)
from symkit.registry import registry
from symkit.testing._group_axioms import (
    check_group_axioms,
    check_haar_statistics,
    check_homomorphism,
    check_sample_kinds,
)

DTYPES = [(torch.float64, 1e-12), (torch.float32, 1e-5)]


@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_s5_x_e3(dtype, atol):
    group = registry("groups").build("product", ["symmetric", "e3"])
    assert repr(group) == "S5 x E(3)"
    assert group.kinds == ("permutation", "rotation", "reflection", "translation")
    assert group.dim == 3 and not group.is_finite and group.orthogonal
    for check in (check_group_axioms, check_homomorphism, check_sample_kinds):
        check(group, dtype=dtype, atol=atol)
    check_haar_statistics(group)
    perm, iso = group.sample_kind("permutation", 4)
    assert torch.equal(iso, group.factors()[1].identity(4))
    assert not torch.equal(perm, group.factors()[0].identity(4))
    perm, iso = group.sample_kind("translation", 4)
    assert torch.equal(perm, torch.arange(5).expand(4, -1))
    assert torch.equal(group.matrix((perm, iso)), torch.eye(3, dtype=iso.dtype).expand(4, 3, 3))


@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_so3_x_scaling(dtype, atol):
    group = product([SpecialOrthogonal(3), Scaling(3)])
    assert repr(group) == "SO(3) x Scaling(3)" and not group.orthogonal
    for check in (check_group_axioms, check_homomorphism, check_sample_kinds):
        check(group, dtype=dtype, atol=atol)
    check_haar_statistics(group)
    rot, s = group.sample(6, dtype=dtype)
    assert torch.allclose(group.matrix((rot, s)), s[:, None, None] * rot)


def test_flattening_and_split():
    inner = product(["c4", "trivial"])
    group = DirectProduct([inner, Symmetric(3)])
    assert [repr(f) for f in group.factors()] == ["C4", "Trivial", "S3"]
    g = group.sample(2)
    assert isinstance(g, tuple) and len(g) == 3 and group.split(g) == g


def test_finite_product_enumeration():
    group = product([Cyclic(3), Symmetric(3)])
    assert group.is_finite and group.order == 18
    el = group.elements()
    assert torch.equal(group.element_index(el), torch.arange(18))
    assert torch.equal(el[0], torch.tensor([0] * 6 + [1] * 6 + [2] * 6))  # first factor slowest
    check_group_axioms(group)
    check_haar_statistics(group)


def test_affine_fold():
    group = product([Euclidean(2), Scaling(2)])  # x -> s (R x + t)
    (iso, s) = group.sample(5)
    x = torch.randn(5, 2, dtype=torch.float64)
    by_factors = s[:, None] * ((iso[:, :2, :2] @ x[..., None])[..., 0] + iso[:, :2, 2])
    folded = (group.matrix((iso, s)) @ x[..., None])[..., 0] + group.translation((iso, s))
    assert torch.allclose(by_factors, folded)


def test_mismatched_dimensions():
    group = product(["so2", "so3"])
    assert group.dim is None
    with pytest.raises(TypeError, match="different dimensions"):
        group.matrix(group.sample(1))
    check_group_axioms(group)
    check_homomorphism(group)  # per factor


@pytest.mark.parametrize("bad", [[], Trivial(), "so3", [1.5]])
def test_bad_factors(bad):
    with pytest.raises(ConfigError, match="product"):
        product(bad)

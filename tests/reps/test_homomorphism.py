"""Every registered rep on every registered group it supports is a homomorphism."""

import pytest
import torch

from symkit.registry import registry
from symkit.testing import (
    check_rep_conformance,
    check_rep_homomorphism,
    conformance_cases,
    example_input,
)

PRODUCTS = {
    "S5xE3": ["symmetric", "e3"],
    "S5xO2": ["symmetric", "o2"],
    "S5xD4": ["symmetric", "d4"],
    "C4xT2": ["c4", ("translation", 2)],
}


def _product(factors):
    groups = registry("groups")
    return groups.build("product", [groups.build(*f) if isinstance(f, tuple) else f
                                    for f in factors])


@pytest.mark.parametrize("group_name, rep_name", conformance_cases())
def test_rep_homomorphism(group_name, rep_name):
    group = registry("groups").build(group_name)
    rep = registry("reps").build(rep_name)
    if not rep.is_exact(group):
        pytest.skip(f"{rep!r} resamples on {group!r}; see tests/reps/test_image.py")
    check_rep_conformance(rep, group)


@pytest.mark.parametrize("factors", PRODUCTS.values(), ids=PRODUCTS.keys())
@pytest.mark.parametrize("rep_name", ["scalar", "vector", "point", "pseudovector", "tensor",
                                      "regular", "image"])
def test_rep_homomorphism_on_products(factors, rep_name):
    group = _product(factors)
    rep = registry("reps").build(rep_name)
    if not rep.supports(group):
        pytest.skip(f"{rep!r} does not apply to {group!r}")
    if not rep.is_exact(group):
        pytest.skip(f"{rep!r} resamples on {group!r}")
    check_rep_conformance(rep, group)


@pytest.mark.parametrize("rep_name", ["vector", "point", "pseudovector", "tensor"])
@pytest.mark.parametrize("group_name", ["o3", "e3", "o2", "e2", "d4"])
@pytest.mark.parametrize("kind", ["reflection", "translation"])
def test_reflections_and_translations(rep_name, group_name, kind):
    """Homomorphism with only reflections (or only translations) sampled."""
    group = registry("groups").build(group_name)
    if kind not in group.kinds:
        pytest.skip(f"{group!r} has no {kind}s")
    rep = registry("reps").build(rep_name)
    gen = torch.Generator().manual_seed(1)
    x = example_input(rep, group, n=4, generator=gen)
    g = group.sample_kind(kind, 4, generator=gen)
    h = group.sample_kind(kind, 4, generator=gen)
    lhs = rep.act(group, group.compose(g, h), x)
    rhs = rep.act(group, g, rep.act(group, h, x))
    torch.testing.assert_close(lhs, rhs, rtol=0, atol=1e-12)
    if kind == "reflection" and rep_name == "pseudovector":  # det = -1: opposite to a vector
        vec = registry("reps").build("vector").act(group, g, x)
        torch.testing.assert_close(rep.act(group, g, x), -vec, rtol=0, atol=1e-12)
    moved = rep.act(group, g, x)
    if kind == "translation":
        assert torch.equal(moved, x) != (rep_name == "point")


def test_check_rep_homomorphism_catches_a_broken_rep():
    class Broken(type(registry("reps").build("vector"))):
        def act_factor(self, group, g, x):
            return super().act_factor(group, g, x) + 1.0

    group = registry("groups").build("so3")
    with pytest.raises(AssertionError, match="not a homomorphism"):
        check_rep_homomorphism(Broken(), group, torch.randn(3, 3, dtype=torch.float64))

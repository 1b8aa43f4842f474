"""The sampling checks pass for correct samplers and catch biased ones."""

from __future__ import annotations

import math

import pytest
import torch

from symkit.groups import (
    Cyclic,
    Euclidean,
    Orthogonal,
    SpecialEuclidean,
    SpecialOrthogonal,
    Symmetric,
    haar_orthogonal,
)
from symkit.testing._group_axioms import check_group_axioms, check_haar_statistics


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("cls", [Orthogonal, SpecialOrthogonal, Euclidean, SpecialEuclidean])
def test_every_dimension(cls, d):
    group = cls(d)
    check_group_axioms(group)
    check_haar_statistics(group)


def test_o1_is_plus_minus_one():
    g = Orthogonal(1).sample(1000, generator=torch.Generator().manual_seed(0))
    assert set(g.flatten().tolist()) == {1.0, -1.0}
    assert torch.equal(SpecialOrthogonal(1).sample(5), torch.ones(5, 1, 1, dtype=torch.float64))


@pytest.mark.parametrize("det", [1, -1])
def test_haar_orthogonal_cosets(det):
    q = haar_orthogonal(500, 3, torch.Generator().manual_seed(0), det=det)
    assert torch.allclose(torch.linalg.det(q), torch.full((500,), float(det), dtype=q.dtype))


class _AxisAngleSO3(SpecialOrthogonal):
    """Uniform axis, uniform angle in [0, pi): a classic non-Haar law on SO(3)."""

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        axis = torch.randn(n, 3, generator=generator, dtype=torch.float64)
        axis = axis / axis.norm(dim=1, keepdim=True)
        angle = torch.rand(n, generator=generator, dtype=torch.float64) * math.pi
        k = torch.zeros(n, 3, 3, dtype=torch.float64)
        k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
        k = k - k.transpose(1, 2)
        return torch.linalg.matrix_exp(k * angle[:, None, None]).to(dtype)


class _NoReflectionsO3(Orthogonal):
    """Samples only rotations: the det-sign frequency must catch it."""

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        return self.sample_kind("rotation", n, generator=generator, dtype=dtype)


class _BiasedC4(Cyclic):
    """P(k = 0) = 0.31 instead of 0.25."""

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        k = torch.randint(0, 4, (n,), generator=generator)
        extra = torch.rand(n, generator=generator) < 0.08
        return torch.where(extra, torch.zeros_like(k), k)


class _RotatingS6(Symmetric):
    """Only cyclic shifts: node 0 is still uniform over positions, but not over S_6."""

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        shift = torch.randint(0, self.n, (n, 1), generator=generator)
        return (torch.arange(self.n) + shift) % self.n


class _StickyS9(Symmetric):
    """Node 0 stays put a third of the time (S_9 is too large to enumerate)."""

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        p = super().sample(n, generator=generator)
        stay = torch.rand(n, generator=generator) < 1 / 3
        return torch.where(stay[:, None], torch.arange(self.n).expand(n, -1), p)


@pytest.mark.parametrize(
    ("biased", "fair", "message"),
    [
        (_AxisAngleSO3(3), SpecialOrthogonal(3), "Haar"),
        (_NoReflectionsO3(3), Orthogonal(3), "det -1"),
        (_BiasedC4(4), Cyclic(4), "not uniform"),
        (_RotatingS6(6), Symmetric(6), "element_index is not uniform"),
        (_StickyS9(9), Symmetric(9), "node 0 is not uniform"),
    ],
    ids=["so3-axis-angle", "o3-no-reflections", "c4-biased", "s6-shifts", "s9-sticky"],
)
def test_biased_sampler_fails(biased, fair, message):
    check_group_axioms(biased)  # still valid group elements
    with pytest.raises(AssertionError, match=message):
        check_haar_statistics(biased, n=4000)
    check_haar_statistics(fair, n=4000)  # same seed, unbiased sampler: passes

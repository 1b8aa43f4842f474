"""Which groups group averaging accepts, and element kinds beyond the built-in groups' (boosts)."""

from __future__ import annotations

import pytest
import torch

from symkit.groups import KINDS, Group, c4, e3, o3, product, scaling, so3, symmetric, translation
from symkit.reps import vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import GroupAveraging
from symkit.testing import check_group_axioms, check_sample_kinds, equivariance_report


class Boosts(Group):
    """SO+(1,1): boosts ``[[cosh a, sinh a], [sinh a, cosh a]]`` of the plane ``(t, x)``.

    Non-compact: the rapidity ``a`` is unbounded, so no Haar probability measure exists (it is
    sampled from N(0, 1), a convenient law, not an invariant one). Elements: rapidity ``(n,)``.
    """

    dim = 2
    kinds = ("boost",)
    compact = False

    def identity(self, n, *, dtype=torch.float64, device=None):
        return torch.zeros(n, dtype=dtype, device=device)

    def compose(self, a, b):
        return a + b

    def inverse(self, a):
        return -a

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        return torch.randn(n, generator=generator, dtype=torch.float64).to(dtype=dtype,
                                                                           device=device)

    def sample_kind(self, kind, n, **kwargs):
        if kind != "boost":
            return super().sample_kind(kind, n)
        return self.sample(n, **kwargs)

    def matrix(self, g):
        c, s = torch.cosh(g), torch.sinh(g)
        return torch.stack([torch.stack([c, s], -1), torch.stack([s, c], -1)], -2)


class CompactRotations(Group):
    """SO(2) by angle ``(n,)``, not an ``Orthogonal``: compact by default (no ``compact``)."""

    dim = 2
    kinds = ("rotation",)
    orthogonal = True

    def identity(self, n, *, dtype=torch.float64, device=None):
        return torch.zeros(n, dtype=dtype, device=device)

    def compose(self, a, b):
        return a + b

    def inverse(self, a):
        return -a

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        return (2 * torch.pi * u).to(dtype=dtype, device=device)

    def matrix(self, g):
        c, s = torch.cos(g), torch.sin(g)
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def test_boost_is_a_kind():
    assert "boost" in KINDS
    check_group_axioms(Boosts())
    check_sample_kinds(Boosts())


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (c4(), True), (o3(), True), (so3(), True), (symmetric(4), True),
        (product([symmetric(4), so3()]), True), (CompactRotations(), True),
        (Boosts(), False), (e3(), False), (translation(3), False), (scaling(3), False),
        (product([symmetric(4), Boosts()]), False),
    ],
    ids=repr,
)
def test_supports_finite_or_compact_groups_only(group, expected):
    assert GroupAveraging.supports(group) is expected


def test_rejects_a_non_compact_group():
    with pytest.raises(ValueError, match="compact"):
        GroupAveraging(lambda s: s, Boosts(), Spec({"v": vector()}), Spec({"v": vector()}))


def test_equivariance_report_covers_every_kind_of_the_group():
    """A kind the built-in groups lack (``boost``) is measured like any other."""
    spec_in = Spec({"v": Field(vector(), nodes=True)})
    spec_out = Spec({"total": vector()})
    sample = {"v": torch.randn(3, 4, 2, dtype=torch.float64)}
    gen = torch.Generator().manual_seed(0)
    report = equivariance_report(lambda s: {"total": s["v"].sum(1)}, Boosts(), spec_in, spec_out,
                                 sample, generator=gen)
    assert set(report) == {"boost", "all"}
    assert max(e.relative for e in report.values()) < 1e-12
    bad = equivariance_report(lambda s: {"total": s["v"][:, 0].abs()}, Boosts(), spec_in,
                              spec_out, sample, generator=gen)
    assert bad["boost"].relative > 1e-3


def test_a_non_compact_group_says_which_groups_to_use():
    """E(3) (unbounded translations) has no Haar probability: the error names o3/so3, whose
    averaging centres point fields, so the result is translation-invariant too."""
    from symkit.reps import point

    spec = Spec({"pos": Field(point, nodes=True)})
    with pytest.raises(ValueError, match=r"group_averaging needs a compact group, got E\(3\); "
                                         r"use group o3 or so3 \(point fields are centred first"):
        GroupAveraging(torch.nn.Identity(), e3(), spec, spec)

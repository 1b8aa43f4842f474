"""worst_case_error: finds the bad orientation of a model that is exact everywhere else."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from symkit.groups import Cyclic, Euclidean, Orthogonal, SpecialOrthogonal
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.testing import WorstCase, worst_case_error

IN = Spec({"pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar()})
THETA0 = 2.0  # the one orientation the fragile model mishandles


class Fragile(nn.Module):
    """An invariant (sum of squared radii) plus a sharp bump where the first point's angle is
    near THETA0: exact except near one orientation (a Lorentzian in ``1 - cos``, so the bump
    has a gradient everywhere)."""

    def __init__(self, height: float = 1.0, sharpness: float = 3e4):
        super().__init__()
        self.height, self.sharpness = height, sharpness

    def forward(self, s):
        x = s["pos"] - s["pos"].mean(1, keepdim=True)
        base = (x**2).sum((1, 2))
        angle = torch.atan2(x[:, 0, 1], x[:, 0, 0])
        bump = self.height / (1 + self.sharpness * (1 - torch.cos(angle - THETA0)))
        return {"e": (base + bump * base)[:, None]}


def _sample(seed=0, b=1, n=5, d=2):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(b, n, d, dtype=torch.float64, generator=gen)
    pos = pos - pos.mean(1, keepdim=True)
    return {"pos": pos}


def _first_angle(pos):
    x = pos[0, 0] - pos[0].mean(0)
    return torch.atan2(x[1], x[0]).item()


@pytest.mark.parametrize("group", [SpecialOrthogonal(2), Orthogonal(2), Euclidean(2)],
                         ids=["so2", "o2", "e2"])
def test_gradient_search_beats_random_sampling(group):
    sample = _sample()
    gen = torch.Generator().manual_seed(1)
    found = worst_case_error(Fragile(), group, IN, OUT, sample, restarts=4, steps=60, lr=0.1,
                             n_random=8, generator=gen)
    assert isinstance(found, WorstCase) and found.method == "gradient"
    assert found.error > 0.5, found              # the bump's full height (relative ~ 1)
    assert found.error > 10 * found.random_error, found
    # the element really has that error, measured independently
    g = found.element
    angle = _first_angle(IN.act(group, g, sample)["pos"])
    assert abs(math.remainder(angle - THETA0, 2 * math.pi)) < 0.05


def test_exact_model_has_no_worst_case():
    """A model that is exactly invariant: the search finds nothing above rounding."""
    model = Fragile(height=0.0)
    found = worst_case_error(model, SpecialOrthogonal(3), IN, OUT, _sample(d=3), restarts=2,
                             steps=10, generator=torch.Generator().manual_seed(0))
    assert found.error < 1e-12 and found.random_error < 1e-12


def test_finite_groups_are_searched_exhaustively():
    """On C_64 the bad orientation is one element in 64: random sampling misses it."""
    group = Cyclic(64)
    model = Fragile(sharpness=1e3)
    sample = _sample()
    found = worst_case_error(model, group, IN, OUT, sample, n_random=2,
                             generator=torch.Generator().manual_seed(3))
    assert found.method == "exhaustive" and found.evaluations == 64
    assert found.error > 0.3 and found.error > 5 * found.random_error, found


def test_groups_without_a_chart_fall_back_to_random_search():
    from symkit.groups import Scaling

    found = worst_case_error(Fragile(), Scaling(2), IN, OUT, _sample(), restarts=2, steps=3,
                             generator=torch.Generator().manual_seed(0))
    assert found.method == "random" and found.evaluations == 8


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="restarts"):
        worst_case_error(Fragile(), SpecialOrthogonal(2), IN, OUT, _sample(), restarts=0)


def test_products_climb_the_continuous_factor():
    """S_5 x SO(2): the permutation is each restart's discrete choice, the rotation is climbed."""
    from symkit.groups import DirectProduct, Symmetric

    group = DirectProduct([Symmetric(5), SpecialOrthogonal(2)])

    class Sorted(Fragile):  # permutation invariant: the fragile point is the one furthest out
        def forward(self, s):
            x = s["pos"] - s["pos"].mean(1, keepdim=True)
            far = (x**2).sum(-1).argmax(1)
            first = x[torch.arange(x.shape[0]), far]
            base = (x**2).sum((1, 2))
            angle = torch.atan2(first[:, 1], first[:, 0])
            return {"e": (base * (1 + self.height / (1 + self.sharpness * (
                1 - torch.cos(angle - THETA0)))))[:, None]}

    found = worst_case_error(Sorted(), group, IN, OUT, _sample(), restarts=4, steps=60, lr=0.1,
                             n_random=8, generator=torch.Generator().manual_seed(1))
    assert found.method == "gradient" and isinstance(found.element, tuple)
    assert found.error > 0.5 and found.error > 10 * found.random_error, found


def test_large_finite_groups_are_sampled_not_listed():
    from symkit.groups import Symmetric

    found = worst_case_error(lambda s: {"e": s["pos"][:, :1, 0]}, Symmetric(5), IN, OUT,
                             _sample(), restarts=2, steps=4, max_exhaustive=100,
                             generator=torch.Generator().manual_seed(0))
    assert found.method == "random" and found.evaluations == 10 and found.error > 0


def test_the_search_leaves_the_models_parameter_gradients_alone():
    model = torch.nn.Linear(2, 2, dtype=torch.float64)
    out = Spec({"v": Field(vector(), nodes=True)})
    found = worst_case_error(lambda s: {"v": model(s["pos"])}, SpecialOrthogonal(2), IN, out,
                             _sample(), restarts=1, steps=3,
                             generator=torch.Generator().manual_seed(0))
    assert found.error > 0 and found.evaluations == 4
    assert all(p.grad is None for p in model.parameters())

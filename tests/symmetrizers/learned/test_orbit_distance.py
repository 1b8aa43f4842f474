"""``orbit_distance``: matrices trained toward ``G_eta``, projected (exact) at evaluation."""

from __future__ import annotations

import math

import pytest
import torch

from symkit.registry import registry
from symkit.symmetrizers.learned import orbit_distance, project_to_group
from symkit.testing import HardInput, check_outcomes
from symkit.testing._symmetrizers import FlatMLP

from ..._cases import DTYPE_IDS, DTYPES, OUT_SPECS, group, point_sample, point_spec

LORENTZ = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64)


def boost(rapidity: float, axis: int = 1) -> torch.Tensor:
    """A Lorentz boost along ``axis`` (``Lambda^T eta Lambda = eta``)."""
    m = torch.eye(4, dtype=torch.float64)
    c, s = math.cosh(rapidity), math.sinh(rapidity)
    m[0, 0] = m[axis, axis] = c
    m[0, axis] = m[axis, 0] = s
    return m


def lorentz_rotation(angle: float) -> torch.Tensor:
    m = torch.eye(4, dtype=torch.float64)
    m[1, 1] = m[2, 2] = math.cos(angle)
    m[1, 2], m[2, 1] = -math.sin(angle), math.sin(angle)
    return m


def test_orbit_distance_vanishes_exactly_on_the_group():
    q = group("o3").sample(4, generator=torch.Generator().manual_seed(0))
    assert orbit_distance(q, torch.ones(3, dtype=torch.float64)).max() < 1e-24
    lam = (boost(0.7) @ lorentz_rotation(0.4)).expand(2, 4, 4)
    assert orbit_distance(lam, LORENTZ).max() < 1e-20
    assert orbit_distance(2 * q, torch.ones(3, dtype=torch.float64)).min() > 1


def test_orthogonal_projection_is_equivariant():
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(5, 3, 3, generator=gen, dtype=torch.float64)
    q = group("o3").sample(5, generator=gen)
    p = project_to_group(m)
    assert orbit_distance(p, torch.ones(3, dtype=torch.float64)).max() < 1e-24
    assert torch.allclose(project_to_group(q @ m), q @ p, atol=1e-12)


def test_lorentz_projection_lands_in_the_group_and_is_equivariant():
    """Generalized polar (Newton) projection for eta = diag(1, -1, -1, -1)."""
    gen = torch.Generator().manual_seed(0)
    base = boost(0.5, 1) @ boost(-0.3, 2) @ lorentz_rotation(1.1)
    m = base + 0.05 * torch.randn(3, 4, 4, generator=gen, dtype=torch.float64)
    p = project_to_group(m, LORENTZ)
    assert orbit_distance(p, LORENTZ).max() < 1e-18
    lam = boost(0.9, 3) @ lorentz_rotation(-0.6)
    assert torch.allclose(project_to_group(lam @ m, LORENTZ), lam @ p, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("out", ["invariant", "equivariant"])
@pytest.mark.parametrize("gname", ["o3", "so3", "e3", "se3"])
def test_model_is_exact_at_evaluation(gname, out, dtype):
    """Each sample is exact, or flagged (the untrained network's ``M`` has a singular value
    below the floor, e.g. 4.9e-7 of ``|M|`` on sample 0) and equivariant in distribution; the
    well-conditioned samples are exact."""
    g = group(gname)
    sample = point_sample(d=g.dim, batch=3, dtype=dtype)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS[out], sample).to(dtype)
    model = registry("symmetrizers").build(
        "orbit_distance", backbone, g, point_spec(), OUT_SPECS[out]).to(dtype).eval()
    report = check_outcomes(model, g, point_spec(), OUT_SPECS[out],
                            HardInput("random", sample, [False] * 3), n_elements=2)
    if dtype == torch.float64:  # float32 floors at 6e-3: this untrained M may flag them all
        assert "exact" in report.outcomes, report.outcomes


def test_training_pulls_the_matrix_onto_the_group():
    g = group("o3")
    sample = point_sample(batch=8)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    model = registry("symmetrizers").build(
        "orbit_distance", backbone, g, point_spec(), OUT_SPECS["invariant"], orbit_weight=1.0,
    ).double().train()
    opt = torch.optim.Adam(model.net.parameters(), lr=3e-2)
    model(sample)
    start = model.metrics()["orbit_distance"]
    for _ in range(100):
        model(sample)
        loss = model.extra_losses()["orbit_distance"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model(sample)
    assert model.metrics()["orbit_distance"] < 0.5 * start


def test_one_null_direction_gets_a_fair_random_sign():
    """Rank ``d - 1`` under O(3) (a mirror-symmetric input): the polar factor's null part
    ``+-u_3 v_3^T`` is Haar on O(1), so both signs occur and their mean is the kept part; the
    kept part is the same in every draw."""
    from symkit.symmetrizers.learned import polar_frame

    gen = torch.Generator().manual_seed(0)
    u, _, vh = torch.linalg.svd(torch.randn(1, 3, 3, generator=gen, dtype=torch.float64))
    m = u @ torch.diag_embed(torch.tensor([[3.0, 2.0, 0.0]], dtype=torch.float64)) @ vh
    kept = u[..., :2] @ vh[..., :2, :]
    draws = [polar_frame(m, torch.ones(1, 3, dtype=torch.float64), proper=False, tol=1e-7,
                         generator=gen) for _ in range(64)]
    assert all(bool(f.all()) for _, f in draws)
    null = torch.stack([q - kept for q, _ in draws])
    signs = {int(torch.sign((n * (u[..., 2:] @ vh[..., 2:, :])).sum())) for n in null}
    assert signs == {-1, 1}
    assert torch.allclose(null.mean(0), torch.zeros_like(kept), atol=0.3)

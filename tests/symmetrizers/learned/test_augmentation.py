"""``learned_augmentation``: Monte-Carlo over a learned box law; exact only in the limit."""

from __future__ import annotations

import math

import pytest
import torch

from symkit.registry import registry
from symkit.testing import equivariance_error
from symkit.testing._symmetrizers import FlatMLP, check_symmetrizer

from ..._cases import OUT_SPECS, group, point_sample, point_spec


@pytest.mark.parametrize("gname", ["so2", "o2", "so3", "o3"])
def test_error_falls_with_samples_when_widths_cover_the_group(gname):
    g = group(gname)
    check_symmetrizer("learned_augmentation", g, point_spec(), OUT_SPECS["equivariant"],
                      point_sample(d=g.dim, batch=3))


def test_narrow_widths_are_not_equivariant_in_the_limit():
    g = group("so2")
    sample = point_sample(d=2, batch=3)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    errors = {}
    for width in (math.pi, 0.3):
        model = registry("symmetrizers").build(
            "learned_augmentation", backbone, g, point_spec(), OUT_SPECS["invariant"],
            init_width=width, eval_samples=2048, seed=0,
        ).double().eval()
        with torch.no_grad():
            errors[width] = equivariance_error(model, g, point_spec(), OUT_SPECS["invariant"],
                                               sample, generator=torch.Generator().manual_seed(0)
                                               ).relative
    assert errors[math.pi] < 0.3 * errors[0.3]


def test_global_widths_learn_and_are_regularized():
    g = group("se3")
    sample = point_sample(batch=3)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    model = registry("symmetrizers").build(
        "learned_augmentation", backbone, g, point_spec(), OUT_SPECS["invariant"],
        init_width=0.5, train_samples=2,
    ).double().train()
    assert not model.supports(g)  # translations: an augmentation, never invariant
    y = model(sample)
    loss = y["e"].pow(2).sum() + sum(model.extra_losses().values())
    loss.backward()
    assert model.extra_losses()["augmentation_width"] < 0
    assert model.raw_width.grad is not None and model.raw_width.grad.abs().sum() > 0
    assert set(model.metrics()) == {"rotation_width", "translation_width", "degenerate_fraction"}


def test_per_input_widths_with_entropy_bounds():
    g = group("so3")
    sample = point_sample(batch=3)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    model = registry("symmetrizers").build(
        "learned_augmentation", backbone, g, point_spec(), OUT_SPECS["invariant"],
        mode="per_input", field="pos", init_width=1.0, entropy_min=5.0, train_samples=2,
    ).double().train()
    y = model(sample)
    penalty = model.extra_losses()["augmentation_entropy"]
    assert penalty > 0  # H = 3 log 2 < 5
    (y["e"].sum() + penalty).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.width_net.parameters())


def test_haar_axis_angle_law():
    """Full widths on SO(3) give Haar rotations: E[trace R] = 0 and E[trace R^2] = 1."""
    g = group("so3")
    model = registry("symmetrizers").build(
        "learned_augmentation", torch.nn.Identity(), g, point_spec(), OUT_SPECS["invariant"],
        eval_samples=20000, seed=0,
    ).double().eval()
    rots, _ = model.elements({"pos": torch.zeros(1, 4, 3, dtype=torch.float64),
                              "h": torch.zeros(1, 4, dtype=torch.float64)})
    tr = rots.diagonal(dim1=-2, dim2=-1).sum(-1)
    tr2 = (rots @ rots).diagonal(dim1=-2, dim2=-1).sum(-1)
    assert abs(tr.mean().item()) < 0.05 and abs(tr2.mean().item() - 1) < 0.06

"""``probabilistic``: equivariant in distribution; exact for a fixed noise draw."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.testing._symmetrizers import FlatMLP, check_symmetrizer

from .._cases import DTYPE_IDS, DTYPES, OUT_SPECS, grid_sample, group, point_sample, point_spec

GROUPS = ["o3", "se3", "c4", "symmetric"]


def _group(name):
    return group("symmetric", 6) if name == "symmetric" else group(name)


@pytest.mark.parametrize("gname", GROUPS)
def test_error_falls_with_samples(gname):
    g = _group(gname)
    errors = check_symmetrizer("probabilistic", g, point_spec(), OUT_SPECS["equivariant"],
                               point_sample(d=g.dim or 3, batch=3), n_elements=3)
    assert errors["S_16"] < errors["S_1"]  # mean squared error of the mean of 16 vs 1


#: seeds at which the former unpaired statistic (S_16 over 8 elements, S_1 over 128 other
#: single draws) failed unbiased probabilistic symmetrization on D4 in float32 (268, 476:
#: 5 of 400 seeds failed) or passed at S_1 / S_16 = 6.0 against 6 (127)
KNIFE_EDGE_SEEDS = [127, 268, 476]


@pytest.mark.parametrize("seed", KNIFE_EDGE_SEEDS)
def test_unbiased_d4_float32_passes_the_statistical_check(seed):
    """The paired statistic of ``check_outcomes`` (module docs: false failure about 5e-6 at
    one effective dimension) passes where the unpaired one failed; the biased control below
    still fails it."""
    g = group("d4")
    errors = check_symmetrizer("probabilistic", g, point_spec(), OUT_SPECS["equivariant"],
                               grid_sample(g, point_spec()), dtype=torch.float32, seed=seed)
    assert errors["S_16"] > 0  # the statistical check ran (the draws differ)


def test_biased_d4_float32_fails_the_statistical_check():
    """Probabilistic symmetrization told that its outputs are invariant (no ``g .`` on them):
    biased, it must fail at the same seeds."""
    from symkit.reps import scalar
    from symkit.spec import Field, Spec

    def biased(backbone, group, in_spec, out_spec, **params):
        invariant = Spec({n: Field(scalar(), nodes=f.nodes) for n, f in out_spec.items()})
        return registry("symmetrizers").build("probabilistic", backbone, group, in_spec,
                                              invariant, **params)

    g = group("d4")
    for seed in KNIFE_EDGE_SEEDS:
        with pytest.raises(AssertionError, match="not equivariant in distribution"):
            check_symmetrizer(biased, g, point_spec(), OUT_SPECS["equivariant"],
                              grid_sample(g, point_spec()), dtype=torch.float32, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", GROUPS)
def test_exact_for_a_fixed_noise_draw(gname, dtype):
    g = _group(gname)
    check_symmetrizer("probabilistic", g, point_spec(), OUT_SPECS["equivariant"],
                      point_sample(d=g.dim or 3, batch=3), dtype=dtype, params={"seed": 3})


@pytest.mark.parametrize("gname", GROUPS)
def test_training_forward_has_gradients(gname):
    g = _group(gname)
    sample = point_sample(d=g.dim or 3, batch=3)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["equivariant"], sample).double()
    model = registry("symmetrizers").build(
        "probabilistic", backbone, g, point_spec(), OUT_SPECS["equivariant"], train_samples=3,
    ).double().train()
    y = model(sample)
    assert y["v"].shape == sample["pos"].shape[:2] + (2, sample["pos"].shape[-1])
    sum(v.pow(2).sum() for v in y.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.canonicalizer.parameters())


def test_needs_noise():
    g = group("o3")
    canon = registry("canonicalizers").build("learned_point_frame", group=g, field="pos")
    with pytest.raises(ValueError, match="noise_dim"):
        registry("symmetrizers").build("probabilistic", torch.nn.Identity(), g, point_spec(),
                                       OUT_SPECS["invariant"], canonicalizer=canon)

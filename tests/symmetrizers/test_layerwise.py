"""Layer-wise frame averaging: each stage of a layered backbone frame-averaged with its own frame.

The registry-wide grid and corpus (test_conformance.py, test_hard_inputs.py) run it around
backbones without layers (one stage); here it runs around genuinely layered, non-equivariant
backbones whose second stage's frame comes from points the first stage moved.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import LayerwiseFrameAveraging, Stage, frame_averaging
from symkit.testing import FlatMLP, NodeMLP, check_hard_inputs, check_symmetrizer, example_sample

from .._cases import OUT_SPECS
from .._cases import point_spec as in_spec

GROUPS = ["e3", "o3", "se3", "so3"]


class TwoStages(nn.Module):
    """Stage 1 reads ``h, pos`` and writes a hidden scalar and moved points ``x1``; stage 2
    reads ``h1, x1`` (its frame: ``x1``) and writes the outputs. Neither stage is equivariant.
    ``x1_rep`` is the representation stage 1 *declares* for ``x1`` (a wrong one must fail)."""

    def __init__(self, group, spec: Spec, out_spec: Spec, sample, *, x1_rep=None):
        super().__init__()
        n = sample["pos"].shape[1]
        self.mid = Spec({"h1": Field(scalar(), nodes=True),
                         "x1": Field(x1_rep or point(), nodes=True)})
        self.first = FlatMLP({k: tuple(sample[k].shape[1:]) for k in spec},
                             {"h1": (n, 2), "x1": (n, 3)})
        mid_sample = {"h1": torch.zeros(1, n, 2), "x1": torch.zeros(1, n, 3)}
        self.second = FlatMLP.for_sample(group, self.mid, out_spec, mid_sample)

    def frame_stages(self, in_spec, out_spec):
        return [Stage(self.first, in_spec, self.mid), Stage(self.second, self.mid, out_spec)]


def _factory(x1_rep=None):
    def factory(backbone, group, spec, out_spec, **params):
        sample = example_sample(group, spec, batch=1)
        layered = TwoStages(group, spec, out_spec, sample, x1_rep=x1_rep)
        return LayerwiseFrameAveraging(layered, group, spec, out_spec, **params)

    factory.__name__ = "layerwise_two_stages"
    return factory


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("gname", GROUPS)
@pytest.mark.parametrize("out", ["invariant", "equivariant"])
def test_two_layered_stages_are_equivariant(gname, dtype, out):
    """Every kind (rotations, reflections, translations) at 1e-9 (f64) / 1e-5 (f32)."""
    group = registry("groups").build(gname)
    sample = example_sample(group, in_spec(), batch=3, generator=torch.Generator().manual_seed(2))
    errors = check_symmetrizer(_factory(), group, in_spec(), OUT_SPECS[out], sample, dtype=dtype)
    assert set(errors) >= {"all", *group.kinds}


def test_a_stage_that_mislabels_its_points_fails():
    """Negative control: stage 1 declares the points it moves invariant (scalar channels), so
    stage 2's frame input is not transformed with the input: the check must catch it."""
    group = registry("groups").build("e3")
    sample = example_sample(group, in_spec(), batch=3, generator=torch.Generator().manual_seed(2))
    with pytest.raises(AssertionError, match="not equivariant"):
        check_symmetrizer(_factory(x1_rep=vector()), group, in_spec(), OUT_SPECS["equivariant"],
                          sample)


def test_the_frame_is_recomputed_per_stage():
    """Stage 2's frame comes from stage 1's moved points, not from the input's: frame averaging
    stage 2 with the input's frame gives another function."""
    group = registry("groups").build("o3")
    spec = in_spec()
    sample = example_sample(group, spec, batch=2, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    model = _factory()(None, group, spec, OUT_SPECS["equivariant"]).double().eval()
    stages = model._stages
    with torch.no_grad():
        y = model(sample)
        state = {**sample, **stages[0](sample)}
        frames = [s.elements(state)[0] for s in stages]
        first = stages[0].elements(sample)[0]
    assert not torch.allclose(frames[1], first)
    assert y["y"].shape == (2, 5, 2, 3)


def test_without_layers_it_is_frame_averaging():
    group = registry("groups").build("e3")
    spec, out_spec = in_spec(), OUT_SPECS["equivariant"]
    sample = example_sample(group, spec, batch=3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(group, spec, out_spec, sample).double()
    layered = registry("symmetrizers").build(
        "layerwise_frame_averaging", backbone, group, spec, out_spec).eval()
    plain = frame_averaging(backbone, group, spec, out_spec).eval()
    assert layered.num_stages == 1
    with torch.no_grad():
        a, b = layered(sample), plain(sample)
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_stochastic_stages_follow_the_training_mode():
    group = registry("groups").build("e3")
    model = _factory()(None, group, in_spec(), OUT_SPECS["invariant"], stochastic=True)
    assert not model.train().is_exact
    assert all(s.training for s in model._stages)
    assert model.eval().is_exact
    assert not any(s.training for s in model._stages)
    model.eval_samples = 2
    assert all(s.eval_samples == 2 for s in model._stages)


def test_parameters_are_the_backbones_once():
    group = registry("groups").build("e3")
    model = _factory()(None, group, in_spec(), OUT_SPECS["invariant"])
    names = list(model.state_dict())
    assert names and all(n.startswith("backbone.") for n in names)


def test_a_stage_without_points_is_a_config_error():
    group = registry("groups").build("e3")
    scalars = Spec({"h": Field(scalar(), nodes=True)})

    class NoPoints(nn.Module):
        def frame_stages(self, in_spec, out_spec):
            return [Stage(nn.Identity(), scalars, out_spec)]

    with pytest.raises(ConfigError, match="stage 0"):
        LayerwiseFrameAveraging(NoPoints(), group, in_spec(), OUT_SPECS["invariant"])
    with pytest.raises(ValueError, match="supports"):
        LayerwiseFrameAveraging(nn.Identity(), registry("groups").build("c4"), in_spec(),
                                OUT_SPECS["invariant"])


class NodeStages(nn.Module):
    """Two :class:`NodeMLP` stages for every batch layout: ``(h, pos) -> (h1, x1)`` with ``x1``
    moved points (one channel), then ``(h1, x1) -> outputs``."""

    def __init__(self, spec: Spec, out_spec: Spec):
        super().__init__()
        self.mid = Spec({"h1": Field(scalar(), nodes=True), "x1": Field(point(), nodes=True)})
        self.first = NodeMLP(spec, self.mid, channels=1)
        self.second = NodeMLP(self.mid, out_spec)

    def frame_stages(self, in_spec, out_spec):
        return [Stage(self.first, in_spec, self.mid), Stage(self.second, self.mid, out_spec)]


def test_layered_backbone_through_the_hard_input_corpus():
    """Molecules of every symmetry class, padded, ragged and empty batches, scales, NaN; forces."""
    def factory(backbone, group, spec, out_spec, **params):
        return LayerwiseFrameAveraging(NodeStages(spec, out_spec), group, spec, out_spec)

    check_hard_inputs(factory, registry("groups").build("e3"), dtypes=(torch.float64,),
                      forces=True)

"""graph::gnn as stages: the composition is the forward pass, and layer-wise frame averaging
of it is exactly E(3)-equivariant (dense, masked, sparse; float64 and float32)."""

from __future__ import annotations

import pytest
import torch
from symkit_graph._gnn_stages import HIDDEN, run_stages

from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.spec import Field, Spec
from symkit.testing import assert_equivariant, exact_rtol

LAYERWISE = {"type": "layerwise_frame_averaging", "field": "pos"}


@pytest.fixture
def model(gnn_model):
    """``model(group="e3", dtype=float64, **backbone)``: layer-wise FA of graph::gnn."""
    return lambda group="e3", dtype=torch.float64, **backbone: gnn_model(
        LAYERWISE, group, dtype, **backbone)


def test_the_stages_compose_to_the_forward_pass(nbody_batch):
    torch.manual_seed(0)
    gnn = registry("backbones").build("graph::gnn", hidden=16, layers=3, edge_distance=True)
    x = nbody_batch()
    gnn = gnn.double()
    gnn(x)
    with torch.no_grad():
        torch.testing.assert_close(run_stages(gnn, x)["target"], gnn(x)["target"],
                                   rtol=1e-12, atol=1e-12)


def test_stages_read_positions_and_write_the_hidden_state(model):
    m = model(layer_geometry=True)
    stages = m.backbone.frame_stages(m.in_spec, m.out_spec)
    assert len(stages) == 2 + 2 and m.num_stages == 4
    assert all("pos" in s.reads for s in stages)
    assert list(stages[0].writes) == [HIDDEN]
    assert set(stages[1].writes) == {HIDDEN, "pos", "vel"}  # layer geometry moves pos and vel
    assert list(stages[-1].writes) == ["target"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("group", ["e3", "so3"])
@pytest.mark.parametrize("geometry", [True, False], ids=["geometry", "plain"])
def test_layerwise_fa_gnn_is_equivariant(model, nbody_batch, dtype, group, geometry):
    m = model(group, dtype, layer_geometry=geometry)
    x = nbody_batch(5, str(dtype).removeprefix("torch."))
    for kind in (None, *m.group.kinds):
        err = assert_equivariant(m, m.group, m.in_spec, m.out_spec, x, rtol=exact_rtol(dtype),
                                 atol=1e-6 if dtype == torch.float32 else 1e-12, kind=kind)
        assert err.relative <= exact_rtol(dtype)
    assert not bool(m.flagged.any())


def test_masked_and_sparse_samples_stay_equivariant(model, nbody_batch, padded_nbody):
    m = model(layer_geometry=True, edge_distance=True)
    x = nbody_batch(4)
    padded = padded_nbody(x, 7.0)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    edges = torch.stack([j[i != j], i[i != j]])
    for sample in (padded, {**x, "edge_index": edges}):
        assert_equivariant(m, m.group, m.in_spec, m.out_spec, sample, rtol=1e-9, atol=1e-12)
    with torch.no_grad():  # padding changes nothing on the real nodes
        y_pad = m(padded)["target"][:, :5]
        torch.testing.assert_close(y_pad, m(x)["target"], rtol=1e-9, atol=1e-12)


def test_layer_geometry_trains_its_heads(model, nbody_batch):
    m = model(layer_geometry=True).train()
    m(nbody_batch())["target"].square().mean().backward()
    for name in ("inject", "move"):
        grads = [p.grad for p in getattr(m.backbone, name).parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), name


def test_layer_geometry_needs_point_fields():
    with pytest.raises(ConfigError, match="layer_geometry"):
        registry("backbones").build("graph::gnn", layer_geometry=True)
    spec = Spec({"charge": Field(registry("reps").build("scalar"), nodes=True)})
    with pytest.raises(ConfigError, match="layer_geometry"):
        registry("backbones").build("graph::gnn", layer_geometry=True, in_spec=spec,
                                    reads=["charge"])

"""graph::gnn as stages: the composition is the forward pass, and layer-wise frame averaging
of it is exactly E(3)-equivariant (dense, masked, sparse; float64 and float32)."""

from __future__ import annotations

import pytest
import torch
from symkit_graph._gnn_stages import HIDDEN, run_stages
from symkit_graph._nbody import nbody
from torch.utils.data import default_collate

from symkit.errors import ConfigError
from symkit.model import build_model
from symkit.registry import registry
from symkit.spec import Field, Spec
from symkit.testing import assert_equivariant, exact_rtol

IN = {"pos": {"rep": "point", "nodes": True}, "vel": {"rep": "vector", "nodes": True},
      "charge": {"rep": "scalar", "nodes": True}}
OUT = {"target": {"rep": "point", "nodes": True}}


def batch(b: int = 6, dtype: str = "float64") -> dict[str, torch.Tensor]:
    ds = nbody("test", max_samples=b, dtype=dtype)
    return default_collate([ds[i] for i in range(b)])


def model(group="e3", dtype=torch.float64, **backbone):
    torch.manual_seed(0)
    cfg = {"group": group, "in_spec": IN, "out_spec": OUT,
           "backbone": {"type": "graph::gnn", "hidden": 16, "layers": 2, **backbone},
           "symmetrizer": {"type": "layerwise_frame_averaging", "field": "pos"}}
    m = build_model(cfg)
    m(batch(2, "float32"))  # materialize lazy layers
    return m.to(dtype).eval()


def test_the_stages_compose_to_the_forward_pass():
    torch.manual_seed(0)
    gnn = registry("backbones").build("graph::gnn", hidden=16, layers=3, edge_distance=True)
    x = batch()
    gnn = gnn.double()
    gnn(x)
    with torch.no_grad():
        torch.testing.assert_close(run_stages(gnn, x)["target"], gnn(x)["target"],
                                   rtol=1e-12, atol=1e-12)


def test_stages_read_positions_and_write_the_hidden_state():
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
def test_layerwise_fa_gnn_is_equivariant(dtype, group, geometry):
    m = model(group, dtype, layer_geometry=geometry)
    x = batch(5, str(dtype).removeprefix("torch."))
    for kind in (None, *m.group.kinds):
        err = assert_equivariant(m, m.group, m.in_spec, m.out_spec, x, rtol=exact_rtol(dtype),
                                 atol=1e-6 if dtype == torch.float32 else 1e-12, kind=kind)
        assert err.relative <= exact_rtol(dtype)
    assert not bool(m.flagged.any())


def test_masked_and_sparse_samples_stay_equivariant():
    m = model(layer_geometry=True, edge_distance=True)
    x = batch(4)
    pad = {k: torch.cat([v, 7.0 + torch.zeros_like(v[:, :1])], 1) for k, v in x.items()}
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[:, -1] = False
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    edges = torch.stack([j[i != j], i[i != j]])
    for sample in ({**pad, "mask": mask}, {**x, "edge_index": edges}):
        assert_equivariant(m, m.group, m.in_spec, m.out_spec, sample, rtol=1e-9, atol=1e-12)
    with torch.no_grad():  # padding changes nothing on the real nodes
        y_pad = m({**pad, "mask": mask})["target"][:, :5]
        torch.testing.assert_close(y_pad, m(x)["target"], rtol=1e-9, atol=1e-12)


def test_layer_geometry_trains_its_heads():
    m = model(layer_geometry=True).train()
    m(batch())["target"].square().mean().backward()
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

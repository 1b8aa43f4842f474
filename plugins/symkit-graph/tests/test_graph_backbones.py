"""GNN and EGNN: shapes, dense/sparse agreement, E(3) equivariance of EGNN only."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.spec import Field, Spec
from symkit.testing import assert_equivariant, equivariance_error


def rep(name: str) -> Field:
    return Field(registry("reps").build(name), nodes=True)


IN_SPEC = Spec({"pos": rep("point"), "vel": rep("vector"), "charge": rep("scalar")})
OUT_SPEC = Spec({"target": rep("point")})


@pytest.mark.parametrize("name", ["gnn", "egnn"])
@pytest.mark.parametrize("b", [1, 7])
def test_shapes(graph_backbone, nbody_batch, name, b):
    out = graph_backbone(name, torch.float32)(nbody_batch(b, "float32"))
    assert out["target"].shape == (b, 5, 3) and torch.isfinite(out["target"]).all()


@pytest.mark.parametrize("aggregate", ["sum", "mean"])
def test_gnn_dense_and_sparse_agree(graph_backbone, nbody_batch, aggregate):
    model = graph_backbone("gnn", edge_distance=True, aggregate=aggregate)
    x = nbody_batch(7)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    keep = i != j
    edges = torch.stack([j[keep], i[keep]])  # (2, 20): source j -> target i
    with torch.no_grad():
        dense = model(x)["target"]
        shared = model({**x, "edge_index": edges})["target"]
        per_sample = model({**x, "edge_index": edges.expand(7, 2, 20)})["target"]
    torch.testing.assert_close(dense, shared, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dense, per_sample, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_mask_ignores_padded_nodes(graph_backbone, nbody_batch, name):
    model = graph_backbone(name)
    x = nbody_batch(3)
    pad = {k: torch.cat([v, 100 * torch.randn_like(v[:, :2])], dim=1) for k, v in x.items()}
    pad["mask"] = torch.arange(7).expand(3, 7) < 5
    with torch.no_grad():
        torch.testing.assert_close(model(pad)["target"][:, :5], model(x)["target"])


@pytest.mark.parametrize("kind", [None, "rotation", "reflection", "translation"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_egnn_is_e3_equivariant(graph_backbone, nbody_batch, dtype, kind):
    group = registry("groups").build("e3")
    model = graph_backbone("egnn", dtype)
    x = nbody_batch(7, "float64" if dtype == torch.float64 else "float32")
    with torch.no_grad():
        assert_equivariant(model, group, IN_SPEC, OUT_SPEC, x, kind=kind,
                           generator=torch.Generator().manual_seed(0))


def test_egnn_is_permutation_equivariant(graph_backbone, nbody_batch):
    group = registry("groups").build("symmetric", n=5)
    with torch.no_grad():
        assert_equivariant(graph_backbone("egnn"), group, IN_SPEC, OUT_SPEC, nbody_batch(7))


def test_gnn_is_not_e3_equivariant(graph_backbone, nbody_batch):
    group = registry("groups").build("e3")
    with torch.no_grad():
        err = equivariance_error(graph_backbone("gnn"), group, IN_SPEC, OUT_SPEC, nbody_batch(7),
                                 generator=torch.Generator().manual_seed(0))
    assert err.relative > 1e-3


def test_a_residual_of_another_size_than_the_output_is_named_at_build_time():
    """The default ``residual: pos`` suits a position output; with an energy output it is a
    ConfigError naming ``residual`` (not a reshape error on the first batch)."""
    from symkit.errors import ConfigError
    from symkit.groups import e3

    spec = Spec({"pos": rep("point"), "z": rep("scalar")})
    build = registry("backbones").build
    with pytest.raises(ConfigError, match=r"residual: the residual field 'pos' \(3 numbers per "
                                          r"node.*'energy' \(1 per node.*residual: null"):
        build("graph::gnn", writes={"energy": [-1, 1]}, in_spec=spec, group=e3())
    with pytest.raises(ConfigError, match=r"residual: 'R' is not a field of the model's in_spec"):
        build("graph::gnn", writes={"target": [-1, 3]}, residual="R", in_spec=spec, group=e3())
    build("graph::gnn", writes={"energy": [-1, 1]}, residual=None, in_spec=spec, group=e3())
    build("graph::gnn", writes={"target": [-1, 3]}, in_spec=spec, group=e3())


def test_a_residual_of_another_size_is_a_spec_error_without_a_spec(nbody_batch):
    from symkit.errors import SpecError

    net = registry("backbones").build("graph::gnn", writes={"energy": [-1, 1]},
                                      reads=["pos", "charge"])
    with pytest.raises(SpecError, match=r"^pos: the residual field 'pos' \(3 numbers per node"):
        net(nbody_batch(2, "float32"))

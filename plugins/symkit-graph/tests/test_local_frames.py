"""graph::local_frames: a frame per node, messages in the receiving node's frame."""

from __future__ import annotations

import pytest
import torch
from symkit_graph._local_frames import LocalFrames
from torch import nn

from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.testing import (
    FlatMLP,
    HardInput,
    NodeMLP,
    assert_equivariant,
    check_outcomes,
    exact_rtol,
    hard_inputs,
)


@pytest.fixture
def model(gnn_model):
    """``model(group="e3", dtype=float64, **options)``: graph::gnn (edge features read from
    ``edge_attr``) inside graph::local_frames with ``vel`` as an extra field."""
    return lambda group="e3", dtype=torch.float64, **sym: gnn_model(
        {"type": "graph::local_frames", "extra_fields": ["vel"], **sym}, group, dtype,
        edge_attr="edge_attr")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("group", ["e3", "o3", "se3", "so3"])
@pytest.mark.parametrize("origin", ["centroid", "node"])
def test_gnn_with_local_frames_is_equivariant(model, nbody_batch, dtype, group, origin):
    m = model(group, dtype, origin=origin)
    x = nbody_batch(5, str(dtype).removeprefix("torch."))
    for kind in (None, *m.group.kinds):
        assert_equivariant(m, m.group, m.in_spec, m.out_spec, x, rtol=exact_rtol(dtype),
                           atol=1e-6 if dtype == torch.float32 else 1e-12, kind=kind)
    assert not bool(m.flagged.any())


def test_edge_features_are_neighbours_in_the_receivers_frame(nbody_batch):
    """Dense layout: ``edge_attr[b, i, j] = (L_i^T (x_j - x_i), L_i^T v_j)``, zero on i = j."""
    seen = {}

    class Spy(nn.Module):
        edge_attr = "edge_attr"

        def forward(self, sample):
            seen.update(sample)
            return {"target": sample["pos"]}

    group = registry("groups").build("e3")
    in_spec = Spec({"pos": Field(point(), nodes=True), "vel": Field(vector(), nodes=True),
                    "charge": Field(scalar(), nodes=True)})
    m = LocalFrames(Spy(), group, in_spec, Spec({"target": Field(point(), nodes=True)}),
                    extra_fields=["vel"])
    x = nbody_batch(3)
    m(x)
    g = m._frames({k: x[k].reshape(15, *x[k].shape[2:]) for k in ("pos", "vel")},
                  *_pairs(3), torch.ones(15, dtype=torch.bool),
                  torch.arange(3).repeat_interleave(5), 3)[0]
    rot = g[:, :3, :3].reshape(3, 5, 3, 3)  # L_i; local coordinates are L_i^T (.)
    rel = x["pos"][:, None, :, :] - x["pos"][:, :, None, :]  # [b, i, j] = x_j - x_i
    want = torch.einsum("biad,bija->bijd", rot, rel)
    torch.testing.assert_close(seen["edge_attr"][..., :3], want, rtol=1e-10, atol=1e-12)
    off = ~torch.eye(5, dtype=torch.bool)[None, :, :, None]  # no edge i -> i
    torch.testing.assert_close(seen["edge_attr"][..., 3:],
                               torch.einsum("biad,bja->bijd", rot, x["vel"]) * off,
                               rtol=1e-10, atol=1e-12)
    assert seen["edge_attr"][:, range(5), range(5)].abs().max() == 0
    own = torch.einsum("biad,bia->bid", rot, x["vel"])  # node fields in their own frame
    torch.testing.assert_close(seen["vel"], own, rtol=1e-10, atol=1e-12)


def _pairs(b: int, n: int = 5):
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = (i != j).reshape(-1)
    dst = (torch.arange(b)[:, None] * n + i.reshape(1, -1))[:, keep].reshape(-1)
    src = (torch.arange(b)[:, None] * n + j.reshape(1, -1))[:, keep].reshape(-1)
    return src, dst


def test_sparse_and_masked_samples(model, nbody_batch, padded_nbody):
    """Given edges (3 in-neighbours per node), and a padded node behind a mask: exact on the
    real nodes (check_outcomes reads only them), and padding changes nothing."""
    m = model()
    x = nbody_batch(4)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    keep = (i != j) & ((j - i) % 5 != 1)
    edges = torch.stack([j[keep], i[keep]])
    assert_equivariant(m, m.group, m.in_spec, m.out_spec, {**x, "edge_index": edges},
                       rtol=1e-9, atol=1e-12)
    padded = padded_nbody(x, 3.0)
    report = check_outcomes(m, m.group, m.in_spec, m.out_spec,
                            HardInput("padded", padded, [False] * 4))
    assert report.outcomes == ["exact"] * 4
    with torch.no_grad():
        torch.testing.assert_close(m(padded)["target"][:, :5], m(x)["target"],
                                   rtol=1e-9, atol=1e-12)


def test_a_symmetric_neighbourhood_is_flagged_and_equivariant_in_distribution():
    """A square (every node's neighbourhood mirror-symmetric: undecided signs) next to a generic
    sample: the square is flagged and equivariant in distribution, the generic sample exact.
    (FlatMLP, not NodeMLP: every node of a square has the same local position, where
    NodeMLP's scale normalization jumps from a tiny radius to 1.)"""
    spec = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
    out = Spec({"e": scalar(), "v": Field(vector(), nodes=True)})
    group = registry("groups").build("e3")
    torch.manual_seed(0)
    square = torch.tensor([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=torch.float64)
    generic = torch.randn(4, 3, dtype=torch.float64)
    sample = {"h": torch.ones(2, 4, dtype=torch.float64), "pos": torch.stack([generic, square])}
    backbone = FlatMLP.for_sample(group, spec, out, sample)
    m = LocalFrames(backbone, group, spec, out).double().eval()
    report = check_outcomes(m, group, spec, out, HardInput("square", sample, [False, True]))
    assert report.outcomes == ["exact", "flagged"]


def test_ragged_batches_through_the_corpus_layouts():
    spec = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
    out = Spec({"e": scalar(), "y": Field(point(), nodes=True)})
    group = registry("groups").build("se3")
    m = LocalFrames(NodeMLP(spec, out), group, spec, out).double().eval()
    for case in hard_inputs(spec, symmetry=["asymmetric"]):
        if case.name.startswith("ragged") or case.name.startswith("empty"):
            check_outcomes(m, group, spec, out, case)


def test_configuration_errors():
    group = registry("groups").build("e3")
    spec = Spec({"pos": Field(point(), nodes=True)})
    nodes = Spec({"y": Field(point(), nodes=True)})
    gnn = registry("backbones").build("graph::gnn", edge_attr="other", in_spec=spec)
    with pytest.raises(ConfigError, match="edge_attr"):
        LocalFrames(gnn, group, spec, nodes)
    with pytest.raises(ConfigError, match="graph-level"):
        LocalFrames(nn.Identity(), group, spec, Spec({"y": vector()}))
    with pytest.raises(ConfigError, match="origin"):
        LocalFrames(nn.Identity(), group, spec, nodes, origin="corner")
    with pytest.raises(ValueError, match="supports"):
        LocalFrames(nn.Identity(), registry("groups").build("translation"), spec, nodes)

"""Fixed symmetrizers on every layout: padded (mask), ragged (batch), empty, and NaN samples.

A sample's output must not depend on its padding, on the other graphs of a ragged batch, or
on its layout; empty batches and samples without nodes give outputs of the right shape (a
sample without nodes is flagged); a NaN/Inf sample raises a SampleError that names it.
"""

from __future__ import annotations

import pytest
import torch
from ase.build import molecule
from torch import nn

from symkit.errors import SampleError
from symkit.groups import e3, o3, scaling, se3, symmetric, translation
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import Canonicalization, FrameAveraging, GroupAveraging

IN = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)})


def mol(name: str) -> torch.Tensor:
    return torch.tensor(molecule(name).positions, dtype=torch.float64)


ETHANOL = mol("CH3CH2OH") + 0.05 * torch.randn(9, 3, generator=torch.Generator().manual_seed(7),
                                               dtype=torch.float64)  # no symmetry left
FORMIC = mol("HCOOH")


class NodeNet(nn.Module):
    """Non-equivariant backbone for dense, masked and ragged layouts (and zero nodes):
    ``h_i = MLP(x_i, mean x)``, ``v_i = h_i[:3]``, ``y_i = x_i + h_i[3:6]``, ``e = mean h[6:]``.
    """

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 8)).double()

    @staticmethod
    def mean(x, s):
        """Per-graph mean of node rows, broadcast back to the nodes, and per graph."""
        if "batch" in s:
            b, idx = int(s["num_graphs"]), s["batch"]
            tot = x.new_zeros(b, x.shape[-1]).index_add_(0, idx, x)
            n = x.new_zeros(b).index_add_(0, idx, torch.ones_like(x[:, 0])).clamp_min(1)
            return (tot / n[:, None])[idx], tot / n[:, None]
        w = s["mask"][..., None] if "mask" in s else torch.ones_like(x[..., :1], dtype=torch.bool)
        m = torch.where(w, x, 0).sum(-2) / w.sum(-2).clamp_min(1)
        return m[..., None, :].expand_as(x), m

    def forward(self, s):
        x = s["pos"]
        h = self.net(torch.cat([x, self.mean(x, s)[0]], -1))
        return {"e": self.mean(h[..., 6:], s)[1], "v": h[..., :3], "y": x + h[..., 3:6]}


MODELS = {
    "fa_e3": lambda: FrameAveraging(NodeNet(), e3(), IN, OUT),
    "fa_sort": lambda: FrameAveraging(NodeNet(), symmetric(), IN, OUT, key="h"),
    "canon_pca": lambda: Canonicalization(NodeNet(), se3(), IN, OUT, canonicalizer="pca"),
    "canon_centroid": lambda: Canonicalization(NodeNet(), translation(3), IN, OUT),
    "canon_scale": lambda: Canonicalization(NodeNet(), scaling(3), IN, OUT),
    "canon_sort": lambda: Canonicalization(NodeNet(), symmetric(), IN, OUT),
    "ga_o3": lambda: GroupAveraging(NodeNet(), o3(), IN, OUT, eval_samples=8),
}


def run(name: str, sample: dict) -> dict:
    """A fresh model (same weights, same random stream) evaluated on ``sample``."""
    model = MODELS[name]().eval()
    if isinstance(model, GroupAveraging):
        model.generator = torch.Generator().manual_seed(0)
    out = model(sample)
    out["flagged"] = model.flagged
    return out


def keys(pos: torch.Tensor) -> torch.Tensor:
    """A distinct invariant node key (distance to the centroid) for sorting frames."""
    return (pos - pos.mean(-2, keepdim=True)).norm(dim=-1)


def dense(*mols: torch.Tensor, n: int = 12, seed: int = 0) -> dict:
    """Molecules padded to ``n`` rows with random padding values, and their mask."""
    gen = torch.Generator().manual_seed(seed)
    pos = 100 * torch.randn(len(mols), n, 3, generator=gen, dtype=torch.float64)
    h = torch.randn(len(mols), n, generator=gen, dtype=torch.float64)
    mask = torch.zeros(len(mols), n, dtype=torch.bool)
    for i, p in enumerate(mols):
        pos[i, : len(p)], h[i, : len(p)], mask[i, : len(p)] = p, keys(p), True
    return {"pos": pos, "h": h, "mask": mask}


def ragged(*mols: torch.Tensor) -> dict:
    pos = torch.cat(mols)
    batch = torch.repeat_interleave(torch.arange(len(mols)), torch.tensor([len(p) for p in mols]))
    return {"pos": pos, "h": torch.cat([keys(p) for p in mols]), "batch": batch,
            "num_graphs": len(mols)}


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-10):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol * max(1.0, float(b.detach().abs().max())))


@pytest.mark.parametrize("name", list(MODELS))
def test_padding_values_do_not_matter(name):
    alone = run(name, dense(ETHANOL, n=9))
    for seed in (1, 2):
        padded = run(name, dense(ETHANOL, n=12, seed=seed))
        close(padded["e"], alone["e"])
        for f in ("v", "y"):
            close(padded[f][:, :9], alone[f])


@pytest.mark.parametrize("name", [n for n in MODELS if "sort" not in n])
def test_ragged_equals_masked_and_alone(name):
    both = run(name, ragged(ETHANOL, FORMIC))
    masked = run(name, dense(ETHANOL, FORMIC))
    close(both["e"], masked["e"])
    for f in ("v", "y"):
        close(both[f], torch.cat([masked[f][0, :9], masked[f][1, :5]]))
    if name == "ga_o3":
        return  # Monte-Carlo: the batch's random stream is shared (same in both layouts)
    for i, (p, rows) in enumerate([(ETHANOL, slice(0, 9)), (FORMIC, slice(9, 14))]):
        one = run(name, ragged(p))
        close(both["e"][i], one["e"][0])
        close(both["v"][rows], one["v"])


@pytest.mark.parametrize("name", list(MODELS))
def test_empty_batches_and_samples(name):
    none = run(name, {"pos": torch.zeros(0, 9, 3, dtype=torch.float64),
                      "h": torch.zeros(0, 9, dtype=torch.float64)})
    assert none["e"].shape == (0, 2) and none["v"].shape == (0, 9, 3)
    no_nodes = run(name, {"pos": torch.zeros(2, 0, 3, dtype=torch.float64),
                          "h": torch.zeros(2, 0, dtype=torch.float64)})
    assert no_nodes["e"].shape == (2, 2) and no_nodes["y"].shape == (2, 0, 3)
    assert torch.isfinite(no_nodes["e"]).all()
    if no_nodes["flagged"] is not None and "sort" not in name:  # nothing to sort: exact
        assert no_nodes["flagged"].tolist() == [True, True]
        assert none["flagged"].shape == (0,)
    x = dense(ETHANOL, FORMIC)
    x["mask"][1] = False  # an all-masked sample
    out = run(name, x)
    alone = run(name, dense(ETHANOL))
    assert torch.isfinite(out["e"]).all()
    if name != "ga_o3":
        close(out["e"][0], alone["e"][0])
    if out["flagged"] is not None and "sort" not in name:
        assert bool(out["flagged"][1]) and not bool(out["flagged"][0])
    if "sort" in name:
        return  # sorting reads dense keys
    r = ragged(ETHANOL, FORMIC)
    r["batch"] = torch.where(r["batch"] == 1, 2, r["batch"])  # graph 1 has no nodes
    r["num_graphs"] = 3
    out = run(name, r)
    assert out["e"].shape == (3, 2) and torch.isfinite(out["e"]).all()
    if out["flagged"] is not None:
        assert out["flagged"].tolist() == [False, True, False]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_sample_is_named(name, bad):
    x = dense(ETHANOL, FORMIC)
    x["pos"][1, 2, 0] = bad
    with pytest.raises(SampleError, match="sample 1 field 'pos'") as info:
        run(name, x)
    assert info.value.index == 1 and info.value.field == "pos"
    x = dense(ETHANOL, FORMIC)
    x["pos"][1, 10] = bad  # padding: ignored
    assert torch.isfinite(run(name, x)["e"]).all()
    if "sort" in name:
        return
    r = ragged(ETHANOL, FORMIC, ETHANOL)
    r["pos"][20, 1] = bad  # a node of graph 2
    with pytest.raises(SampleError, match="sample 2"):
        run(name, r)


@pytest.mark.parametrize("layout", ["dense", "masked", "ragged"])
def test_monte_carlo_averaging_is_translation_equivariant(layout):
    """O(3) averaging with K Haar samples about the centroid: shifting by 10 shifts points."""
    make = {"dense": lambda *m: dense(*m, n=9), "masked": dense, "ragged": ragged}[layout]
    mols = (ETHANOL, ETHANOL.flip(0)) if layout == "dense" else (ETHANOL, FORMIC)
    x = make(*mols)
    shift = torch.tensor([10.0, -10.0, 10.0], dtype=torch.float64)
    moved = dict(x, pos=x["pos"] + shift)
    a, b = run("ga_o3", x), run("ga_o3", moved)
    spread = (a["y"] - a["y"].mean(-2, keepdim=True)).abs().max()
    assert (b["y"] - shift - a["y"]).abs().max() <= 1e-9 * spread
    assert (b["v"] - a["v"]).abs().max() <= 1e-9 * a["v"].abs().max()
    assert (b["e"] - a["e"]).abs().max() <= 1e-9 * a["e"].abs().max()
    uncentred = GroupAveraging(NodeNet(), o3(), IN, OUT, eval_samples=8, center=False).eval()
    uncentred.generator = torch.Generator().manual_seed(0)
    y0 = uncentred(x)["y"]
    uncentred.generator = torch.Generator().manual_seed(0)
    assert (uncentred(moved)["y"] - shift - y0).abs().max() > 1e-3  # the control fails


def test_sorting_ties_are_flagged_only_when_sampled():
    h = torch.tensor([[0.0, 1, 0, 2, 1], [3.0, 3, 3, 3, 0], [1.0, 2, 3, 4, 5]], dtype=torch.float64)
    x = {"h": h, "pos": torch.randn(3, 5, 3, dtype=torch.float64)}
    full = FrameAveraging(NodeNet(), symmetric(), IN, OUT, key="h", max_ties=24)
    full(x)  # 2!2! = 4 and 4! = 24 tie-breaks: all enumerated, exact
    assert full.flagged.tolist() == [False, False, False]
    sampled = FrameAveraging(NodeNet(), symmetric(), IN, OUT, key="h", max_ties=6)
    sampled(x)  # 24 > 6: sampled for the second sample only
    assert sampled.flagged.tolist() == [False, True, False]
    assert sampled.metrics()["degenerate_fraction"] == pytest.approx(1 / 3)
    canon = Canonicalization(NodeNet(), symmetric(), IN, OUT)
    canon(x)  # one random tie-break wherever keys tie
    assert canon.flagged.tolist() == [True, True, False]


@pytest.mark.parametrize("name", ["pca", "centroid", "scale", "sort"])
def test_canonicalizers_name_non_finite_samples(name):
    from symkit.registry import registry

    group = {"pca": se3(), "centroid": translation(3), "scale": scaling(3),
             "sort": symmetric()}[name]
    h = registry("canonicalizers").get(name).load()(group, IN)
    x = dense(ETHANOL, FORMIC, ETHANOL)
    x["pos" if name != "sort" else "h"][2, 0] = float("nan")
    with pytest.raises(SampleError, match="sample 2"):
        h(x)

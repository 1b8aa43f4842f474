"""The shared forward: chunking, masks, ragged batches, stochastic frames, sorting ties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.errors import SpecError
from symkit.groups import c4, e3, o3, product, symmetric
from symkit.ops.scatter import scatter_mean
from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import FrameAveraging, GroupAveraging
from symkit.testing import assert_equivariant
from symkit.testing._symmetrizers import FlatMLP

IN = Spec({"pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True)})
GEN = torch.Generator().manual_seed(0)


class Recorder(nn.Module):
    """Wraps a backbone, recording the batch size of every call."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.sizes = inner, []

    def forward(self, sample):
        first = next(v for v in sample.values() if isinstance(v, torch.Tensor))
        self.sizes.append(int(sample.get("num_graphs", first.shape[0])))
        return self.inner(sample)


def test_chunked_equals_unchunked_and_respects_budget():
    x = {"pos": torch.randn(5, 4, 3, dtype=torch.float64, generator=GEN)}
    net = FlatMLP.for_sample(e3(), IN, OUT, x).double()
    full = FrameAveraging(net, e3(), IN, OUT)(x)
    rec = Recorder(net)
    chunked = FrameAveraging(rec, e3(), IN, OUT, chunk_size=7)(x)
    assert max(rec.sizes) <= 7 and sum(rec.sizes) == 5 * 8
    for k in full:
        torch.testing.assert_close(chunked[k], full[k], rtol=1e-12, atol=1e-12)
    spec2 = Spec({"pos": Field(point(), nodes=True)})
    y = {"pos": torch.randn(3, 4, 2, dtype=torch.float64, generator=GEN)}
    net2 = FlatMLP.for_sample(c4(), spec2, OUT, y).double()
    a = GroupAveraging(net2, c4(), spec2, OUT)(y)
    b = GroupAveraging(net2, c4(), spec2, OUT, chunk_size=5)(y)
    torch.testing.assert_close(a["v"], b["v"], rtol=1e-12, atol=1e-12)


def test_masked_point_sets():
    x = {"pos": torch.randn(3, 6, 3, dtype=torch.float64, generator=GEN)}
    x["mask"] = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 3 + [0] * 3]).bool()
    model = FrameAveraging(FlatMLP.for_sample(e3(), IN, OUT, x).double(), e3(), IN, OUT)
    y = model(x)
    assert y["v"].shape == (3, 6, 2, 3)
    assert_equivariant(model, e3(), IN, OUT, x, rtol=1e-9)
    # the frame ignores padded points: moving them changes no frame element
    moved = dict(x, pos=torch.where(x["mask"][..., None], x["pos"], x["pos"] + 5.0))
    assert torch.allclose(model.elements(moved)[0], model.elements(x)[0], atol=1e-12)


class NodeMLP(nn.Module):
    """Ragged, non-equivariant: node MLP on [x_i, mean_graph(x)]; graph output = mean of nodes."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double()

    def forward(self, s):
        b = int(s["num_graphs"])
        h = self.net(torch.cat([s["pos"], scatter_mean(s["pos"], s["batch"], b)[s["batch"]]], 1))
        return {"v": h[:, :3], "e": scatter_mean(h[:, 3:], s["batch"], b)}


def test_ragged_batches_match_per_graph_and_are_equivariant():
    sizes = [4, 7, 5]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    pos = torch.randn(sum(sizes), 3, dtype=torch.float64, generator=GEN)
    spec, out = Spec({"pos": point()}), Spec({"v": vector(), "e": scalar()})
    rec = Recorder(NodeMLP())
    model = FrameAveraging(rec, e3(), spec, out, chunk_size=10)
    y = model({"pos": pos, "batch": batch, "num_graphs": 3})
    assert max(rec.sizes) <= 10
    for b in range(3):
        one = model({"pos": pos[batch == b], "batch": torch.zeros(sizes[b], dtype=torch.long)})
        torch.testing.assert_close(y["v"][batch == b], one["v"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(y["e"][b], one["e"][0], rtol=1e-10, atol=1e-12)
    g = e3().sample(3, generator=GEN)
    gy = model({"pos": spec.act(e3(), g[batch], {"pos": pos})["pos"], "batch": batch})
    ref = out.act(e3(), g[batch], {"v": y["v"]})["v"]
    torch.testing.assert_close(gy["v"], ref, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gy["e"], y["e"], rtol=1e-9, atol=1e-10)


def test_stochastic_frame_averaging_train_vs_eval():
    x = {"pos": torch.randn(4, 5, 3, dtype=torch.float64, generator=GEN)}
    net = Recorder(FlatMLP.for_sample(o3(), IN, OUT, x).double())
    model = FrameAveraging(net, o3(), IN, OUT, stochastic=True, train_samples=2,
                           chunk_size=None)  # one call: its size counts the elements
    model.train()(x)
    assert net.sizes[-1] == 4 * 2 and not model.is_exact
    exact = FrameAveraging(net, o3(), IN, OUT).eval()
    y = model.eval()(x)
    assert net.sizes[-1] == 4 * 8 and model.is_exact
    torch.testing.assert_close(y["v"], exact(x)["v"])
    model.eval_samples = 3
    model(x)
    assert net.sizes[-1] == 4 * 3


def test_sorting_frames_with_ties_are_exact():
    group = symmetric(5)
    spec = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
    h = torch.tensor([[0.0, 1, 0, 2, 1], [3.0, 3, 3, 1, 0], [1.0, 2, 3, 4, 5]], dtype=torch.float64)
    x = {"h": h, "pos": torch.randn(3, 5, 3, dtype=torch.float64, generator=GEN)}
    model = FrameAveraging(FlatMLP.for_sample(group, spec, OUT, x).double(), group, spec, OUT)
    g, w = model.elements(x)
    assert w.shape == (3, 6)  # 2!*2! = 4, 3! = 6, 1
    assert torch.allclose(w.sum(1), torch.ones(3, dtype=torch.float64))
    assert (w[0] > 0).sum() == 4 and (w[2] > 0).sum() == 1
    assert_equivariant(model, group, spec, OUT, x, rtol=1e-9)
    assert model.metrics()["tied_fraction"] == 2 / 3
    sampled = FrameAveraging(model.backbone, group, spec, OUT, max_ties=2)
    assert sampled.elements(x)[1].shape == (3, 2)


def test_every_symmetrizer_on_a_node_permuting_group_rejects_ragged_batches():
    """S_N permutes a fixed number of nodes per sample; a ragged batch has none. Every
    symmetrizer on such a group raises a SpecError naming 'batch' (group averaging and
    constrained augmentation on O(3) x S_N crashed with a RuntimeError before)."""
    spec = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
    ragged = {"h": torch.ones(7, dtype=torch.float64),
              "pos": torch.randn(7, 3, dtype=torch.float64, generator=GEN),
              "batch": torch.tensor([0, 0, 0, 1, 1, 1, 1]), "num_graphs": torch.tensor(2)}
    group = product(["o3", symmetric(4)])
    for name in ("group_averaging", "constrained_augmentation", "frame_averaging",
                 "canonicalization"):
        model = registry("symmetrizers").get(name).load()(nn.Identity(), group, spec, OUT)
        with pytest.raises(SpecError, match="batch") as err:
            model.eval()(ragged)
        assert err.value.field == "batch", name


def test_check_finite_reads_all_fields_at_once_and_names_the_bad_one():
    from symkit.errors import SampleError
    from symkit.symmetrizers._batching import BatchLayout, check_finite

    x = {"pos": torch.zeros(3, 4, 3), "vel": torch.zeros(3, 4, 3), "n": torch.ones(3).long()}
    check_finite(x, ["pos", "vel", "n"], BatchLayout(3))
    x["vel"][2, 1, 0] = float("nan")
    with pytest.raises(SampleError) as err:
        check_finite(x, ["pos", "vel", "n"], BatchLayout(3))
    assert err.value.index == 2 and err.value.field == "vel"
    big = {"pos": torch.tensor([[[-6e4, 0.0, 6e4]]], dtype=torch.float16)}  # min - max: -inf
    check_finite(big, ["pos"], BatchLayout(1))  # finite values: the field search clears it


class ExtraOutput(nn.Module):
    """A per-point map with one more output ``aux`` of a given kind."""

    def __init__(self, aux):
        super().__init__()
        self.lin, self.aux = nn.Linear(3, 3).double(), aux

    def forward(self, s):
        v = self.lin(s["pos"])
        return {"v": v, "aux": self.aux(v)}


@pytest.mark.parametrize(("aux", "got"), [
    (lambda v: "note", "got str"), (lambda v: None, "got NoneType"),
    (lambda v: {"a": v}, "got dict"), (lambda v: v.sum(), "got a 0-dim tensor"),
])
@pytest.mark.parametrize("layout", ["dense", "ragged"])
@pytest.mark.parametrize("chunk", [None, "auto"])
def test_a_backbone_output_that_is_not_a_tensor_names_the_field(aux, got, layout, chunk):
    pos = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = ({"pos": pos} if layout == "dense" else
         {"pos": pos.reshape(15, 3), "batch": torch.arange(3).repeat_interleave(5)})
    model = FrameAveraging(ExtraOutput(aux), e3(), IN, OUT, chunk_size=chunk)
    with pytest.raises(SpecError, match=rf"^aux: a backbone output must be a tensor with one "
                                        rf"row per copy \(or node\), {got}$"):
        model(x)


@pytest.mark.parametrize("layout", ["dense", "ragged"])
def test_a_backbone_returning_no_dict_is_a_spec_error(layout):
    pos = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = ({"pos": pos} if layout == "dense" else
         {"pos": pos.reshape(15, 3), "batch": torch.arange(3).repeat_interleave(5)})
    model = FrameAveraging(lambda s: (s["pos"],), e3(), IN, OUT)
    with pytest.raises(SpecError, match="must return a dict of output fields, got tuple"):
        model(x)


class WrongShape(nn.Module):
    """A per-point map whose output ``v`` (a node vector of OUT) has a wrong layout."""

    def __init__(self, bug):
        super().__init__()
        self.lin, self.bug = nn.Linear(3, 3).double(), bug

    def forward(self, s):
        v = self.lin(s["pos"])
        ragged = "batch" in s
        if self.bug == "no_node_axis":  # summed over the nodes: still rotates like a vector
            v = v.sum(0 if ragged else 1, keepdim=ragged)
        elif self.bug == "transposed":
            v = v.transpose(-1, -2) if not ragged else v.reshape(3, -1)
        elif self.bug == "flat":
            v = v.flatten(1) if not ragged else v.reshape(-1)[:, None]
        elif self.bug == "row_missing":
            v = v[1:]
        return {"v": v, "e": s["pos"].sum(-1, keepdim=True)}


@pytest.mark.parametrize("bug", ["no_node_axis", "transposed", "flat", "row_missing"])
@pytest.mark.parametrize("layout", ["dense", "ragged"])
@pytest.mark.parametrize("chunk", [None, "auto", 2])
def test_a_backbone_output_of_the_wrong_shape_names_the_field_and_the_shape(bug, layout, chunk):
    """Was a RuntimeError from inside the average (or, for the node axis summed away, an output
    of the wrong shape accepted silently)."""
    pos = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = ({"pos": pos} if layout == "dense" else
         {"pos": pos.reshape(15, 3), "batch": torch.arange(3).repeat_interleave(5)})
    model = FrameAveraging(WrongShape(bug), e3(), IN, OUT, chunk_size=chunk)
    expected = r"\(B, N, \.\.\., 3\)" if layout == "dense" else r"\(T, \.\.\., 3\)"
    with pytest.raises(SpecError, match=rf"^v: backbone output \(one row per copy g\^-1 x of a "
                                        rf"sample\): expected shape {expected}"):
        model(x)


class PerPoint(nn.Module):
    """``v``: a per-point linear map to ``size`` features; ``w``: one more vector output."""

    def __init__(self, size: int):
        super().__init__()
        self.lin, self.mix = nn.Linear(3, size).double(), nn.Linear(3, 3).double()

    def forward(self, s):
        return {"v": self.lin(s["pos"]), "w": self.mix(s["pos"])}


def _points(layout: str):
    pos = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    if layout == "dense":
        return {"pos": pos}
    return {"pos": pos.reshape(15, 3), "batch": torch.arange(3).repeat_interleave(5)}


def _symmetrizers(backbone):
    from symkit.canonicalizers import Canonicalization

    out = Spec({"v": Field(vector(), nodes=True)})
    return [FrameAveraging(backbone, e3(), IN, out),
            FrameAveraging(backbone, e3(), IN, out, chunk_size=2),
            GroupAveraging(backbone, o3(), IN, out, train_samples=3, eval_samples=3),
            Canonicalization(backbone, e3(), IN, out, canonicalizer="pca")]


@pytest.mark.parametrize("size", [2, 4])
@pytest.mark.parametrize("layout", ["dense", "ragged"])
def test_a_backbone_output_of_the_wrong_size_for_its_rep_names_the_field(size, layout):
    for model in _symmetrizers(PerPoint(size)):
        with pytest.raises(SpecError, match=r"^v: backbone output \(one row per copy g\^-1 x "
                                            r"of a sample\): expected shape \((B, N|T), "
                                            r"\.\.\., 3\)"):
            model(_points(layout))


class PerSample(nn.Module):
    """``v``: one vector per sample (a pooled readout), though the spec declares it per node."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3).double()

    def forward(self, s):
        return {"v": self.lin(s["pos"]).mean(-2)}


def test_a_per_sample_output_declared_as_a_node_field_names_the_field():
    for model in _symmetrizers(PerSample()):  # dense: the node axis is missing
        with pytest.raises(SpecError, match=r"^v: backbone output \(one row per copy g\^-1 x "
                                            r"of a sample\): expected shape \(B, N, \.\.\., "
                                            r"3\)"):
            model(_points("dense"))

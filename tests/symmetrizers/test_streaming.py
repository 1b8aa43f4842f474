"""The dense element-major forward: same result as a loop over elements, any chunking."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import symkit.symmetrizers._streaming as streaming
from symkit.groups import e3, o3
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import Canonicalization, FrameAveraging, GroupAveraging
from symkit.symmetrizers._base import Symmetrizer

IN = Spec({"pos": Field(point(), nodes=True), "vel": Field(vector(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True), "p": Field(point(), nodes=True)})


class Net(nn.Module):
    """Not equivariant: per-point MLP plus a pooled term; outputs of every kind."""

    def __init__(self):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 7)).double()
        self.calls: list[int] = []

    def forward(self, s):
        self.calls.append(s["pos"].shape[0])
        h = self.phi(torch.cat([s["pos"], s["vel"]], -1))
        return {"e": h[..., :1].mean(1), "v": h[..., 1:4], "p": h[..., 4:7] + s["pos"],
                "extra": h[..., :2].sum(1), "n": s["pos"].new_ones(s["pos"].shape[0]).long()}


def loop(model: Symmetrizer, x):
    """Reference: one backbone call per element, transforms by the specs, weighted sum."""
    g, w = model.elements(x)
    b, k = w.shape
    acc = {}
    for j in range(k):
        gj = model.group.index(g, torch.arange(b) * k + j)
        y = model.backbone(model.in_spec.act(model.group, model.group.inverse(gj), x))
        y = model.out_spec.act(model.group, gj, {n: v for n, v in y.items() if n in OUT})
        for n, v in y.items():
            acc[n] = acc.get(n, 0) + v * w[:, j].reshape(-1, *[1] * (v.ndim - 1))
    return acc


def sample(b=5, n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"pos": torch.randn(b, n, 3, generator=gen, dtype=torch.float64) + 3.0,
            "vel": torch.randn(b, n, 3, generator=gen, dtype=torch.float64)}


@pytest.mark.parametrize("chunk", [None, 5, 7, 2, 13, "auto"])
def test_frame_averaging_matches_a_loop_for_every_chunking(chunk):
    x = sample()
    net = Net()
    model = FrameAveraging(net, e3(), IN, OUT, chunk_size=chunk)
    y = model(x)
    calls = list(net.calls)
    ref = loop(model, x)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    assert torch.equal(y["n"], torch.ones(5, dtype=torch.long))  # integers: element 0's
    assert sum(calls) == 5 * 8
    if isinstance(chunk, int):
        assert max(calls) <= chunk


def test_auto_chunks_from_measured_activations(monkeypatch):
    x = sample(b=6)
    net = Net()
    full = FrameAveraging(net, e3(), IN, OUT)(x)
    model = FrameAveraging(net, e3(), IN, OUT, chunk_size="auto")
    _, total = streaming.activation_bytes(net, {"pos": x["pos"], "vel": x["vel"]})
    assert total == 6 * 6 * (16 + 16 + 7) * 8  # Linear, Tanh, Linear outputs, float64
    per_copy = total // 6
    monkeypatch.setattr(streaming, "AUTO_BUDGET", 2 * per_copy)  # 2 copies per call
    net.calls.clear()
    y = model(x)
    assert net.calls[0] == 6  # the measuring call: element 0 of the whole batch
    assert max(net.calls[1:]) <= 2 and sum(net.calls) == 6 * 8
    assert list(model._activation_bytes.values()) == [per_copy]
    for name in OUT:
        torch.testing.assert_close(y[name], full[name], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(streaming, "AUTO_BUDGET", 100 * per_copy)  # all elements, one call
    net.calls.clear()
    model(x)
    assert net.calls == [6 * 8]


def test_group_averaging_and_canonicalization_match_a_loop():
    x = sample(b=4)
    for model in (GroupAveraging(Net(), o3(), IN, OUT, eval_samples=6, chunk_size=3,
                                 center=False, generator=torch.Generator().manual_seed(1)),
                  Canonicalization(Net(), e3(), IN, OUT, chunk_size="auto")):
        model.eval()
        if isinstance(model, GroupAveraging):
            model.generator.manual_seed(1)
            y = model(x)
            model.generator.manual_seed(1)
        else:
            y = model(x)
        ref = loop(model, x)
        for name in OUT:
            torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)


def test_gradient_flows_through_frame_and_backbone():
    x = sample(b=3)
    pos = x["pos"].clone().requires_grad_()
    model = FrameAveraging(Net(), e3(), IN, OUT, chunk_size=2)
    model({"pos": pos, "vel": x["vel"]})["e"].sum().backward()
    full = pos.grad.clone()
    pos.grad = None
    FrameAveraging(model.backbone, e3(), IN, OUT)({"pos": pos, "vel": x["vel"]})["e"].sum(
    ).backward()
    torch.testing.assert_close(pos.grad, full, rtol=1e-10, atol=1e-12)


def test_chunk_size_must_be_int_auto_or_none():
    with pytest.raises(ValueError, match="chunk_size"):
        FrameAveraging(Net(), e3(), IN, OUT, chunk_size="big")

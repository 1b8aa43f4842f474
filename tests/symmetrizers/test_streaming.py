"""The dense element-major forward: same result as a loop over elements, any chunking."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import symkit.symmetrizers._measuring as measuring
import symkit.symmetrizers._streaming as streaming
from symkit.errors import ConfigError
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
    first = model(x)
    net.calls.clear()  # auto: the first forward adds a dry measuring call
    y = model(x)
    calls = list(net.calls)
    for name in OUT:
        assert torch.equal(first[name], y[name])  # one plan on every forward
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
    full = FrameAveraging(net, e3(), IN, OUT, chunk_size=None)(x)
    model = FrameAveraging(net, e3(), IN, OUT, chunk_size="auto")
    _, total = measuring.activation_bytes(net, {"pos": x["pos"], "vel": x["vel"]})
    assert total == 6 * 6 * (16 + 16 + 7) * 8  # Linear, Tanh, Linear outputs, float64
    per_copy = total // 6
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 2 * per_copy)  # 2 copies per call
    net.calls.clear()
    y = model(x)
    assert net.calls[0] == 6  # the dry measuring call: element 0 of the whole batch, dropped
    assert max(net.calls[1:]) <= 2 and sum(net.calls[1:]) == 6 * 8
    assert list(model._activation_bytes.values()) == [per_copy]
    for name in OUT:
        torch.testing.assert_close(y[name], full[name], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 100 * per_copy)  # all elements, one call
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


@pytest.mark.parametrize("bad", ["big", 0, -3, True, 2.0])
def test_chunk_size_must_be_int_auto_or_none(bad):
    with pytest.raises(ConfigError, match="chunk_size must be a positive int"):
        FrameAveraging(Net(), e3(), IN, OUT, chunk_size=bad)


def planar_batch(b=5, flat=(1, 3), seed=3):
    """Samples ``flat`` lie in the plane z = 0: their out-of-plane sign is undecided (K = 2)."""
    x = sample(b=b, seed=seed)
    pos = x["pos"].clone()
    pos[list(flat), :, 2] = 0.0
    return {"pos": pos, "vel": x["vel"]}


@pytest.mark.parametrize("chunk", [None, 5, 2, "auto"])
def test_zero_weight_copies_are_not_computed(chunk):
    x = planar_batch()
    net = Net()
    model = Canonicalization(net, e3(), IN, OUT, chunk_size=chunk)
    if chunk == "auto":  # its first forward adds a dry measuring call
        model(x)
        net.calls.clear()
    y = model(x)
    g, w = model.elements(x)
    assert w.shape == (5, 2) and int((w > 0).sum()) == 5 + 2  # two samples need a second copy
    assert sum(net.calls) == 7  # five copies of element 0, two of element 1: none of weight 0
    ref = loop(model, x)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    assert torch.equal(y["n"], torch.ones(5, dtype=torch.long))


def test_zero_weight_copies_skipped_with_several_elements_per_call(monkeypatch):
    x = planar_batch(b=6, flat=(0, 4, 5))
    net = Net()
    model = Canonicalization(net, e3(), IN, OUT, chunk_size="auto")
    ref = loop(model, x)
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 10**9)  # both elements in one call
    model(x)  # measures
    net.calls.clear()
    y = model(x)
    assert net.calls == [6 + 3]
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    assert torch.equal(y["n"], torch.ones(6, dtype=torch.long))


def test_zero_weight_copies_run_when_the_weights_carry_a_gradient():
    x = planar_batch()
    weights = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    assert streaming.active_copies(weights) is None
    assert streaming.active_copies(weights.detach()).tolist() == [[True, True], [True, False]]
    net = Net()
    model = Canonicalization(net, e3(), IN, OUT, chunk_size=None)
    pos = x["pos"].clone().requires_grad_()
    model({"pos": pos, "vel": x["vel"]})["e"].sum().backward()  # grads through the points only
    assert sum(net.calls) == 7 and torch.isfinite(pos.grad).all()


@pytest.mark.parametrize(("b", "per_copy", "plan"), [
    (100, 192_000, (100, 1)),   # n-body GNN: 18 MiB per call, under twice 16 MiB: not split
    (32, 1_572_864, (11, 1)),   # PointNet 1024 points: 48 MiB, three calls of >= 16 MiB
    (6, 1000, (6, 8)),          # small: all elements in one call
    (6, 2**20, (6, 5)),         # 6 MiB per element: five elements per call, under 32 MiB
])
def test_auto_plan_cuts_calls_below_twice_the_budget(b, per_copy, plan):
    assert streaming._plan(b, 8, per_copy, None, 16 * 2**20) == plan


class FixedWeights(Symmetrizer):
    """Random elements of ``group`` with given weights (zeros included)."""

    def __init__(self, backbone, group, weights, **kw):
        super().__init__(backbone, group, IN, OUT, **kw)
        self.w = weights

    def elements(self, sample):
        b, k = self.w.shape
        g = self.group.sample(b * k, generator=torch.Generator().manual_seed(4))
        return g, self.w


@pytest.mark.parametrize("chunk", [None, 3])
def test_generic_path_skips_zero_weight_copies(chunk):
    from symkit.groups import symmetric

    x = sample(b=4)
    w = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5], [0.5, 0.0, 0.5]],
                     dtype=torch.float64)
    net = Net()
    model = FixedWeights(net, symmetric(6), w, chunk_size=chunk)
    y = model(x)
    assert sum(net.calls) == 8  # the non-zero weights only
    ref = loop(model, x)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    assert torch.equal(y["n"], torch.ones(4, dtype=torch.long))


class RaggedNet(nn.Module):
    """Per-node MLP on a ragged batch; a per-graph energy by summing over the graph's nodes."""

    def __init__(self):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 7)).double()
        self.graphs: list[int] = []

    def forward(self, s):
        b = int(s["num_graphs"])
        self.graphs.append(b)
        h = self.phi(torch.cat([s["pos"], s["vel"]], -1))
        e = h.new_zeros(b, 1).index_add_(0, s["batch"], h[:, :1])
        return {"e": e, "v": h[:, 1:4], "p": h[:, 4:7] + s["pos"]}


@pytest.mark.parametrize("chunk", [None, 2])
def test_ragged_batches_skip_zero_weight_copies(chunk):
    x = planar_batch()
    b, n = x["pos"].shape[:2]
    ragged = {"pos": x["pos"].reshape(-1, 3), "vel": x["vel"].reshape(-1, 3),
              "batch": torch.arange(b).repeat_interleave(n), "num_graphs": b}
    net = RaggedNet()
    model = Canonicalization(net, e3(), IN, OUT, chunk_size=chunk)
    y = model(ragged)
    assert sum(net.graphs) == 7  # five graphs for element 0, two for element 1
    dense = Canonicalization(_Densify(net), e3(), IN, OUT)(x)
    torch.testing.assert_close(y["e"], dense["e"], rtol=1e-12, atol=1e-12)
    for name in ("v", "p"):
        torch.testing.assert_close(y[name], dense[name].reshape(-1, 3), rtol=1e-12, atol=1e-12)


class _Densify(nn.Module):
    """The ragged net on a dense batch (every graph ``N`` nodes)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, s):
        b, n = s["pos"].shape[:2]
        y = self.net({"pos": s["pos"].reshape(-1, 3), "vel": s["vel"].reshape(-1, 3),
                      "batch": torch.arange(b).repeat_interleave(n), "num_graphs": b})
        return {"e": y["e"], "v": y["v"].reshape(b, n, 3), "p": y["p"].reshape(b, n, 3)}


def test_auto_joins_the_few_copies_of_a_sparse_element_to_the_full_call(monkeypatch):
    x = planar_batch()  # element 0: 5 copies, element 1: 2 copies
    net = Net()
    model = Canonicalization(net, e3(), IN, OUT, chunk_size="auto")
    model(x)
    per_copy = next(iter(model._activation_bytes.values()))
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 4 * per_copy)  # calls below 8 copies
    net.calls.clear()
    y = model(x)
    assert net.calls == [7]  # one call of 5 + 2 copies, not a second call of 2
    ref = loop(model, x)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 3 * per_copy)  # below 6: not joined
    net.calls.clear()
    model(x)
    assert net.calls == [5, 2]


def test_auto_is_the_default_chunking_of_the_built_in_symmetrizers():
    import inspect

    from symkit.registry import registry

    for cls in (GroupAveraging, FrameAveraging, Canonicalization):
        assert inspect.signature(cls).parameters["chunk_size"].default == "auto"
    for name in ("group_averaging", "frame_averaging", "canonicalization"):
        factory = registry("symmetrizers").get(name).load()
        assert inspect.signature(factory).parameters["chunk_size"].default == "auto"
    assert inspect.signature(Symmetrizer).parameters["chunk_size"].default is None


def ragged(x):
    b, n = x["pos"].shape[:2]
    return {"pos": x["pos"].reshape(-1, 3), "vel": x["vel"].reshape(-1, 3),
            "batch": torch.arange(b).repeat_interleave(n), "num_graphs": b}


def test_auto_on_the_sample_major_path_plans_calls_from_measured_bytes(monkeypatch):
    net = RaggedNet()
    one = ragged(sample(b=1))
    model = FrameAveraging(net, e3(), IN, OUT, chunk_size="auto")
    first = model(one)
    assert net.graphs == [1, 8]  # a dry measuring call on B copies, then all 8 at once
    net.graphs.clear()
    y = model(one)
    assert net.graphs == [8]  # a single molecule: its 8 frame copies in one call
    for name in OUT:
        assert torch.equal(y[name], first[name])  # the same plan, the same bits
    ref = FrameAveraging(net, e3(), IN, OUT, chunk_size=None)(one)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)
    five = ragged(sample(b=5))
    per_copy = next(iter(model._activation_bytes.values()))  # same graphs: no new measure
    monkeypatch.setattr(measuring, "AUTO_BUDGET", 3 * per_copy)  # calls of 3 to 5 copies
    net.graphs.clear()
    y = model(five)
    assert sum(net.graphs) == 40 and max(net.graphs) < 6 and min(net.graphs[:-1]) >= 3
    ref = FrameAveraging(net, e3(), IN, OUT, chunk_size=None)(five)
    for name in OUT:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [GroupAveraging, FrameAveraging, Canonicalization])
@pytest.mark.parametrize("layout", ["dense", "ragged"])
def test_auto_accepts_a_plain_function_backbone(cls, layout):
    """A backbone may be any callable (contrib plugins and tests pass lambdas): ``auto`` then
    has no modules to measure, makes no dry call and runs all copies in one call, as
    ``chunk_size=None`` does."""
    module = RaggedNet() if layout == "ragged" else Net()
    calls: list[int] = []

    def fn(s):
        calls.append(int(s["num_graphs"]) if "num_graphs" in s else s["pos"].shape[0])
        return module(s)

    group = o3() if cls is GroupAveraging else e3()
    x = sample()
    x = ragged(x) if layout == "ragged" else x
    torch.manual_seed(0)  # group averaging over O(3) draws its Haar samples
    y = cls(fn, group, IN, OUT, chunk_size="auto")(x)
    assert len(calls) == 1  # no dry measuring call, one call for all copies
    torch.manual_seed(0)
    ref = cls(fn, group, IN, OUT, chunk_size=None)(x)
    for name in OUT:
        assert torch.equal(y[name], ref[name])


class ForceNet(nn.Module):
    """An energy and its forces ``-dE/dx`` by autograd inside the forward (how interatomic
    potentials are written), dense or ragged."""

    def __init__(self):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()

    def forward(self, s):
        pos = s["pos"] if s["pos"].requires_grad else s["pos"].detach().requires_grad_(True)
        h = self.phi(pos)
        if "batch" in s:
            e = h.new_zeros(int(s["num_graphs"]), 1).index_add(0, s["batch"], h)
        else:
            e = h.sum((1, 2))[:, None]
        (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=self.training)
        return {"e": e, "v": -grad}


@pytest.mark.parametrize("cls", [GroupAveraging, FrameAveraging, Canonicalization])
@pytest.mark.parametrize("layout", ["dense", "ragged"])
def test_auto_dry_call_runs_in_the_callers_autograd_mode(cls, layout):
    """A backbone that differentiates inside its forward works under ``auto`` as under
    ``chunk_size=None``: the dry measuring call does not switch autograd off."""
    out = Spec({"e": scalar(), "v": Field(vector(), nodes=True)})
    spec = Spec({"pos": Field(point(), nodes=True)})
    x = {"pos": sample()["pos"]}
    if layout == "ragged":
        x = {"pos": x["pos"].reshape(-1, 3), "batch": torch.arange(5).repeat_interleave(6),
             "num_graphs": 5}
    group = o3() if cls is GroupAveraging else e3()
    net = ForceNet()
    torch.manual_seed(0)
    y = cls(net, group, spec, out, chunk_size="auto")(x)
    torch.manual_seed(0)
    ref = cls(net, group, spec, out, chunk_size=None)(x)
    for name in out:
        torch.testing.assert_close(y[name], ref[name], rtol=1e-12, atol=1e-12)


class NoisyNet(Net):
    """Draws random numbers in its forward, in eval mode too (a stochastic backbone)."""

    def forward(self, s):
        y = super().forward(s)
        y["e"] = y["e"] + torch.randn(y["e"].shape, dtype=y["e"].dtype)
        return y


@pytest.mark.parametrize("cls", [GroupAveraging, FrameAveraging, Canonicalization])
def test_auto_dry_call_leaves_the_random_state_alone(cls):
    """The dry call restores the global random state: a stochastic backbone draws the same
    numbers in the real calls as without it, so ``auto`` and one call agree bit for bit."""
    group = o3() if cls is GroupAveraging else e3()
    x = sample()
    torch.manual_seed(0)
    y = cls(NoisyNet(), group, IN, OUT, chunk_size="auto")(x)
    after_auto = torch.rand(1)
    torch.manual_seed(0)
    ref = cls(NoisyNet(), group, IN, OUT, chunk_size=None)(x)
    assert torch.equal(torch.rand(1), after_auto)
    for name in OUT:
        assert torch.equal(y[name], ref[name])


class StatefulNet(Net):
    """Keeps state that changes on every call, in any mode: a counter updated in place, a
    running mean rebound to a new tensor (``self.x = f(self.x)``), and a lazy layer."""

    def __init__(self):
        super().__init__()
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("mean_pos", torch.zeros(3, dtype=torch.float64))
        self.lazy = nn.LazyLinear(1).double()

    def forward(self, s):
        self.seen += 1
        self.mean_pos = 0.5 * self.mean_pos + 0.5 * s["pos"].detach().mean((0, 1))
        y = super().forward(s)
        return y | {"e": y["e"] + self.lazy(s["vel"]).mean(1)}


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference"])
def test_measure_per_copy_leaves_the_buffers_as_they_were(mode):
    """The dry call puts back every buffer it changes, in place or rebound, in every autograd
    mode of the caller; lazy buffers it materializes stay (the first real call would make them
    the same way)."""
    net, x = StatefulNet(), sample()
    net.seen.fill_(7)
    seen, mean_pos = net.seen, net.mean_pos.clone()
    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad,
               "inference": torch.inference_mode}[mode]
    with context():
        assert measuring.measure_per_copy(net, x, 5) > 0
    assert net.seen is seen and int(net.seen) == 7
    assert torch.equal(net.mean_pos, mean_pos)
    assert not isinstance(net.lazy.weight, nn.parameter.UninitializedParameter)


@pytest.mark.parametrize("cls", [GroupAveraging, FrameAveraging, Canonicalization])
def test_auto_leaves_the_backbone_state_of_the_real_calls(cls):
    """With ``auto``, a stateful backbone ends the forward in the state that its real calls
    alone leave: the dry measuring call counts for nothing."""
    group = o3() if cls is GroupAveraging else e3()
    x = sample()
    net = StatefulNet()
    model = cls(net, group, IN, OUT, chunk_size="auto")
    model(x)
    assert int(net.seen) == len(net.calls) - 1  # every call but the dry one
    before = net.mean_pos.clone()
    net.calls.clear()
    model(x)  # measured already: no dry call
    assert int(net.seen) == 2 * len(net.calls) and not torch.equal(net.mean_pos, before)


class ScriptableNet(nn.Module):
    """Per-point MLP written for :func:`torch.jit.script` (deployed potentials are TorchScript)."""

    def __init__(self):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 7)).double()

    def forward(self, s: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = self.phi(torch.cat([s["pos"], s["vel"]], -1))
        return {"e": h[:, :, :1].mean(1), "v": h[:, :, 1:4], "p": h[:, :, 4:7] + s["pos"]}


class Counted(nn.Module):
    """A Python wrapper around a (scripted) module, counting its calls."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, s):
        self.calls += 1
        return self.inner(s)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("cls", [GroupAveraging, FrameAveraging, Canonicalization])
def test_auto_accepts_a_torchscript_backbone(cls):
    """TorchScript modules take no forward hooks: ``auto`` does not measure them (no dry call,
    all copies in one call, as ``chunk_size=None``), bare or inside a Python module."""
    scripted = torch.jit.script(ScriptableNet())
    group = o3() if cls is GroupAveraging else e3()
    x = sample()
    torch.manual_seed(0)
    ref = cls(scripted, group, IN, OUT, chunk_size=None)(x)
    torch.manual_seed(0)
    y = cls(scripted, group, IN, OUT, chunk_size="auto")(x)
    wrapped = Counted(scripted)
    torch.manual_seed(0)
    y_wrapped = cls(wrapped, group, IN, OUT, chunk_size="auto")(x)
    assert wrapped.calls == 1
    for name in OUT:
        assert torch.equal(y[name], ref[name]) and torch.equal(y_wrapped[name], ref[name])


class DictLeaf(nn.Module):
    """A leaf module (its own parameters, no submodules) returning a dict of fields."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 7, dtype=torch.float64))

    def forward(self, s):
        h = torch.cat([s["pos"], s["vel"]], -1) @ self.w
        return {"e": h[..., :1].mean(1), "v": h[..., 1:4], "p": h[..., 4:7] + s["pos"]}


class NestedLeaves(nn.Module):
    """Leaves whose outputs nest: an LSTM's ``(out, (h, c))`` and a dict-returning leaf."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(6, 4, batch_first=True).double()
        self.head = DictLeaf()

    def forward(self, s):
        out, _ = self.rnn(torch.cat([s["pos"], s["vel"]], -1))
        return self.head(s) | {"e": out[..., :1].mean(1)}


def test_activation_bytes_count_nested_and_dict_outputs_of_leaves():
    """Every tensor a leaf returns is an activation: a dict-returning backbone without
    submodules is measured (it used to count 0 bytes: all copies in one call, any size)."""
    x = sample(b=4, n=6)
    _, nbytes = measuring.activation_bytes(DictLeaf(), x)
    assert nbytes == 8 * 4 * (1 + 6 * 3 + 6 * 3)
    _, nbytes = measuring.activation_bytes(NestedLeaves(), x)
    assert nbytes == 8 * 4 * (6 * 4 + 4 + 4) + 8 * 4 * (1 + 6 * 3 + 6 * 3)

"""``learned_canonicalization``: exact at evaluation, trainable through straight-through choices."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.reps import image, scalar, vector
from symkit.testing._symmetrizers import FlatMLP, check_symmetrizer

from .._cases import (
    DTYPE_IDS,
    DTYPES,
    OUT_SPECS,
    group,
    image_out_spec,
    image_sample,
    image_spec,
    point_sample,
    point_spec,
)

POINT_GROUPS = ["o3", "so3", "e3", "se3", "e2", "c4", "d4"]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("out", ["invariant", "equivariant"])
@pytest.mark.parametrize("gname", POINT_GROUPS)
def test_exact_on_point_sets(gname, out, dtype):
    """Default network per group: point frames for O/SO/E/SE, orbit scores for C4/D4."""
    g = group(gname)
    sample = point_sample(d=g.dim, batch=3)
    check_symmetrizer("learned_canonicalization", g, point_spec(), OUT_SPECS[out], sample,
                      dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("out", ["invariant", "equivariant"])
def test_exact_on_sets(out, dtype):
    g = group("symmetric", 6)
    check_symmetrizer("learned_canonicalization", g, point_spec(), OUT_SPECS[out],
                      point_sample(batch=3), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["c4", "d4"])
def test_exact_on_images_with_group_cnn(gname, dtype):
    g = group(gname)
    sample = image_sample(batch=4)
    params = {"canonicalizer": {"type": "learned_group_cnn", "hidden": 8}}
    check_symmetrizer("learned_canonicalization", g, image_spec(), image_out_spec(), sample,
                      dtype=dtype, params=params)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("gname", "grid"), [("so2", "c4"), ("o2", "d4")])
def test_image_frame_model_exact_on_grid_elements(gname, grid, dtype):
    """SO(2)/O(2) on images: exact for the grid's own rotations and flips."""
    g, sub = group(gname), group(grid)
    sample = image_sample(batch=sub.order)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, image_spec(), image_out_spec(), sample).to(dtype)
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, image_spec(), image_out_spec(),
        canonicalizer={"type": "learned_image_frame"},
    ).eval()
    m = sub.matrix(sub.elements())
    x = sample["image"]
    with torch.no_grad():
        y = model({"image": x.to(dtype)})
        y_g = model({"image": image().act(g, m, x).to(dtype)})
    ref = vector().act(g, m, y["v"].double())
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert (y_g["v"].double() - ref).norm() <= tol * ref.norm()
    assert (y_g["e"].double() - y["e"].double()).norm() <= tol * y["e"].double().norm()


@pytest.mark.parametrize("gname", ["c4", "o3", "symmetric"])
def test_training_reaches_the_canonicalizer(gname):
    """Straight-through (finite, S_N) or differentiable (matrix) choices give gradients, and the
    training forward equals the exact evaluation forward."""
    g = group(gname) if gname != "symmetric" else group("symmetric", 6)
    sample = point_sample(d=g.dim or 3, batch=4)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["equivariant"], sample).double()
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, point_spec(), OUT_SPECS["equivariant"],
    ).double()
    model.eval()
    with torch.no_grad():
        y_eval = model(sample)
    model.train()
    y = model(sample)
    for name in y:
        assert torch.allclose(y[name], y_eval[name], atol=1e-12), name
    sum(v.pow(2).sum() for v in y.values()).backward()
    grads = [p.grad for p in model.canonicalizer.parameters()]
    assert any(gr is not None and gr.abs().sum() > 0 for gr in grads)


def test_sort_training_refuses_padded_batches():
    """The S_N training path permutes nodes softly, so a padding mask cannot follow it: a padded
    batch is refused by name (a full mask trains as usual)."""
    from symkit.errors import SpecError

    g = group("symmetric", 6)
    sample = point_sample(batch=4)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["equivariant"], sample).double()
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, point_spec(), OUT_SPECS["equivariant"],
    ).double().train()
    full = {**sample, "mask": torch.ones(4, 6, dtype=torch.bool)}
    model(full)
    padded = {**sample, "mask": full["mask"].clone()}
    padded["mask"][1, 4:] = False
    with pytest.raises(SpecError, match="mask"):
        model(padded)


def test_prior_loss_and_identity_rate_reach_the_model():
    g = group("c4")
    sample = point_sample(d=2, batch=4)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, point_spec(), OUT_SPECS["invariant"],
        canonicalizer={"type": "learned_orbit_scores", "prior_weight": 0.5},
    ).train()
    model(sample)
    losses = model.extra_losses()
    assert set(losses) == {"canonicalization_prior"} and losses["canonicalization_prior"] > 0
    assert 0.0 <= model.metrics()["identity_rate"] <= 1.0


class _CountingBackbone(torch.nn.Module):
    """Wraps a backbone and records the batch size of every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, sample):
        self.calls.append(next(v.shape[0] for v in sample.values() if torch.is_tensor(v)))
        return self.inner(sample)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["c4", "d4"])
def test_mix_and_one_train_modes_are_one_backbone_call(gname, dtype):
    """``train_mode: mix`` and ``one``: the training forward equals the exact evaluation
    forward, costs one backbone call on ``B`` inputs (``all``: ``|G| B``), and its gradient
    reaches the scores."""
    g = group(gname)
    sample = {k: v.to(dtype) for k, v in image_sample(batch=4).items()}
    torch.manual_seed(0)
    counted = {}
    for mode in ("all", "mix", "one"):
        torch.manual_seed(0)
        inner = FlatMLP.for_sample(g, image_spec(), image_out_spec(), sample).to(dtype)
        backbone = _CountingBackbone(inner)
        model = registry("symmetrizers").build(
            "learned_canonicalization", backbone, g, image_spec(), image_out_spec(),
            canonicalizer={"type": "learned_group_cnn", "hidden": 8}, train_mode=mode,
        ).to(dtype)
        model.eval()
        with torch.no_grad():
            y_eval = model(sample)
        model.train()
        backbone.calls.clear()
        y = model(sample)
        counted[mode] = list(backbone.calls)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        for name in y:  # mix, one: one backbone call on exactly the canonicalized inputs
            same = (torch.equal(y[name], y_eval[name]) if mode != "all"
                    else torch.allclose(y[name], y_eval[name], rtol=tol, atol=tol))
            assert same, (mode, name)
        sum(v.pow(2).sum() for v in y.values()).backward()
        grads = [p.grad for p in model.canonicalizer.parameters()]
        assert any(gr is not None and gr.abs().sum() > 0 for gr in grads), mode
    assert counted == {"all": [4 * g.order], "mix": [4], "one": [4]}


def test_train_mode_default_and_unknown():
    g = group("c4")
    sample = image_sample(batch=2)
    backbone = FlatMLP.for_sample(g, image_spec(), image_out_spec(), sample)
    build = registry("symmetrizers").build
    model = build("learned_canonicalization", backbone, g, image_spec(), image_out_spec())
    assert model.train_mode == "all" and model.train().num_elements() == 4
    from symkit.errors import ConfigError

    with pytest.raises(ConfigError, match="train_mode"):
        build("learned_canonicalization", backbone, g, image_spec(), image_out_spec(),
              train_mode="every")


@pytest.mark.parametrize("gname", ["c4", "d4"])
def test_mix_mode_matches_its_formula_sample_by_sample(gname):
    """``train_mode: mix`` computes ``sum_k w_k g_k . f(sum_j w_j g_j^-1 x)`` with
    straight-through weights ``w``: its outputs equal the canonicalized outputs bit for bit
    (the weights are exactly one-hot forward) and its gradient to the canonicalizer equals that
    of the formula written out one sample and one element at a time (float64)."""
    from symkit.symmetrizers.learned._relax import straight_through_onehot

    g = group(gname)
    sample = image_sample(batch=5)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, image_spec(), image_out_spec(), sample).double()
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, image_spec(), image_out_spec(),
        canonicalizer={"type": "learned_group_cnn", "hidden": 8}, train_mode="mix").double()
    model.eval()
    with torch.no_grad():
        y_eval = model(sample)
    model.train()
    y = model(sample)
    for name in y:
        assert torch.equal(y[name], y_eval[name]), name
    loss = sum((v * torch.linspace(-1, 1, v.numel(), dtype=v.dtype).reshape(v.shape)).sum()
               for v in y.values())
    params = list(model.canonicalizer.parameters())
    got = torch.autograd.grad(loss, params)

    w = straight_through_onehot(model.canonicalizer.propose(sample).logits)
    el, img, vec = g.elements(), image(), vector()
    ref = 0
    for b in range(5):
        x = sample["image"][b:b + 1]
        mixed = sum(w[b, j] * img.act(g, g.inverse(el[j:j + 1]), x) for j in range(g.order))
        out = backbone({"image": mixed})
        e = sum(w[b, k] * out["e"] for k in range(g.order))
        v = sum(w[b, k] * vec.act(g, el[k:k + 1], out["v"]) for k in range(g.order))
        ref = ref + (e * torch.linspace(-1, 1, y["e"].numel(), dtype=e.dtype).reshape(
            y["e"].shape)[b:b + 1]).sum() + (v * torch.linspace(
                -1, 1, y["v"].numel(), dtype=v.dtype).reshape(y["v"].shape)[b:b + 1]).sum()
    want = torch.autograd.grad(ref, params)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    assert any(a.abs().sum() > 0 for a in got)


class _ImageHeads(torch.nn.Module):
    """A non-equivariant backbone with an invariant, a vector and an image output."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.head = torch.nn.Linear(2 * 8 * 8, 3)

    def forward(self, sample):
        h = torch.tanh(self.conv(sample["image"]))
        z = self.head(h.flatten(1))
        return {"e": z[:, :1], "v": z[:, 1:], "seg": h}


@pytest.mark.parametrize("gname", ["c4", "d4"])
def test_mix_mode_gradients_of_every_input_and_parameter(gname):
    """``train_mode: mix`` with an image output (non-invariant, mixed by one gather and one
    batched product) besides scalar and vector ones: the gradients with respect to the
    canonicalizer, the backbone and the input image equal those of the formula
    ``sum_k w_k g_k . f(sum_j w_j g_j^-1 x)`` written one sample and one element at a time
    (float64, to rounding)."""
    from symkit.spec import Spec
    from symkit.symmetrizers.learned._relax import straight_through_onehot

    g = group(gname)
    out_spec = Spec({"e": scalar(), "v": vector(), "seg": image()})
    torch.manual_seed(0)
    backbone = _ImageHeads().double()
    model = registry("symmetrizers").build(
        "learned_canonicalization", backbone, g, image_spec(), out_spec,
        canonicalizer={"type": "learned_group_cnn", "hidden": 8}, train_mode="mix").double()
    model.train()
    x = image_sample(batch=4)["image"].requires_grad_()
    y = model({"image": x})
    probe = {n: torch.randn(v.shape, generator=torch.Generator().manual_seed(5),
                            dtype=v.dtype) for n, v in y.items()}
    params = [x, *model.canonicalizer.parameters(), *backbone.parameters()]
    got = torch.autograd.grad(sum((y[n] * probe[n]).sum() for n in y), params)

    w = straight_through_onehot(model.canonicalizer.propose({"image": x}).logits)
    el = g.elements()
    ref = 0
    for b in range(4):
        xb = x[b:b + 1]
        mixed = sum(w[b, j] * image().act(g, g.inverse(el[j:j + 1]), xb) for j in range(g.order))
        out = backbone({"image": mixed})
        for name, rep in (("e", None), ("v", vector()), ("seg", image())):
            mix = sum(w[b, k] * (out[name] if rep is None else rep.act(g, el[k:k + 1], out[name]))
                      for k in range(g.order))
            ref = ref + (mix * probe[name][b:b + 1]).sum()
    want = torch.autograd.grad(ref, params)
    for i, (a, c) in enumerate(zip(got, want)):
        assert torch.allclose(a, c, rtol=1e-10, atol=1e-12), i
    assert got[0].abs().sum() > 0 and got[1].abs().sum() > 0

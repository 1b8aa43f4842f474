"""Learned canonicalizers: ``h(g x) = g h(x)`` for every network, on generic inputs."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.reps import image, point, scalar
from symkit.spec import Field, Spec

from .._cases import DTYPE_IDS, DTYPES, group, image_sample, point_sample, point_spec


def build(name: str, g, spec: Spec, dtype: torch.dtype, **params):
    torch.manual_seed(0)
    return registry("canonicalizers").build(name, group=g, in_spec=spec, **params).to(dtype)


def close(a, b, dtype, f32_tol: float = 1e-5) -> bool:
    """Relative Frobenius error within 1e-9 (float64) or ``f32_tol`` (float32)."""
    tol = 1e-9 if dtype == torch.float64 else f32_tol
    a, b = a.to(torch.float64), b.to(torch.float64)
    return (a - b).norm().item() <= tol * b.norm().item()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["c4", "d4"])
def test_group_cnn_is_equivariant(gname, dtype):
    g = group(gname)
    c = build("learned_group_cnn", g, Spec({"image": image()}), dtype, in_channels=2)
    x = image_sample(batch=6, channels=2, dtype=dtype)["image"]
    el = g.elements()
    x = x[: el.shape[0]] if el.shape[0] <= x.shape[0] else x.repeat(2, 1, 1, 1)[: el.shape[0]]
    gx = image().act(g, el, x)
    with torch.no_grad():
        assert g.allclose(c({"image": gx}), g.compose(el, c({"image": x})))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("gname", "grid"), [("so2", "c4"), ("o2", "d4")])
def test_image_frame_is_equivariant_on_the_grid(gname, grid, dtype):
    """Exact for the 90-degree rotations (and flips) that act on the grid without resampling."""
    g, sub = group(gname), group(grid)
    c = build("learned_image_frame", g, Spec({"image": image()}), dtype)
    m = sub.matrix(sub.elements()).to(dtype)
    x = image_sample(batch=m.shape[0], dtype=dtype)["image"]
    with torch.no_grad():
        h, h_g = c({"image": x}), c({"image": image().act(g, m, x)})
    assert close(h_g, m.double() @ h.double(), dtype)
    det = torch.linalg.det(h.double()).abs()
    assert close(det, torch.ones_like(det), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["o3", "so3", "e3", "se3", "o2", "e2"])
def test_point_frame_is_equivariant(gname, dtype):
    g = group(gname)
    c = build("learned_point_frame", g, point_spec(), dtype)
    x = point_sample(d=g.dim, batch=5)  # float64; transformed in float64, then cast
    gen = torch.Generator().manual_seed(1)
    for kind in (None, *g.kinds):
        el = g.sample(5, generator=gen) if kind is None else g.sample_kind(kind, 5, generator=gen)
        gx = point().act(g, el, x["pos"]).to(dtype)
        with torch.no_grad():
            h = c({"pos": x["pos"].to(dtype)})
            h_g = c({"pos": gx})
        assert close(h_g, g.compose(el, h.double()), dtype), kind
    det = torch.linalg.det(g.matrix(h.double()))
    assert close(det.abs(), torch.ones_like(det), dtype)
    if "reflection" not in g.kinds:
        assert bool((det > 0).all())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_sort_is_equivariant(dtype):
    g = group("symmetric", 6)
    c = build("learned_sort", g, point_spec(), dtype)
    x = point_sample(dtype=dtype)
    el = g.sample(3, generator=torch.Generator().manual_seed(2))
    gx = point_spec().act(g, el, x)
    with torch.no_grad():
        assert torch.equal(c(gx), g.compose(el, c(x)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["c4", "d4", "trivial"])
def test_orbit_scores_is_equivariant(gname, dtype):
    """The generic finite-group canonicalizer, here on planar points."""
    g = group(gname)
    spec = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
    c = build("learned_orbit_scores", g, spec, dtype)
    x = point_sample(d=2, batch=8, dtype=dtype)
    el = g.sample(8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        c(x)  # materialize the lazy layer before comparing
        assert g.allclose(c(spec.act(g, el, x)), g.compose(el, c(x)))


def test_prior_and_identity_rate():
    g = group("c4")
    c = build("learned_group_cnn", g, Spec({"image": image()}), torch.float64, prior_weight=1.0)
    opt = torch.optim.Adam(c.parameters(), lr=0.05)
    x = image_sample(batch=16)
    c(x)
    start = c.metrics()["identity_rate"]
    for _ in range(40):
        c(x)
        loss = c.extra_losses()["canonicalization_prior"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    c(x)
    assert c.metrics()["identity_rate"] >= max(start, 0.9)


def test_unsupported_group_is_refused():
    with pytest.raises(ValueError, match="does not support"):
        registry("canonicalizers").build("learned_group_cnn", group=group("so3"))

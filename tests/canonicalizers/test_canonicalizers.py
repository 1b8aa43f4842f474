"""Deterministic canonicalizers: h(g x) = g h(x) on generic inputs; registry parametrized."""

from __future__ import annotations

import pytest
import torch

from symkit.groups import e3, o2, scaling, se3, so3, symmetric, translation
from symkit.registry import registry
from symkit.reps import point, scalar
from symkit.spec import Field, Spec

SPEC = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
GROUPS = [e3(), se3(), so3(), o2(), translation(3), scaling(3), symmetric(5)]
#: the fixed (not learned) core canonicalizers; learned ones are tested in test_learned.py
CORE = [e for e in registry("canonicalizers").entries()
        if e.origin.startswith("symkit.canonicalizers.") and not e.name.startswith("learned_")]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", [e.name for e in CORE])
@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_canonicalizer_is_equivariant(name, group, dtype):
    entry = registry("canonicalizers").get(name)
    factory = entry.load()
    if not entry.supports(group):
        pytest.skip(f"{name} does not support {group!r}")
    gen = torch.Generator().manual_seed(0)
    d = group.dim or 3
    x = {"h": torch.randn(4, 5, dtype=dtype, generator=gen),
         "pos": torch.randn(4, 5, d, dtype=dtype, generator=gen)}
    h = factory(group, SPEC)
    g = group.sample(4, generator=gen, dtype=torch.float64)
    gx = {k: v.to(dtype) for k, v in SPEC.act(group, g, {k: v.double() for k, v in x.items()})
          .items()}
    lhs, rhs = h(gx), group.compose(g, h(x))
    atol = 1e-9 if dtype == torch.float64 else 1e-4
    if lhs.is_floating_point():
        torch.testing.assert_close(lhs.double(), rhs.double(), atol=atol, rtol=0)
    else:
        assert torch.equal(lhs, rhs)


def test_every_group_has_a_canonicalizer():
    for group in GROUPS:
        assert any(e.supports(group) for e in CORE), group


def test_pca_sign_fallback_is_measured():
    cube = torch.tensor([[x, y, z] for x in (-1.0, 1) for y in (-2.0, 2) for z in (-3.0, 3)])
    h = registry("canonicalizers").get("pca").load()(se3(), SPEC)
    g = h({"pos": cube[None].double(), "h": torch.zeros(1, 8)})
    assert torch.isfinite(g).all() and torch.linalg.det(g[:, :3, :3]).item() == pytest.approx(1)
    assert h.metrics()["ambiguous_sign_fraction"] == 1.0

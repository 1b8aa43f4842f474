"""Every core backbone builds from the registry and runs on any batch size."""

from __future__ import annotations

import pytest
import torch

from symkit.config import build
from symkit.registry import registry
from symkit.reps import Scalar
from symkit.spec import Field, Spec

#: Per backbone: YAML-like parameters and a sample maker ``b -> sample``; expected out shapes.
EXAMPLES = {
    "mlp": (
        {"reads": ["pos", "vel"], "writes": {"y": [5, 3], "logit": [2]}},
        lambda b: {"pos": torch.randn(b, 5, 3), "vel": torch.randn(b, 5, 3)},
        {"y": (5, 3), "logit": (2,)},
    ),
    "deepsets": (
        {"reads": ["pos"], "writes": {"y": [-1, 3], "logit": [2]}, "hidden": 16},
        lambda b: {"pos": torch.randn(b, 5, 3)},
        {"y": (5, 3), "logit": (2,)},
    ),
    "set_transformer": (
        {"reads": ["pos"], "writes": {"y": [-1, 3], "logit": [2]}, "dim": 16},
        lambda b: {"pos": torch.randn(b, 5, 3)},
        {"y": (5, 3), "logit": (2,)},
    ),
    "cnn": (
        {"writes": {"logits": [10]}, "channels": [4, 8]},
        lambda b: {"image": torch.randn(b, 1, 12, 12)},
        {"logits": (10,)},
    ),
}

CORE = [e.name for e in registry("backbones").entries("symkit::*")]


@pytest.mark.parametrize("name", CORE)
@pytest.mark.parametrize("batch", [0, 1, 7])
def test_builds_and_runs(name: str, batch: int):
    if name not in EXAMPLES:
        pytest.fail(f"core backbone '{name}' has no example in {__file__}; add one")
    params, make, shapes = EXAMPLES[name]
    model = build({"type": name, **params}, "backbones", key="model.backbone")
    model.eval()
    out = model(make(batch))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        k: (batch, *s) for k, s in shapes.items()
    }
    assert all(torch.isfinite(v).all() for v in out.values())


def test_reads_default_to_in_spec():
    spec = Spec({"pos": Field(Scalar(), nodes=True), "q": Field(Scalar(), nodes=True)})
    model = build({"type": "deepsets", "writes": {"y": [1]}}, "backbones",
                  key="model.backbone", context={"in_spec": spec})
    assert model.reads == ["pos", "q"]
    out = model({"pos": torch.randn(3, 4, 3), "q": torch.randn(3, 4, 1)})
    assert out["y"].shape == (3, 1)


def test_backward_reaches_all_parameters():
    params, make, _ = EXAMPLES["set_transformer"]
    model = build({"type": "set_transformer", **params}, "backbones", key="b")
    out = model(make(4))
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None for p in model.parameters())

"""``check_backbone``: a correct node backbone passes; each bug real authors make fails with one
line naming the layout, the field and what was expected."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.testing import check_backbone

O3 = registry("groups").build("o3")
IN = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True)})


class PointNet(nn.Module):
    """Per-node MLP, masked sum pool: ``e (B, 1)``, ``v (B, N, 3)``; ``bug`` breaks one thing."""

    def __init__(self, bug: str = ""):
        super().__init__()
        self.bug = bug
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 4))

    def forward(self, sample):
        x = torch.cat([sample["h"][..., None], sample["pos"]], -1)
        if self.bug == "batch_norm":  # statistics over the batch: samples see each other
            x = x - x.mean(0, keepdim=True)
        y = self.net(x)
        mask = sample.get("mask")
        if mask is not None and self.bug != "mask":
            y = y * mask[..., None]
        e, v = y[..., :1].sum(-2), y[..., 1:]
        if self.bug == "nodes":
            v = v.sum(1)
        elif self.bug == "transpose":
            v = v.transpose(1, 2)
        elif self.bug == "row":
            e = e[1:]
        elif self.bug == "float64":
            e = e.double()
        elif self.bug == "empty":
            e = e.reshape(e.shape[0], -1, 1)[:, 0]
        return {"e": e, "v": v}


def test_a_correct_backbone_passes():
    check_backbone(PointNet(), O3, IN, OUT)


@pytest.mark.parametrize(("bug", "match"), [
    ("nodes", r"\[float64\] on the batch: output field 'v': expected shape \(B, N, \.\.\., 3\), "
              r"got \(3, 3\)"),
    ("transpose", r"on the batch: output field 'v': expected shape \(B, N, \.\.\., 3\), "
                  r"got \(3, 3, 5\)"),
    ("row", r"output field 'e': expected shape \(B, \.\.\.\) with B = 3 samples, got \(2, 1\)"),
    ("float64", r"\[float32\] on the batch: output field 'e' has dtype torch.float64 for "
                r"torch.float32 inputs"),
    ("mask", r"output field 'e' changes with the padding of a masked batch"),
    ("batch_norm", r"output field '(e|v)' of sample 0 depends on the rest of the batch"),
    ("empty", r"on the empty batch \(B = 0\): crashed with RuntimeError"),
])
def test_each_bug_fails_naming_the_layout_and_field(bug, match):
    with pytest.raises(AssertionError, match=f"backbone PointNet .*{match}"):
        check_backbone(PointNet(bug), O3, IN, OUT)


@pytest.mark.parametrize(("name", "params"), [
    ("deepsets", {"hidden": 8}),
    ("set_transformer", {"dim": 8, "heads": 2}),
])
def test_core_node_backbones_pass(name, params):
    check_backbone(name, O3, IN, OUT, params={"reads": ["h", "pos"],
                                              "writes": {"e": [1], "v": [-1, 3]}, **params})


def test_a_flat_mlp_passes_without_the_padded_layout():
    out = Spec({"e": scalar(), "w": vector()})
    check_backbone("mlp", O3, IN, out, params={"reads": ["h", "pos"],
                                               "writes": {"e": [1], "w": [3]}}, masks=False)

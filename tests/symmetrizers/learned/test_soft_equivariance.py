"""``soft_equivariance``: zero penalty for an equivariant backbone; training lowers the error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.reps import scalar
from symkit.spec import Spec
from symkit.testing import equivariance_error
from symkit.testing._symmetrizers import FlatMLP

from ..._cases import OUT_SPECS, group, point_sample, point_spec


class Centred(nn.Module):
    """An E(3)- and permutation-equivariant backbone: ``y_i = x_i - mean(x)``, ``e = |x - c|^2``."""

    def forward(self, sample):
        x = sample["pos"]
        y = x - x.mean(dim=1, keepdim=True)
        return {"e": y.pow(2).sum(dim=(1, 2))[:, None, None].expand(-1, 1, 1).squeeze(-1),
                "v": y[:, :, None], "y": x[:, :, None]}


def build(backbone, g, out_spec, **params):
    return registry("symmetrizers").build("soft_equivariance", backbone, g, point_spec(),
                                          out_spec, **params)


def test_penalty_vanishes_for_an_equivariant_backbone():
    g = group("e3")
    out = Spec({"e": scalar(), **{k: OUT_SPECS["equivariant"][k] for k in ("v", "y")}})
    model = build(Centred(), g, out).train()
    model(point_sample(batch=4))
    losses = model.extra_losses()
    assert set(losses) == {f"soft_equivariance_{k}" for k in g.kinds}
    assert all(v.item() < 1e-20 for v in losses.values())


def test_penalty_is_positive_otherwise_and_only_while_training():
    g = group("e3")
    sample = point_sample(batch=4)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["equivariant"], sample).double()
    model = build(backbone, g, OUT_SPECS["equivariant"],
                  weights={"rotation": 1.0, "translation": 0.5}).train()
    y = model(sample)
    losses = model.extra_losses()
    assert set(losses) == {"soft_equivariance_rotation", "soft_equivariance_translation"}
    assert all(v.item() > 1e-3 for v in losses.values())
    assert torch.equal(y["e"], backbone(sample)["e"])  # the forward is the plain backbone
    model.eval()
    model(sample)
    assert model.extra_losses() == {}


def test_unknown_kind_is_refused():
    with pytest.raises(ConfigError, match="permutation"):
        build(nn.Identity(), group("so3"), OUT_SPECS["invariant"], weights={"permutation": 1.0})


def test_training_lowers_the_equivariance_error():
    """Fit an SO(2)-invariant target with an MLP; the penalty makes the fit more invariant."""
    torch.manual_seed(0)
    g = group("so2")
    data = point_sample(n_nodes=4, d=2, batch=64, seed=1)
    target = data["pos"].pow(2).sum(dim=(1, 2))[:, None]

    def train(weight: float) -> float:
        torch.manual_seed(0)
        backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], data,
                                      channels=1, hidden=32).double()
        model = build(backbone, g, OUT_SPECS["invariant"], weights={"rotation": weight})
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.train()
        for _ in range(150):
            loss = (model(data)["e"] - target).pow(2).mean()
            loss = loss + sum(model.extra_losses().values(), torch.zeros(()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            return equivariance_error(model, g, point_spec(), OUT_SPECS["invariant"], data,
                                      generator=torch.Generator().manual_seed(0)).relative

    assert train(10.0) < 0.5 * train(0.0)

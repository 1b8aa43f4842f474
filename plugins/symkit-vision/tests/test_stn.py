"""The spatial transformer canonicalizer: builds, trains, and claims no equivariance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from symkit.errors import ConfigError
from symkit.groups import Cyclic, Group, Orthogonal, SpecialEuclidean, SpecialOrthogonal
from symkit.registry import registry
from symkit.reps import image, scalar
from symkit.spec import Spec
from symkit.testing import equivariance_error

IN = Spec({"image": image()})
OUT = Spec({"logits": scalar()})


def _model(group=None, mode="rotation"):
    torch.manual_seed(0)
    group = group or SpecialOrthogonal(2)
    backbone = registry("backbones").build("vision::cnn_classifier", channels=[8, 16])
    return registry("symmetrizers").build(
        "canonicalization", backbone, group, IN, OUT,
        canonicalizer={"type": "vision::spatial_transformer", "mode": mode, "hidden": 16})


def _digits(n=64, rotation="so2"):
    data = registry("datasets").build("vision::mnist", split="train", train_size=n,
                                      rotation=rotation)
    return data.images, data.labels


@pytest.mark.parametrize("group", [SpecialOrthogonal(2), Orthogonal(2), SpecialEuclidean(2)],
                         ids=["so2", "o2", "se2"])
def test_rotation_mode_predicts_rotations(group):
    model = _model(group)
    images, _ = _digits(8)
    h = model.canonicalizer({"image": images})
    m = group.matrix(h).double()
    assert m.shape == (8, 2, 2)
    eye = torch.eye(2, dtype=m.dtype).expand_as(m)
    assert torch.allclose(m @ m.transpose(1, 2), eye, atol=1e-5)
    assert (torch.linalg.det(m) > 0).all()
    assert (m - eye).abs().max() < 0.2  # near the identity before training


def test_affine_mode_needs_a_group_of_general_matrices():
    with pytest.raises(ConfigError, match="non-orthogonal"):
        _model(SpecialOrthogonal(2), mode="affine")
    with pytest.raises(ConfigError, match="cannot make elements"):
        _model(Cyclic(4))
    with pytest.raises(ConfigError, match="mode"):
        _model(mode="shear")


class _GL2(Group):
    """GL+(2) as 2 x 2 matrices (``lie::glp`` in contrib/symkit-lie is the full version)."""

    dim = 2

    def identity(self, n, *, dtype=torch.float64, device=None):
        return torch.eye(2, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def compose(self, a, b):
        return a @ b

    def inverse(self, a):
        return torch.linalg.inv(a)

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        a = torch.eye(2, dtype=torch.float64) + 0.3 * torch.randn(n, 2, 2, generator=generator,
                                                                  dtype=torch.float64)
        a[:, :, 0] *= torch.sign(torch.linalg.det(a))[:, None]
        return a.to(dtype=dtype, device=device)

    def matrix(self, g):
        return g


def test_affine_mode_predicts_positive_determinant_matrices_and_trains():
    group = _GL2()
    model = _model(group, mode="affine")
    images, labels = _digits(16)
    h = model.canonicalizer({"image": images})
    assert h.shape == (16, 2, 2) and (torch.linalg.det(h) > 0).all()
    assert not torch.allclose(h @ h.transpose(1, 2), torch.eye(2).expand(16, 2, 2), atol=1e-6)
    loss = torch.nn.functional.cross_entropy(model({"image": images})["logits"], labels)
    loss.backward()
    grads = [p.grad for p in model.canonicalizer.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) > 0


def test_claims_no_equivariance():
    model = _model()
    assert model.is_exact is False and model.canonicalizer.is_exact is False
    assert not registry("canonicalizers").get("vision::spatial_transformer").load().supports(
        SpecialOrthogonal(2))


def test_trains_a_few_steps_and_the_localization_network_learns():
    model = _model()
    images, labels = _digits(64)
    before = [p.detach().clone() for p in model.canonicalizer.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        idx = torch.arange(16) + 16 * (step % 4)
        loss = torch.nn.functional.cross_entropy(model({"image": images[idx]})["logits"],
                                                 labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(map(lambda x: x == x, losses)) and min(losses[-4:]) < losses[0]
    moved = max((p - q).abs().max().item()
                for p, q in zip(model.canonicalizer.parameters(), before))
    assert moved > 1e-4  # gradients reach the localization network through the resampling


def test_measured_error_is_non_zero_and_reported(tmp_path, capsys):
    """Its equivariance error is measured, non-zero, and `symkit check` says it claims none."""
    model = _model().eval()
    images, _ = _digits(8)
    err = equivariance_error(model, SpecialOrthogonal(2), IN, OUT, {"image": images},
                             n_elements=2, generator=torch.Generator().manual_seed(0))
    assert err.relative > 1e-3, err
    from symkit.cli import main

    config = Path(__file__).resolve().parents[3] / "configs" / "digits" / "stn_cnn.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["tracking"] = {"enabled": False}
    cfg["data"].update(train_size=16, valid_size=8, test_size=8)
    cfg["train"]["equivariance"] = {"n_elements": 2, "max_samples": 8}
    path = tmp_path / "stn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["check", str(path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    assert data["exact"] is False and data["equivariance"]["all"] > 1e-3
    assert any("claims exact equivariance: no" in line for line in out)

"""The spatial transformer canonicalizer: builds, trains, and claims no equivariance."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.groups import Cyclic, Group, Orthogonal, SpecialEuclidean, SpecialOrthogonal
from symkit.registry import registry
from symkit.testing import equivariance_error


@pytest.fixture
def stn(canonicalized_cnn):
    """``stn(group=SO(2), mode="rotation")``: the CNN behind a spatial transformer."""
    return lambda group=None, mode="rotation": canonicalized_cnn(
        group or SpecialOrthogonal(2),
        {"type": "vision::spatial_transformer", "mode": mode, "hidden": 16})


@pytest.mark.parametrize("group", [SpecialOrthogonal(2), Orthogonal(2), SpecialEuclidean(2)],
                         ids=["so2", "o2", "se2"])
def test_rotation_mode_predicts_rotations(stn, digits, group):
    model = stn(group)
    images, _ = digits(8, "so2")
    h = model.canonicalizer({"image": images})
    m = group.matrix(h).double()
    assert m.shape == (8, 2, 2)
    eye = torch.eye(2, dtype=m.dtype).expand_as(m)
    assert torch.allclose(m @ m.transpose(1, 2), eye, atol=1e-5)
    assert (torch.linalg.det(m) > 0).all()
    assert (m - eye).abs().max() < 0.2  # near the identity before training


def test_affine_mode_needs_a_group_of_general_matrices(stn):
    with pytest.raises(ConfigError, match="non-orthogonal"):
        stn(SpecialOrthogonal(2), mode="affine")
    with pytest.raises(ConfigError, match="cannot make elements"):
        stn(Cyclic(4))
    with pytest.raises(ConfigError, match="mode"):
        stn(mode="shear")


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


def test_affine_mode_predicts_positive_determinant_matrices_and_trains(stn, digits):
    group = _GL2()
    model = stn(group, mode="affine")
    images, labels = digits(16, "so2")
    h = model.canonicalizer({"image": images})
    assert h.shape == (16, 2, 2) and (torch.linalg.det(h) > 0).all()
    assert not torch.allclose(h @ h.transpose(1, 2), torch.eye(2).expand(16, 2, 2), atol=1e-6)
    loss = torch.nn.functional.cross_entropy(model({"image": images})["logits"], labels)
    loss.backward()
    grads = [p.grad for p in model.canonicalizer.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) > 0


def test_claims_no_equivariance(stn):
    model = stn()
    assert model.is_exact is False and model.canonicalizer.is_exact is False
    assert not registry("canonicalizers").get("vision::spatial_transformer").load().supports(
        SpecialOrthogonal(2))


def test_trains_a_few_steps_and_the_localization_network_learns(stn, digits, train_briefly):
    losses, moved = train_briefly(stn(), *digits(64, "so2"), steps=12)
    assert all(map(lambda x: x == x, losses)) and min(losses[-4:]) < losses[0]
    assert moved > 1e-4  # gradients reach the localization network through the resampling


def test_measured_error_is_non_zero_and_reported(stn, digits, check_digits_config):
    """Its equivariance error is measured, non-zero, and `symkit check` says it claims none."""
    m = stn().eval()
    images, _ = digits(8, "so2")
    err = equivariance_error(m, SpecialOrthogonal(2), m.in_spec, m.out_spec, {"image": images},
                             n_elements=2, generator=torch.Generator().manual_seed(0))
    assert err.relative > 1e-3, err
    data, out = check_digits_config("stn_cnn.yaml")
    assert data["exact"] is False and data["equivariance"]["all"] > 1e-3
    assert any("claims exact equivariance: no" in line for line in out)

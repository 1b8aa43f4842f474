"""``symkit.symmetrize`` and ``symkit.build_model``: any module in one call, inputs checked."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import symkit
from symkit.errors import ConfigError, SpecError
from symkit.symmetrizers import FrameAveraging
from symkit.testing import assert_equivariant

POS = {"pos": {"rep": "vector", "nodes": True}}


def flat_net(n=4):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * n, 16), nn.Tanh(), nn.Linear(16, 1))


class ForceNet(nn.Module):
    """A dict-in, dict-out module with no symmetry: per-node forces from positions."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, sample):
        return {"force": self.net(sample["pos"]) + sample["pos"].mean(1, keepdim=True)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_module_becomes_invariant(dtype):
    torch.manual_seed(0)
    model = symkit.symmetrize(flat_net(), group="o3", in_spec=POS, out_spec={"e": "scalar"},
                              reads="pos", writes={"e": [1]}, field="pos").to(dtype)
    sample = {"pos": torch.randn(6, 4, 3, dtype=dtype)}
    assert model(sample)["e"].shape == (6, 1)
    assert_equivariant(model, model.group, model.in_spec, model.out_spec, sample)


@pytest.mark.parametrize("symmetrizer", ["frame_averaging", FrameAveraging,
                                         {"type": "canonicalization", "canonicalizer": "pca"}])
def test_dict_module_becomes_equivariant(symmetrizer):
    torch.manual_seed(0)
    extra = {} if isinstance(symmetrizer, dict) else {"field": "pos"}
    model = symkit.symmetrize(ForceNet(), group="o3", in_spec=POS,
                              out_spec={"force": {"rep": "vector", "nodes": True}},
                              symmetrizer=symmetrizer, **extra).double()
    sample = {"pos": torch.randn(5, 6, 3, dtype=torch.float64)}
    err = assert_equivariant(model, model.group, model.in_spec, model.out_spec, sample)
    assert err.relative < 1e-9
    plain = ForceNet().double()
    plain.load_state_dict(model.backbone.state_dict())
    rotated = {"pos": sample["pos"] @ torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]}
    assert not torch.allclose(plain(rotated)["force"].norm(), plain(sample)["force"].norm())


def test_inputs_are_checked_against_the_spec():
    model = symkit.symmetrize(flat_net(), group="o3", in_spec=POS, out_spec={"e": "scalar"},
                              reads="pos", writes={"e": [1]}, field="pos")
    with pytest.raises(SpecError, match=r"pos: missing field \(expected shape "
                       r"\(B, N, ..., 3\)"):
        model({"x": torch.randn(2, 4, 3)})
    with pytest.raises(SpecError, match=r"pos: expected shape \(B, N, ..., 3\), "
                       r"got \(2, 3, 4\)"):
        model({"pos": torch.randn(2, 3, 4)})
    with pytest.raises(SpecError, match=r"pos: expected a floating-point tensor of shape "
                       r"\(B, N, ..., 3\) for Vector, got dtype torch.int64"):
        model({"pos": torch.ones(2, 4, 3, dtype=torch.long)})
    with pytest.raises(SpecError, match=r"pos: has dtype torch.float64 but the model computes "
                       r"in torch.float32"):
        model({"pos": torch.randn(2, 4, 3, dtype=torch.float64)})
    with pytest.raises(SpecError, match="expected a sample dict"):
        model(torch.randn(2, 4, 3))


def test_build_model_is_public_and_checks_inputs_too():
    model = symkit.build_model({"group": "o3", "in_spec": POS, "out_spec": {"e": "scalar"},
                                "backbone": {"type": "mlp", "writes": {"e": [1]}},
                                "symmetrizer": {"type": "frame_averaging", "field": "pos"}})
    assert model({"pos": torch.randn(2, 4, 3)})["e"].shape == (2, 1)
    with pytest.raises(SpecError, match="pos: expected shape"):
        model({"pos": torch.randn(2, 4, 2)})
    model.check_inputs = False  # the check can be switched off for a tight inner loop
    with pytest.raises(RuntimeError):
        model({"pos": torch.randn(2, 4, 2)})


def test_errors_for_bad_arguments():
    with pytest.raises(ConfigError, match="module: expected a torch.nn.Module"):
        symkit.symmetrize(lambda x: x, group="o3", in_spec=POS, out_spec=POS)
    with pytest.raises(ConfigError, match="symmetrizer"):
        symkit.symmetrize(ForceNet(), group="o3", in_spec=POS, out_spec=POS,
                          symmetrizer="frame_avg")
    with pytest.raises(ConfigError, match="writes: only with reads"):
        symkit.symmetrize(ForceNet(), group="o3", in_spec=POS, out_spec=POS, writes=["e"])

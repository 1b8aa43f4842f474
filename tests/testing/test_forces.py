"""The force checker: accepts an exact invariant energy, catches wrong and detached gradients."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.testing import check_forces, forces, molecule_in_spec, molecule_sample, molecules

E3 = registry("groups").build("e3")


def energy(sample):
    """Pairwise ``sum exp(-|x_i - x_j|^2)``: E(3)-invariant, smooth."""
    d = torch.cdist(sample["pos"], sample["pos"])
    return {"e": torch.exp(-d**2).sum((1, 2))[:, None]}


def sample():
    return molecule_sample(molecules("asymmetric"), molecule_in_spec())


def test_an_invariant_energy_passes():
    out = check_forces(energy, E3, sample())
    assert out["fd"] < 1e-6 and out["net_force"] < 1e-7 and out["vector"] < 1e-7
    assert forces(energy, sample()).shape == sample()["pos"].shape


def test_a_detached_frame_fails_finite_differences():
    def detached(s):
        c = s["pos"].mean(1, keepdim=True).detach()  # a frame without gradient
        return {"e": ((s["pos"] - c) ** 4).sum((1, 2))[:, None]}

    with pytest.raises(AssertionError, match="finite differences"):
        check_forces(detached, E3, sample())


def test_a_non_invariant_energy_fails():
    def tilted(s):
        return {"e": energy(s)["e"] + s["pos"][..., 0].sum(1, keepdim=True) * 1e-3}

    with pytest.raises(AssertionError, match="sum to zero|rotate"):
        check_forces(tilted, E3, sample())


def test_non_finite_forces_fail_everywhere():
    def sqrt_energy(s):
        return {"e": (s["pos"] - s["pos"].mean(1, keepdim=True)).norm(dim=-1).sqrt().sum(1)[
            :, None]}

    mol = molecule_sample([molecules("octahedral")[0]], molecule_in_spec())  # S at the centre
    with pytest.raises(AssertionError, match="not finite"):
        check_forces(sqrt_energy, E3, mol, exact=False)

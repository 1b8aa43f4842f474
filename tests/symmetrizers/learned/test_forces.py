"""Issue 12, item 5: forces through ``mds_invariant`` and ``learned_point_frame``.

The frame carries gradients, so the autograd force ``-dE/dx`` of an invariant energy is the
derivative of the whole (invariant) model: it matches central finite differences on a
non-degenerate molecule, sums to zero (translation invariance), and rotates as a vector. On
degenerate inputs (symmetric molecules, one atom) it is finite.
"""

from __future__ import annotations

import pytest
import torch

from ._molecules import ENERGY_SPEC, SYMMETRIC, build, sample_of

MODELS = {"mds_invariant": {}, "learned_canonicalization": {}}


def _energy(model, h, pos):
    return model({"h": h, "pos": pos})["e"].sum()


def _displaced_ethanol():
    """Ethanol moved off its mirror plane: a generic, non-degenerate geometry."""
    s = sample_of("ethanol")
    noise = torch.randn(s["pos"].shape, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    return s["h"], s["pos"] + 0.05 * noise


@pytest.mark.parametrize("gname", ["se3", "e3"])
@pytest.mark.parametrize("name", list(MODELS))
def test_forces_match_finite_differences(name, gname):
    model, g = build(name, gname, out=ENERGY_SPEC, **MODELS[name])
    h, pos = _displaced_ethanol()
    pos = pos.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_energy(model, h, pos), pos)
    fd = torch.zeros_like(pos)
    step = 1e-5
    with torch.no_grad():
        for i in range(pos.shape[1]):
            for k in range(3):
                e = torch.zeros_like(pos)
                e[0, i, k] = step
                fd[0, i, k] = (_energy(model, h, pos + e) - _energy(model, h, pos - e)) / (2 * step)
    rel = float((grad - fd).norm() / fd.norm())
    assert rel < 1e-6, f"{name} ({gname}): force error {rel:.3g} relative to finite differences"
    assert float(grad.sum(1).norm() / grad.norm()) < 1e-9  # sum of forces: zero


@pytest.mark.parametrize("name", list(MODELS))
def test_forces_rotate_as_vectors(name):
    model, g = build(name, "se3", out=ENERGY_SPEC, **MODELS[name])
    h, pos = _displaced_ethanol()
    el = g.sample(1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rot, shift = el[:, :3, :3], el[:, :3, 3]
    moved = (pos @ rot.transpose(1, 2) + shift[:, None]).requires_grad_(True)
    pos = pos.clone().requires_grad_(True)
    (f,) = torch.autograd.grad(_energy(model, h, pos), pos)
    (f_moved,) = torch.autograd.grad(_energy(model, h, moved), moved)
    assert torch.allclose(f_moved, f @ rot.transpose(1, 2), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_forces_are_finite_on_degenerate_inputs(name):
    """Symmetric molecules and a single atom: flagged, with finite forces (never NaN/1e13)."""
    model, _ = build(name, "se3", out=ENERGY_SPEC, **MODELS[name])
    inputs = [sample_of(m) for m in SYMMETRIC]
    inputs.append({"h": torch.ones(1, 1, dtype=torch.float64),
                   "pos": torch.tensor([[[0.3, -1.0, 2.0]]], dtype=torch.float64)})
    for s in inputs:
        pos = s["pos"].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_energy(model, s["h"], pos), pos)
        assert bool(model.flagged.all())
        assert bool(torch.isfinite(grad).all()) and float(grad.abs().max()) < 1e3

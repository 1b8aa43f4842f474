"""Gradients are part of the contract: forces of an invariant energy through fixed symmetrizers.

``F = -dE/dx`` by autograd must match central finite differences (1e-6, float64) where the
frame is differentiable (distinct eigenvalues), sum to zero under translation invariance,
rotate as vectors, and be finite everywhere (degenerate inputs are flagged, their frame
detached).
"""

from __future__ import annotations

import pytest
import torch
from ase.build import molecule

from symkit.groups import e3, o3, se3, so3
from symkit.reps import point, scalar
from symkit.spec import Field, Spec
from symkit.symmetrizers import Canonicalization, FrameAveraging, GroupAveraging
from symkit.testing._symmetrizers import FlatMLP

IN = Spec({"pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar()})


def mol(name: str) -> torch.Tensor:
    return torch.tensor(molecule(name).positions, dtype=torch.float64)


#: ethanol slightly displaced: no symmetry, distinct eigenvalues, clear third moments
ETHANOL = mol("CH3CH2OH") + 0.05 * torch.randn(
    9, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def make(kind: str, group, n: int):
    torch.manual_seed(0)
    x = {"pos": torch.zeros(1, n, 3, dtype=torch.float64)}
    net = FlatMLP.for_sample(group, IN, OUT, x).double()
    if kind == "frame_averaging":
        return FrameAveraging(net, group, IN, OUT).eval()
    if kind == "canonicalization":
        return Canonicalization(net, group, IN, OUT, canonicalizer="pca").eval()
    return GroupAveraging(net, group, IN, OUT, eval_samples=16).eval()


def energy(model, pos: torch.Tensor) -> torch.Tensor:
    if isinstance(model, GroupAveraging):  # the same Haar samples at every evaluation
        model.generator = torch.Generator().manual_seed(0)
    return model({"pos": pos})["e"].sum(-1)


def forces(model, pos: torch.Tensor) -> torch.Tensor:
    pos = pos.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(model, pos).sum(), pos)
    return -grad


def finite_difference_forces(model, pos: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    out = torch.zeros_like(pos)
    with torch.no_grad():
        for idx in torch.cartesian_prod(*(torch.arange(s) for s in pos.shape[1:])):
            i, j = int(idx[0]), int(idx[1])
            up, down = pos.clone(), pos.clone()
            up[:, i, j] += h
            down[:, i, j] -= h
            out[:, i, j] = -(energy(model, up) - energy(model, down)) / (2 * h)
    return out


GROUPS = {"E3": e3(), "SE3": se3(), "O3": o3(), "SO3": so3()}


#: group averaging needs a compact group: O(3) and SO(3) only
FORCE_CASES = [(k, g) for k in ("frame_averaging", "canonicalization", "group_averaging")
               for g in GROUPS if k != "group_averaging" or g in ("O3", "SO3")]


@pytest.mark.parametrize(("kind", "gname"), FORCE_CASES)
def test_forces_match_finite_differences_and_are_equivariant(kind, gname):
    group = GROUPS[gname]
    model = make(kind, group, 9)
    pos = ETHANOL[None]
    f = forces(model, pos)
    assert model.flagged is None or not model.flagged.any()
    fd = finite_difference_forces(model, pos)
    scale = f.abs().max()
    assert scale > 1e-3  # the test can fail: forces are not trivially zero
    assert (f - fd).abs().max() <= 1e-6 * scale
    if "translation" in group.kinds or kind == "group_averaging":  # translation invariant
        assert f.sum(1).abs().max() <= 1e-9 * scale
    if kind == "group_averaging":
        return  # Monte-Carlo: rotated forces agree in distribution only
    g = group.sample(3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rot = g[:, :3, :3]
    gpos = IN.act(group, g, {"pos": pos.expand(3, -1, -1)})["pos"]
    torch.testing.assert_close(forces(model, gpos), f @ rot.mT, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("name", ["CO2", "C6H6", "CH4", "single atom", "coincident"])
@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
def test_forces_are_finite_and_flagged_at_degenerate_inputs(kind, name):
    if name == "single atom":
        pos = torch.tensor([[0.3, -0.2, 1.0]], dtype=torch.float64)
    elif name == "coincident":
        pos = torch.tensor([[0.3, -0.2, 1.0]], dtype=torch.float64).expand(4, 3)
    else:
        pos = mol(name)
    model = make(kind, se3(), len(pos))
    gen = torch.Generator().manual_seed(2)
    generic = torch.randn(pos.shape, generator=gen, dtype=torch.float64) * torch.tensor(
        [1.0, 2.0, 3.0], dtype=torch.float64)
    x = torch.stack([pos, generic])  # with an ordinary sample in the batch
    f = forces(model, x)
    assert torch.isfinite(f).all() and f.abs().max() < 1e3
    # one point has no spread whatever it is; benzene and methane have finite stabilizers:
    # their symmetric frame sets (exact: tests/symmetrizers/test_symmetric_frames.py)
    expected = [name in ("CO2", "single atom", "coincident"), len(pos) == 1]
    assert model.flagged.tolist() == expected

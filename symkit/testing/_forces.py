"""Gradients are part of the contract: forces of an invariant energy through a symmetrizer.

For an invariant output ``E(x)`` (an energy) the force ``F = -dE/dx`` must

* be finite everywhere, degenerate inputs included (a NaN or 1e13 force breaks molecular
  dynamics even where the energy is fine);
* match central finite differences on non-degenerate inputs (where the frame is
  differentiable): ``||F - F_fd|| <= 1e-6 ||F_fd||`` in float64;
* sum to zero over the atoms under a group with translations (``E(x + t) = E(x)``);
* rotate as vectors: ``F(g x) = R(g) F(x)`` (``M^-T F(x)`` for a non-orthogonal ``M``, e.g.
  scalings), and move with the atoms under node permutations (``S_N x E(3)``:
  ``F((sigma, g) x)_{sigma(i)} = R(g) F(x)_i``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from symkit.groups import Group
from symkit.spec import Spec, permute_nodes

__all__ = ["check_forces", "forces"]

FD_RTOL, FD_STEP, VECTOR_RTOL = 1e-6, 1e-5, 1e-7


def forces(model: Callable, sample: Mapping[str, Tensor], *, energy: str = "e",
           positions: str = "pos") -> Tensor:
    """``-d(sum of sample[energy]) / d sample[positions]``. Shapes: like ``sample[positions]``."""
    pos = sample[positions].detach().clone().requires_grad_(True)
    e = model({**sample, positions: pos})[energy].sum()
    (grad,) = torch.autograd.grad(e, pos, allow_unused=True)
    return -(torch.zeros_like(pos) if grad is None else grad)


def _energy(model, sample, energy) -> float:
    with torch.no_grad():
        return model(sample)[energy].sum().item()


def check_forces(
    model: Callable, group: Group, sample: Mapping[str, Tensor], *, energy: str = "e",
    positions: str = "pos", exact: bool = True, seed: int = 0,
    context: str = "model", in_spec: Spec | None = None,
) -> dict[str, float]:
    """Check the forces of ``model``'s invariant output ``energy`` on a dense float64 batch.

    Args:
        model: a symmetrized model whose ``energy`` output is invariant.
        group: its group (translations, rotations and reflections are checked where it has them).
        sample: dense batch, ``sample[positions]: (B, N, d)`` float64.
        exact: also check finite differences, the net force and the rotation of the forces
            (for exact models on non-degenerate inputs; otherwise only finiteness).
        in_spec: the model's input spec; needed when ``group`` permutes nodes (every node
            field, and the ``mask``, moves with the atoms; without it only ``positions`` is
            acted on).

    Returns:
        the measured relative errors: ``fd``, ``net_force``, ``vector``.

    Raises:
        AssertionError: naming the check, the error and the tolerance.
    """
    f = forces(model, sample, energy=energy, positions=positions)
    if not torch.isfinite(f).all():
        bad = (~torch.isfinite(f)).flatten(1).any(1).nonzero().flatten().tolist()
        raise AssertionError(f"{context}: forces are not finite for samples {bad}")
    scale = max(f.norm().item(), torch.finfo(f.dtype).tiny)
    out = {}
    if not exact:
        return out
    pos = sample[positions]
    fd = torch.zeros_like(pos)
    for idx in range(pos.numel()):
        step = torch.zeros_like(pos).reshape(-1)
        step[idx] = FD_STEP
        step = step.reshape(pos.shape)
        hi = _energy(model, {**sample, positions: pos + step}, energy)
        lo = _energy(model, {**sample, positions: pos - step}, energy)
        fd.reshape(-1)[idx] = -(hi - lo) / (2 * FD_STEP)
    out["fd"] = (f - fd).norm().item() / max(fd.norm().item(), torch.finfo(f.dtype).tiny)
    if not out["fd"] <= FD_RTOL:
        raise AssertionError(f"{context}: autograd forces differ from finite differences by "
                             f"{out['fd']:.3g} (relative, rtol {FD_RTOL:g})")
    if "translation" in group.kinds:
        out["net_force"] = f.sum(1).norm().item() / scale
        if not out["net_force"] <= VECTOR_RTOL:
            raise AssertionError(f"{context}: forces do not sum to zero under translations: "
                                 f"|sum F| / |F| = {out['net_force']:.3g}")
    gen = torch.Generator().manual_seed(seed)
    g = group.sample(f.shape[0], generator=gen, dtype=f.dtype)
    matrix = group.matrix(g)
    if matrix is not None:
        moved = _act(group, g, sample, positions, in_spec)
        f_g = forces(model, moved, energy=energy, positions=positions)
        # a force is a covector: F(g x) = M^-T F(x) (= R F(x) for orthogonal M), on the
        # atoms' new positions under a node permutation
        rotated = _permute(group, g, torch.einsum(
            "bji,bnj->bni", torch.linalg.inv(matrix.to(f.dtype)), f))
        out["vector"] = (f_g - rotated).norm().item() / scale
        if not out["vector"] <= VECTOR_RTOL:
            raise AssertionError(f"{context}: forces do not rotate as vectors: "
                                 f"|F(g x) - R F(x)| / |F| = {out['vector']:.3g} "
                                 f"(rtol {VECTOR_RTOL:g})")
    return out


def _act(group: Group, g, sample: Mapping[str, Tensor], positions: str,
         in_spec: Spec | None) -> dict[str, Tensor]:
    """``g . sample``: every field of ``in_spec`` (and the ``mask``: :meth:`Spec.act`), or only
    ``positions`` as points without a spec.

    Raises:
        ValueError: ``group`` permutes nodes and no ``in_spec`` says which fields are nodes.
    """
    if in_spec is None:
        if any("permutation" in f.kinds for f in group.factors()):
            raise ValueError(f"check_forces on {group!r} (it permutes nodes) needs in_spec")
        from symkit.reps import point

        return {**sample, positions: point().act(group, g, sample[positions])}
    return in_spec.act(group, g, sample)


def _permute(group: Group, g, x: Tensor) -> Tensor:
    """``x`` ``(B, N, ...)`` with its nodes moved by the permutation factors of ``g``."""
    for factor, sub in zip(group.factors(), group.split(g)):
        perm = factor.permutation(sub)
        if perm is not None:
            x = permute_nodes(x, perm)
    return x

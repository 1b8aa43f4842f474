"""Invariant initial representations: classical multidimensional scaling (MDS) coordinates.

From the squared distances ``D_ij = |x_i - x_j|^2`` of a point set, ``B = -1/2 J D J``
(``J = I - 11^T / N``) is the Gram matrix of the centred points; its top ``d`` eigenpairs give
coordinates ``Y = U sqrt(Lambda)`` with ``Y Y^T = B``. ``D`` is invariant under E(d), so ``Y``
is determined up to ``Y -> Y Q`` with ``Q`` in O(d); for distinct eigenvalues only the sign of
each axis is left. The sign rule ``sum_i Y_ic^3 > 0`` (third moment along each axis) fixes it,
so the coordinates are **invariant** under E(d) and **equivariant** under permutations of the
points. With ``normalize_scale`` they are divided by their RMS radius, which makes them
invariant to scaling too.

Design: ``mds_invariant`` is canonicalization by the MDS frame (registry ``symmetrizers``).
The rotation ``Q`` with ``Y = (x - c) Q`` is recovered by least squares from the centred
points (exact, since ``Y`` is an orthogonal transform of them), so ``h(x) = (Q, c)`` is an
equivariant element and ``h^-1 . x = Y``: the backbone reads the invariant MDS coordinates,
and equivariant outputs (vectors, points) are mapped back by ``h``, so any output spec works.
For SO(d)/SE(d) the last MDS axis is flipped where ``det Q = -1``. Groups without translations
(O(d), SO(d)) use only ``Q`` (the backbone then sees ``Q^T x``, also invariant).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.groups._euclidean import homogeneous
from symkit.registry import register
from symkit.reps._point import Point
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers.learned._canonicalizers import find_field, is_matrix_group

__all__ = ["mds_coordinates", "mds_frame", "MDSInvariant", "mds_invariant"]


def mds_coordinates(pos: Tensor, dim: int | None = None, *, normalize_scale: bool = False,
                    eps: float = 1e-12) -> Tensor:
    """Sign-fixed classical MDS coordinates of each point set, computed in float64.

    Args:
        pos: point positions.
        dim: number of coordinates (default: the space dimension ``d``).
        normalize_scale: divide by the RMS distance to the centroid.

    Shapes:
        pos: ``(B, N, d)``; returns ``(B, N, dim)`` in ``pos.dtype``.
    """
    x = pos.to(torch.float64)
    dim = dim or x.shape[-1]
    sq = torch.cdist(x, x).pow(2)
    n = x.shape[1]
    j = torch.eye(n, dtype=x.dtype, device=x.device) - 1.0 / n
    gram = -0.5 * j @ sq @ j
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    evals, evecs = evals.flip(-1)[..., :dim], evecs.flip(-1)[..., :dim]
    y = evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)
    sign = torch.where(y.pow(3).sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(y.dtype)
    y = y * sign
    if normalize_scale:
        y = y / y.pow(2).sum(-1).mean(-1).sqrt().clamp_min(eps)[:, None, None]
    return y.to(pos.dtype)


def mds_frame(pos: Tensor, *, proper: bool) -> tuple[Tensor, Tensor]:
    """The element ``(Q, c)`` with ``Q^T (x_i - c)`` = the MDS coordinates of ``x_i``.

    Shapes:
        pos: ``(B, N, d)``; returns ``Q: (B, d, d)`` and ``c: (B, d)`` in ``pos.dtype``.
    """
    x = pos.to(torch.float64)
    c = x.mean(dim=1)
    xc = x - c[:, None]
    y = mds_coordinates(x)
    q = torch.linalg.solve(xc.transpose(1, 2) @ xc, xc.transpose(1, 2) @ y)
    if proper:
        sign = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0).to(q.dtype)
        q = torch.cat([q[..., :-1], q[..., -1:] * sign[:, None, None]], dim=-1)
    return q.to(pos.dtype), c.to(pos.dtype)


class MDSInvariant(Symmetrizer):
    """``h(x) . backbone(h(x)^-1 x)`` with ``h(x)^-1 x`` the sign-fixed MDS coordinates.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        field: the point field the frame is computed from (default: the first point field).
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
                 field: str | None = None, chunk_size: int | None = None):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ConfigError(None, f"mds_invariant needs O(d)/SO(d)/E(d)/SE(d), got {group!r}")
        self.field = find_field(in_spec, Point, field)
        self.affine = "translation" in group.kinds
        self.proper = "reflection" not in group.kinds

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_matrix_group(group)

    def num_elements(self) -> int:
        return 1

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        pos = sample[self.field]
        q, c = mds_frame(pos.detach(), proper=self.proper)
        g = homogeneous(q, c) if self.affine else q
        return g, torch.ones(pos.shape[0], 1, dtype=pos.dtype, device=pos.device)


@register("symmetrizers", "mds_invariant")
def mds_invariant(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, chunk_size: int | None = None,
) -> MDSInvariant:
    """Canonicalize point sets to their sign-fixed MDS coordinates (E(d)-invariant input)."""
    return MDSInvariant(backbone, group, in_spec, out_spec, field=field, chunk_size=chunk_size)


mds_invariant.supports = MDSInvariant.supports

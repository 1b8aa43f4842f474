"""Third moments of point sets along principal axes: the signs that fix the axes.

A principal axis ``q_k`` is defined up to sign; the third moment ``m_k = 1/n sum_j
(q_k . (x_j - c))^3`` flips with it, so ``s_k = sign(m_k)`` fixes it equivariantly wherever
``m_k`` is clearly nonzero (the pca canonicalizer, per-node local frames). One home for both,
below the canonicalizers in the import graph (``symkit.canonicalizers`` builds on
``symkit.symmetrizers``, never the reverse).
"""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.ops.scatter import scatter_sum
from symkit.symmetrizers._frames import flatten_batch, flatten_points

__all__ = ["third_moments"]

def third_moments(
    points: Tensor, center: Tensor, basis: Tensor, *, mask: Tensor | None = None,
    batch: Tensor | None = None, spread: Tensor | None = None, points64: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``m_i = 1/n sum_j p_ji^3`` and ``r = 1/n sum_j |p_j|^3``, ``p_j = basis^T (x_j - c) / s``.

    ``s`` is ``spread`` (default 1): dividing by the RMS spread makes both unit-free. ``r`` is
    rotation invariant. Computed in float64 and detached (signs carry no gradient).

    Args:
        points64: dense unmasked ``points`` already as float64 ``(B, N * C, d)``
            (:attr:`~symkit.symmetrizers._frames.Moments.points`), used instead of converting
            ``points`` again.

    Shapes:
        points: ``(B, N, d)`` or ragged ``(total, d)`` with ``batch``; center ``(B, d)``;
        basis ``(B, d, d)``; spread ``(B,)``; returns ``m`` ``(B, d)`` and ``r`` ``(B,)``.
    """
    b = center.shape[0]
    center, basis = center.detach(), basis.detach()
    scaled = basis if spread is None else basis * (1.0 / spread.detach())[:, None, None]
    if batch is None and mask is None:  # dense, every row a point: counts are a number
        x = points64.detach() if points64 is not None else flatten_points(points.detach())[0]
        n = max(x.shape[1], 1)
        p = torch.bmm(x - center[:, None], scaled)
        p2 = p * p
        q = p2 @ p2.new_ones(p2.shape[-1])  # |p_j|^2 (a matvec: sum(-1) over 3 is slow)
        return (p2 * p).sum(1) / n, (q * q.sqrt()).sum(1) / n
    x, w = flatten_points(points.detach(), mask, batch)
    if batch is None:
        p = torch.bmm(x - center[:, None], scaled) * w[..., None]  # padding rows: weight 0
        p2 = p * p
        n = w.sum(1).clamp_min(1.0)
        q = p2 @ p2.new_ones(p2.shape[-1])
        return (p2 * p).sum(1) / n[:, None], (q * q.sqrt()).sum(1) / n
    row = flatten_batch(points, batch)
    p = torch.einsum("ni,nij->nj", x - center[row], scaled[row])
    p2 = p * p
    n = scatter_sum(torch.ones_like(p[:, 0]), row, b).clamp_min(1.0)
    return scatter_sum(p2 * p, row, b) / n[:, None], scatter_sum(p2.sum(-1).pow(1.5), row, b) / n

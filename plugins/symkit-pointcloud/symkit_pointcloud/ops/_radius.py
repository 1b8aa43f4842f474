"""Radius graphs: every pair of points of the same cloud closer than ``r``."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit_pointcloud.ops._knn import knn

__all__ = ["radius_graph"]


def radius_graph(
    x: Tensor,
    r: float,
    *,
    batch: Tensor | None = None,
    mask: Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int = 32,
) -> Tensor:
    """Edges ``j -> i`` between points of the same cloud with ``|x_i - x_j| <= r``.

    Each point keeps at most its ``max_num_neighbors`` nearest neighbours within the radius
    (like ``torch_cluster.radius_graph``, but deterministic: the nearest ones are kept).

    Args:
        x: points, dense ``(B, N, D)`` / ``(N, D)`` or ragged ``(M, D)`` with ``batch``.
        r: radius (inclusive).
        batch: cloud index per point for ragged input.
        mask: real points of dense input ``(B, N)``; padding gets no edges.
        loop: include self-loops ``i -> i``.
        max_num_neighbors: cap on the in-degree of every point.

    Returns:
        ``edge_index (2, E)`` long, row 0 the source ``j`` (neighbour), row 1 the target ``i``
        (centre), sorted by target. Indices address the rows of ``x`` (ragged), the flattened
        ``B * N`` points (dense ``(B, N, D)``) or the points of ``(N, D)``.
    """
    k = max_num_neighbors + int(loop)
    idx, valid = knn(x, k, batch=batch, mask=mask, loop=loop, return_valid=True)
    if batch is None and x.ndim == 3:
        n = x.shape[1]
        offset = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1) * n
        idx, valid = (idx + offset).reshape(-1, k), valid.reshape(-1, k)
    points = x.reshape(-1, x.shape[-1])
    centre = torch.arange(points.shape[0], device=x.device).unsqueeze(-1).expand_as(idx)
    dist = (points[idx] - points[centre]).pow(2).sum(-1)
    within = valid & (dist <= r * r)
    other = within & (idx != centre)
    capped = other & (torch.cumsum(other.long(), -1) <= max_num_neighbors)
    keep = (within & (idx == centre)) | capped
    return torch.stack([idx[keep], centre[keep]])

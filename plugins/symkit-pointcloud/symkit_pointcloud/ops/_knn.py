"""k nearest neighbours within each point cloud (torch-cluster when available, else pure torch).

Output convention: for every query point the indices of its ``k`` nearest points of the same
cloud, nearest first, ``(B, N, k)`` (dense input) or ``(M, k)`` (ragged input). When a cloud has
fewer than ``k`` candidates, or the query itself is padding, the missing slots hold the query's
own index; ``return_valid=True`` also returns which slots are real neighbours.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symkit_pointcloud.ops import _accel
from symkit_pointcloud.ops._batching import as_dense, to_dense

__all__ = ["knn", "knn_torch", "knn_cluster"]


def knn(
    x: Tensor,
    k: int,
    *,
    batch: Tensor | None = None,
    mask: Tensor | None = None,
    loop: bool = True,
    return_valid: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Indices of the ``k`` nearest neighbours (Euclidean) of every point, within its cloud.

    Uses ``torch_cluster.knn`` when torch-cluster is installed and working, otherwise
    :func:`knn_torch` (``cdist`` + ``topk``); both give the same neighbours up to ties.

    Args:
        x: points (or features), dense ``(B, N, D)`` / ``(N, D)`` or ragged ``(M, D)`` with
            ``batch``.
        k: neighbours per point.
        batch: cloud index per point for ragged input ``(M,)`` long.
        mask: real points of dense input ``(B, N)`` bool; padding is never a neighbour.
        loop: whether a point counts as its own (nearest) neighbour.
        return_valid: also return the ``valid`` mask of real neighbour slots.

    Shapes:
        dense: ``(B, N, D)`` -> ``(B, N, k)`` indices into the node axis;
        ragged: ``(M, D)`` -> ``(M, k)`` indices into the rows of ``x``.
    """
    if batch is not None:
        dense, dmask, slot = to_dense(x, batch)
        idx, valid = _knn_dense(dense, dmask, k, loop)
        width = dense.shape[1]
        row_of_slot = torch.full((dense.shape[0] * width,), -1, dtype=torch.long, device=x.device)
        row_of_slot[slot] = torch.arange(x.shape[0], device=x.device)
        base = (slot // width * width).unsqueeze(-1)
        idx = row_of_slot[base + idx.view(-1, k)[slot]]
        valid = valid.view(-1, k)[slot]
    else:
        dense, dmask, single = as_dense(x, mask)
        idx, valid = _knn_dense(dense, dmask, k, loop)
        if single:
            idx, valid = idx[0], valid[0]
    return (idx, valid) if return_valid else idx


def _knn_dense(x: Tensor, mask: Tensor, k: int, loop: bool) -> tuple[Tensor, Tensor]:
    cluster = _accel.torch_cluster()
    if cluster is None:
        return knn_torch(x, mask, k, loop)
    return knn_cluster(cluster, x, mask, k, loop)


def knn_torch(x: Tensor, mask: Tensor, k: int, loop: bool = True) -> tuple[Tensor, Tensor]:
    """Pure-torch kNN: all pairwise distances (``cdist``), masked, then ``topk``.

    Shapes:
        x: ``(B, N, D)``; mask: ``(B, N)`` bool -> idx, valid ``(B, N, k)``.
    """
    b, n, _ = x.shape
    dist = torch.cdist(x, x)
    blocked = ~mask.unsqueeze(1).expand(b, n, n)
    if not loop:
        blocked = blocked | torch.eye(n, dtype=torch.bool, device=x.device)
    dist = dist.masked_fill(blocked, float("inf"))
    kk = min(k, n)
    best, idx = dist.topk(kk, dim=-1, largest=False)
    valid = torch.isfinite(best) & mask.unsqueeze(-1)
    if kk < k:
        idx = torch.cat([idx, idx.new_zeros(b, n, k - kk)], dim=-1)
        valid = torch.cat([valid, valid.new_zeros(b, n, k - kk)], dim=-1)
    own = torch.arange(n, device=x.device).view(1, n, 1).expand(b, n, k)
    return torch.where(valid, idx, own), valid


def knn_cluster(cluster, x: Tensor, mask: Tensor, k: int, loop: bool = True
                ) -> tuple[Tensor, Tensor]:
    """kNN through ``torch_cluster.knn`` on the real points, reshaped to the dense convention.

    Neighbours are re-sorted by distance, so the result does not depend on the order in which
    the extension returns its edges.

    Shapes:
        x: ``(B, N, D)``; mask: ``(B, N)`` bool -> idx, valid ``(B, N, k)``.
    """
    b, n, d = x.shape
    flat_mask = mask.reshape(-1)
    points = x.reshape(-1, d)[flat_mask]
    cloud = torch.arange(b, device=x.device).repeat_interleave(n)[flat_mask]
    count = points.shape[0]
    edges = cluster.knn(points, points, k if loop else k + 1, cloud, cloud)
    query, neighbour = edges[0], edges[1]
    if not loop:
        keep = query != neighbour
        query, neighbour = query[keep], neighbour[keep]
    dist = (points[query] - points[neighbour]).pow(2).sum(-1)
    order = torch.argsort(dist, stable=True)
    order = order[torch.argsort(query[order], stable=True)]
    query, neighbour = query[order], neighbour[order]
    per_query = torch.bincount(query, minlength=count)
    first = torch.cumsum(per_query, 0) - per_query
    rank = torch.arange(query.numel(), device=x.device) - first[query]
    keep = rank < k
    local = torch.arange(count, device=x.device).unsqueeze(-1).repeat(1, k)
    local_valid = torch.zeros(count, k, dtype=torch.bool, device=x.device)
    local[query[keep], rank[keep]] = neighbour[keep]
    local_valid[query[keep], rank[keep]] = True
    node_of_point = torch.arange(b * n, device=x.device)[flat_mask] % n
    idx = torch.arange(n, device=x.device).view(1, n, 1).repeat(b, 1, k).view(-1, k)
    valid = torch.zeros(b * n, k, dtype=torch.bool, device=x.device)
    idx[flat_mask] = node_of_point[local]
    valid[flat_mask] = local_valid
    return idx.view(b, n, k), valid.view(b, n, k)

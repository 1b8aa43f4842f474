"""Farthest point sampling: a well-spread subset of each point cloud."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit_pointcloud.ops._batching import as_dense

__all__ = ["farthest_point_sampling"]


def farthest_point_sampling(
    x: Tensor,
    num_samples: int,
    *,
    mask: Tensor | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Greedy farthest point sampling: each new point maximizes its distance to those chosen.

    Starts at the first real point of each cloud (or a random one with ``random_start``). The
    chosen points are distinct while the cloud has enough real points; after that the
    remaining slots repeat the starting point.

    Args:
        x: points ``(B, N, D)`` or ``(N, D)``.
        num_samples: points to pick per cloud (``M``).
        mask: real points ``(B, N)`` bool; padding is never picked.
        random_start: start from a uniformly random real point.
        generator: random source for ``random_start``.

    Shapes:
        x: ``(B, N, D)`` -> ``(B, M)`` long indices into the node axis (``(M,)`` for ``(N, D)``).
    """
    dense, mask, single = as_dense(x, mask)
    b, n, _ = dense.shape
    if random_start:
        scores = torch.rand(b, n, generator=generator).to(dense.device)
        start = scores.masked_fill(~mask, -1.0).argmax(dim=1)
    else:
        start = mask.to(torch.uint8).argmax(dim=1)
    rows = torch.arange(b, device=dense.device)
    chosen = torch.empty(b, num_samples, dtype=torch.long, device=dense.device)
    nearest = torch.full((b, n), float("inf"), dtype=dense.dtype, device=dense.device)
    nearest = nearest.masked_fill(~mask, -1.0)
    current = start
    for i in range(num_samples):
        chosen[:, i] = current
        step = (dense - dense[rows, current].unsqueeze(1)).pow(2).sum(-1)
        nearest = torch.minimum(nearest, step.masked_fill(~mask, -1.0))
        best, current = nearest.max(dim=1)
        current = torch.where(best > 0, current, start)
    return chosen[0] if single else chosen

"""Moving between ragged point batches (``x: (M, D)``, ``batch: (M,)``) and dense padded ones.

Every op is written once for the dense layout ``x: (B, N, D)`` with a ``mask: (B, N)`` bool
(``True`` = real point); ragged inputs are padded with :func:`to_dense` and mapped back.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["to_dense", "as_dense"]


def to_dense(x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pad a ragged batch into a dense one.

    Args:
        x: points of all clouds, concatenated.
        batch: cloud index of every point (need not be sorted).

    Returns:
        ``dense``, ``mask`` and ``slot``: point ``m`` sits at ``dense.view(-1, D)[slot[m]]``.

    Shapes:
        x: ``(M, D)``; batch: ``(M,)`` long -> dense ``(B, N, D)``, mask ``(B, N)``, slot ``(M,)``.
    """
    num = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.bincount(batch, minlength=num)
    width = int(counts.max()) if num else 0
    order = torch.argsort(batch, stable=True)
    start = torch.cumsum(counts, 0) - counts
    position = torch.empty_like(batch)
    position[order] = torch.arange(batch.numel(), device=x.device) - start[batch[order]]
    slot = batch * width + position
    dense = x.new_zeros(num * width, x.shape[-1])
    dense[slot] = x
    mask = torch.zeros(num * width, dtype=torch.bool, device=x.device)
    mask[slot] = True
    return dense.view(num, width, -1), mask.view(num, width), slot


def as_dense(x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, bool]:
    """Accept ``(N, D)`` or ``(B, N, D)`` with an optional mask; return ``(B, N, D)``, a mask
    ``(B, N)`` and whether a batch dimension was added."""
    single = x.ndim == 2
    if single:
        x = x.unsqueeze(0)
        mask = None if mask is None else mask.unsqueeze(0)
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return x, mask.bool(), single

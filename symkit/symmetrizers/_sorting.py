"""Sorting frames for the symmetric group S_N.

Sorting nodes by an invariant scalar key gives ``order = argsort(key)``; the element
``g = order`` (node ``i`` goes to position ``order[i]``, i.e. ``g^-1`` moves every node to its
rank) satisfies ``F(sigma x) = sigma F(x)``, so ``g^-1 x`` is the sorted, canonical sample.

**Ties.** Nodes with equal keys can be ordered in any way; the frame is the set of all
tie-breaking orders (``prod_runs |run|!`` of them). When that exceeds ``max_ties``,
``max_ties`` tie-breaks are drawn uniformly at random, which keeps the model equivariant in
distribution. Samples with fewer tie-breaks than the batch's ``K`` give the extra slots weight 0.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

__all__ = ["sorting_frame"]


def sorting_frame(
    key: Tensor, mask: Tensor | None = None, *, max_ties: int = 24,
    generator: torch.Generator | None = None, return_sampled: bool = False,
) -> tuple[Tensor, ...]:
    """Frame elements of S_N from a scalar key per node.

    Args:
        key: node key, invariant under the rest of the group.
        mask: valid nodes; padded nodes go last, in index order, and never tie.
        max_ties: most tie-breaking orders enumerated per sample before sampling.
        generator: random source for sampled tie-breaks.
        return_sampled: also return which samples had their tie-breaks sampled (not all
            enumerated): those are equivariant in distribution only.

    Shapes:
        key: ``(B, N)``; mask: ``(B, N)`` bool; returns permutations ``(B, K, N)`` long,
        weights ``(B, K)`` and whether each sample has ties ``(B,)`` bool (then ``sampled``
        ``(B,)`` bool when asked).
    """
    b, n = key.shape
    key = key.detach().to(torch.float64)
    if mask is not None:
        key = torch.where(mask, key, torch.full_like(key, math.inf))
    order = torch.argsort(key, dim=1, stable=True)
    sk = torch.gather(key, 1, order)
    same = sk[:, 1:] == sk[:, :-1]
    if mask is not None:
        same &= torch.gather(mask, 1, order)[:, 1:]
    ties = same.any(1)
    if not bool(ties.any()):
        out = order[:, None], key.new_ones(b, 1), ties
        return (*out, ties.clone()) if return_sampled else out
    run = torch.cat([torch.zeros_like(order[:, :1]), (~same).long()], 1).cumsum(1)
    per_sample: list[list[Tensor] | None] = []
    for i in range(b):
        per_sample.append(_enumerate(order[i], run[i], max_ties))
    sampled = any(p is None for p in per_sample)
    k = max_ties if sampled else max(len(p) for p in per_sample)
    perms = order[:, None].repeat(1, k, 1)
    weights = key.new_zeros(b, k)
    for i, p in enumerate(per_sample):
        if p is None:
            noise = torch.rand((k, n), generator=generator, dtype=torch.float64,
                               device=generator.device if generator is not None else None)
            within = torch.argsort(run[i].double() + 0.5 * noise.to(key.device), dim=1)
            perms[i] = order[i][within]
            weights[i] = 1.0 / k
        else:
            perms[i, : len(p)] = torch.stack(p)
            weights[i, : len(p)] = 1.0 / len(p)
    if return_sampled:
        sampled = torch.tensor([p is None for p in per_sample], device=key.device)
        return perms, weights, ties, sampled
    return perms, weights, ties


def _enumerate(order: Tensor, run: Tensor, limit: int) -> list[Tensor] | None:
    """Every tie-breaking reordering of one sample's ``order``, or ``None`` above ``limit``."""
    bounds = torch.nonzero(torch.diff(run, prepend=run[:1] - 1)).flatten().tolist() + [len(run)]
    runs = [(s, e) for s, e in zip(bounds[:-1], bounds[1:]) if e - s > 1]
    if math.prod(math.factorial(e - s) for s, e in runs) > limit:
        return None
    out = []
    for combo in itertools.product(*(itertools.permutations(range(s, e)) for s, e in runs)):
        o = order.clone()
        for (s, e), p in zip(runs, combo):
            o[s:e] = order[list(p)]
        out.append(o)
    return out

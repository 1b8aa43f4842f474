"""DeepSets scores: one scalar per node, equivariant under permutations of the nodes.

``s_i = rho([phi(x_i), 1/N sum_j phi(x_j), noise])``: permuting the nodes permutes the scores,
so ``argsort(s)`` is an equivariant element of S_N (``argsort(s)(sigma x) = sigma argsort(s)(x)``
when there are no ties).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["NodeScores"]


class NodeScores(nn.Module):
    """Permutation-equivariant node scores.

    Args:
        in_features: features per node (``LazyLinear`` when ``None``).
        hidden: MLP width.
        noise_dim: size of the invariant noise vector given to every node.

    Shapes:
        x: ``(B, N, F)``; noise: ``(B, noise_dim)``; returns ``(B, N)``.
    """

    def __init__(self, in_features: int | None = None, hidden: int = 32, noise_dim: int = 0):
        super().__init__()
        self.noise_dim = noise_dim
        first = nn.Linear(in_features, hidden) if in_features else nn.LazyLinear(hidden)
        self.phi = nn.Sequential(first, nn.SiLU(), nn.Linear(hidden, hidden))
        self.rho = nn.Sequential(nn.Linear(2 * hidden + noise_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        h = self.phi(x.reshape(*x.shape[:2], math.prod(x.shape[2:])))
        parts = [h, h.mean(dim=1, keepdim=True).expand_as(h)]
        if self.noise_dim:
            parts.append(noise.to(h.dtype)[:, None, :].expand(-1, h.shape[1], -1))
        return self.rho(torch.cat(parts, dim=-1)).squeeze(-1)

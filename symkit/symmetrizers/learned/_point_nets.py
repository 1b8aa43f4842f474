"""A small EGNN-style network giving equivariant vectors of a point set.

With ``c`` the centroid (``0`` for groups without translations) and invariant node features
``h_i`` built from radial-basis expansions of the inner products ``<x_i - c, x_j - c>_eta`` (one
message-passing layer over all pairs; the expansions keep the features diverse, so the output
vectors are far from collinear and the frames built from them well conditioned), the outputs
``v_k = 1/N sum_i psi_k(h_i) (x_i - c)`` satisfy ``v_k(A x + t) = A v_k(x)`` for every ``A``
preserving the form ``eta`` (O(d) for ``eta = I``) and every translation ``t`` (when centred),
and are invariant to permuting the points.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PointVectors"]


def rbf(v: Tensor, k: int = 16, limit: float = 4.0) -> Tensor:
    """Gaussian radial-basis expansion of ``v`` on ``k`` centres in ``[-limit, limit]``.

    Shapes:
        v: ``(...)``; returns ``(..., k)``.
    """
    mu = torch.linspace(-limit, limit, k, dtype=v.dtype, device=v.device)
    return torch.exp(-(((v[..., None] - mu) * (k / (2 * limit))) ** 2))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


class PointVectors(nn.Module):
    """``m`` equivariant vectors (and the centroid) of each point set.

    Args:
        num_vectors: ``m``.
        hidden: width of the invariant MLPs.
        noise_dim: size of the invariant noise vector concatenated to node features.
        center: subtract the centroid (translation-invariant vectors).

    Shapes:
        pos: ``(B, N, d)``; noise: ``(B, noise_dim)``; eta: ``(d,)``;
        returns vectors ``(B, d, m)`` (columns) and centroid ``(B, d)``.
    """

    def __init__(self, num_vectors: int, hidden: int = 32, noise_dim: int = 0,
                 center: bool = True, basis: int = 16):
        super().__init__()
        self.center, self.noise_dim, self.basis = center, noise_dim, basis
        self.message = _mlp([3 * basis, hidden, hidden])
        self.node = _mlp([basis + hidden + noise_dim, hidden, hidden])
        self.weights = nn.Linear(hidden, num_vectors)

    def forward(self, pos: Tensor, noise: Tensor | None = None,
                eta: Tensor | None = None) -> tuple[Tensor, Tensor]:
        c = pos.mean(dim=1) if self.center else pos.new_zeros(pos.shape[0], pos.shape[-1])
        x = pos - c[:, None]
        e = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device) if eta is None else eta
        gram = torch.einsum("bid,d,bjd->bij", x, e.to(x.dtype), x)  # invariant inner products
        sq = gram.diagonal(dim1=-2, dim2=-1)
        n = x.shape[1]
        k = self.basis
        r_i = rbf(sq, k)
        pair = torch.cat([r_i[:, :, None].expand(-1, -1, n, -1),
                          r_i[:, None, :].expand(-1, n, -1, -1), rbf(gram, k)], dim=-1)
        h = self.message(pair).mean(dim=2)
        parts = [r_i, h]
        if self.noise_dim:
            parts.append(noise.to(x.dtype)[:, None, :].expand(-1, n, -1))
        h = self.node(torch.cat(parts, dim=-1))
        w = self.weights(h)  # (B, N, m)
        return torch.einsum("bnm,bnd->bdm", w, x) / n, c

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

    The network reads normalized coordinates ``(x_i - c) / rho`` with ``rho^2`` the mean of
    ``|<x_i - c, x_i - c>_eta|`` over valid points (invariant), so its features do not depend
    on units; the output vectors are scaled back by ``rho``. Padded points (``mask`` false)
    are never read. Also returned is the reference size ``s_k = 1/N sum_i |w_ik - wbar_k| |x_i -
    c|`` of each vector (``wbar_k`` the mean over nodes when centred, which cancels exactly, else
    0), the norm it would have if nothing cancelled: ``|v_k| << s_k`` means that symmetry
    cancels it (see :func:`._matrices.complete_frame`).

    Args:
        num_vectors: ``m``.
        hidden: width of the invariant MLPs.
        noise_dim: size of the invariant noise vector concatenated to node features.
        center: subtract the centroid (translation-invariant vectors).

    Shapes:
        pos: ``(B, N, d)``; noise: ``(B, noise_dim)``; eta: ``(d,)``; mask: ``(B, N)`` bool;
        returns vectors ``(B, d, m)`` (columns), centroid ``(B, d)``, reference sizes
        ``(B, m)`` and the radius ``rho`` ``(B,)``.
    """

    def __init__(self, num_vectors: int, hidden: int = 32, noise_dim: int = 0,
                 center: bool = True, basis: int = 16):
        super().__init__()
        self.center, self.noise_dim, self.basis = center, noise_dim, basis
        self.message = _mlp([3 * basis, hidden, hidden])
        self.node = _mlp([basis + hidden + noise_dim, hidden, hidden])
        self.weights = nn.Linear(hidden, num_vectors)

    def forward(self, pos: Tensor, noise: Tensor | None = None, eta: Tensor | None = None,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        b, n, d = pos.shape
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=pos.device)
        w_node = mask.to(pos.dtype)
        count = w_node.sum(1).clamp_min(1.0)
        if self.center:
            c = (w_node[..., None] * pos).sum(1) / count[:, None]
        else:
            c = pos.new_zeros(b, d)
        x = (pos - c[:, None]) * w_node[..., None]
        e = torch.ones(d, dtype=x.dtype, device=x.device) if eta is None else eta.to(x.dtype)
        sq = torch.einsum("bid,d,bid->bi", x, e, x)
        rho2 = sq.abs().sum(1) / count
        rho = torch.where(rho2 > 0, rho2, torch.ones_like(rho2)).sqrt()
        u = x / rho[:, None, None]  # normalized coordinates: features independent of units
        gram = torch.einsum("bid,d,bjd->bij", u, e, u)  # invariant inner products
        k = self.basis
        r_i = rbf(gram.diagonal(dim1=-2, dim2=-1), k)
        pair = torch.cat([r_i[:, :, None].expand(-1, -1, n, -1),
                          r_i[:, None, :].expand(-1, n, -1, -1), rbf(gram, k)], dim=-1)
        msg = self.message(pair) * w_node[:, None, :, None]
        h = msg.sum(dim=2) / count[:, None, None]
        parts = [r_i, h]
        if self.noise_dim:
            parts.append(noise.to(x.dtype)[:, None, :].expand(-1, n, -1))
        h = self.node(torch.cat(parts, dim=-1))
        w = self.weights(h) * w_node[..., None]  # (B, N, m)
        v = torch.einsum("bnm,bnd->bdm", w, x) / count[:, None, None]
        # reference size: centring cancels the node-constant part of w exactly (sum_i x_i = 0),
        # so only the variation of w across nodes can make v large; measuring against it keeps
        # the cancellation test about symmetry, not about the network's initialization
        wd = w.detach()
        if self.center:
            wd = (wd - (wd.sum(1, keepdim=True) / count[:, None, None])) * w_node[..., None]
        size = torch.einsum("bnm,bn->bm", wd.abs(), x.detach().norm(dim=-1)) / count[:, None]
        return v, c, size, rho2.sqrt()

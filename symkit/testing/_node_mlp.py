"""``NodeMLP``: a non-equivariant test backbone for point sets in every batch layout.

:class:`~symkit.testing.FlatMLP` needs a fixed number of nodes; the hard-input corpus has
padded (masked), ragged (``batch`` vector) and empty batches. ``NodeMLP`` reads each node's
scalars and coordinates with an MLP (so it has no rotation, reflection or translation symmetry),
pools over the valid nodes of each sample, and writes every output field of the spec.
Coordinates are divided by each sample's RMS radius and vector/point outputs multiplied by it,
so the backbone is scale-covariant: a symmetrizer's error at coordinates scaled by ``1e-8`` or
``1e6`` is its own, not the backbone's saturation.

With ``positional=True`` each node also reads its rank among the valid nodes of its sample
(``sin`` / ``cos`` of ``0.7 * rank``), so the backbone is not invariant under node
permutations either (the mean pool alone would make it so): the test backbone of
``S_N x E(d)`` symmetrizers. The rank skips padding rows, so the output still does not depend on
the padding or on the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.reps import CartesianTensor, Point, Scalar, Vector
from symkit.spec import Spec

__all__ = ["NodeMLP"]


class NodeMLP(nn.Module):
    """``y = heads(MLP(h_i, x_i / r), mean_i MLP(h_i, x_i / r))`` with ``r`` the RMS radius.

    Args:
        in_spec: node scalar fields (``(B, N)`` or ``(B, N, C)``) and node point/vector fields
            ``(B, N, 3)``; ragged batches give ``(total, ...)`` with ``batch``.
        out_spec: fields to write: graph or node scalars ``(..., channels)``, vectors and points
            ``(..., channels, 3)`` (node points are ``x_i + r * MLP``, graph points the
            centroid ``+ r * MLP``), rank-``k`` tensors ``(..., channels, 3, ..., 3)``
            (``r^k * MLP``).
        hidden, channels: widths.
        positional: also read each node's rank among its sample's valid nodes (see above).

    Shapes:
        dense: ``mask: (B, N)`` bool optional; outputs ``(B, ...)`` / ``(B, N, ...)``.
        ragged: ``batch: (total,)``, ``num_graphs``; node outputs ``(total, ...)``.
    """

    def __init__(self, in_spec: Spec, out_spec: Spec, *, hidden: int = 16, channels: int = 2,
                 dim: int = 3, positional: bool = False):
        super().__init__()
        self.in_spec, self.out_spec, self.channels, self.dim = in_spec, out_spec, channels, dim
        self.positional = positional
        self.points = [n for n, f in in_spec.items() if f.nodes and isinstance(f.rep, Vector)]
        self.scalars = [n for n, f in in_spec.items() if f.nodes and isinstance(f.rep, Scalar)]
        n_in = len(self.scalars) + dim * len(self.points) + 2 * positional
        self.node = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                  nn.Tanh())
        self.heads = nn.ModuleDict()
        for name, f in out_spec.items():
            width = channels * (1 if isinstance(f.rep, Scalar) else dim ** _rank(f.rep))
            self.heads[name] = nn.Linear(2 * hidden if f.nodes else hidden, width)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        batch = sample.get("batch")
        ragged = isinstance(batch, Tensor) and batch.ndim == 1 and not batch.is_floating_point()
        ref = sample[self.points[0]]
        dtype = self.node[0].weight.dtype
        if ragged:
            size = int(sample["num_graphs"]) if "num_graphs" in sample else int(batch.max()) + 1
            graph, shape = batch, (ref.shape[0],)
            valid = torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)
        else:
            size, shape = ref.shape[0], ref.shape[:2]
            valid = sample.get("mask")
            valid = torch.ones(shape, dtype=torch.bool) if valid is None else valid.bool()
            graph = torch.arange(size, device=ref.device).repeat_interleave(shape[1])
        flat_valid = valid.reshape(-1)
        pos = [sample[n].reshape(-1, self.dim).to(dtype) for n in self.points]
        w = flat_valid[:, None].to(dtype)
        count = torch.zeros(size, dtype=dtype).index_add_(0, graph, w[:, 0]).clamp_min(1)
        centre = torch.zeros(size, self.dim, dtype=dtype).index_add_(0, graph, pos[0] * w)
        centre = centre / count[:, None]
        sq = ((pos[0] - centre[graph]) ** 2).sum(-1) * w[:, 0]
        radius = torch.zeros(size, dtype=dtype).index_add_(0, graph, sq) / count
        radius = torch.where(radius > 0, radius.sqrt(), torch.ones_like(radius))
        r_node = radius[graph][:, None]
        feats = [sample[n].reshape(-1, 1).to(dtype) / 10 for n in self.scalars]
        feats += [torch.where(w > 0, p / r_node, torch.zeros_like(p)) for p in pos]
        if self.positional:
            feats.append(_rank_encoding(flat_valid, graph, size, dtype))
        z = self.node(torch.cat(feats, dim=-1)) * w
        pooled = torch.zeros(size, z.shape[-1], dtype=dtype).index_add_(0, graph, z)
        pooled = pooled / count[:, None]
        per_node = torch.cat([z, pooled[graph]], dim=-1)
        out = {}
        for name, f in self.out_spec.items():
            y = self.heads[name](per_node if f.nodes else pooled)
            lead = shape if f.nodes else (size,)
            if isinstance(f.rep, Scalar):
                out[name] = y.reshape(*lead, self.channels)
                continue
            k = _rank(f.rep)
            r = r_node if f.nodes else radius[:, None]
            y = y.reshape(-1, self.channels, self.dim**k) * r[..., None] ** k
            if isinstance(f.rep, Point):
                y = y + (pos[0] if f.nodes else centre)[:, None, :]
            out[name] = y.reshape(*lead, self.channels, *(self.dim,) * k)
        return out


def _rank(rep) -> int:
    """Trailing ``d``-sized axes of a point, vector or Cartesian tensor output."""
    return rep.rank if isinstance(rep, CartesianTensor) else 1


def _rank_encoding(valid: Tensor, graph: Tensor, size: int, dtype: torch.dtype) -> Tensor:
    """``(sin, cos)(0.7 * rank)`` of each node's rank among the valid nodes of its sample
    (nodes of a sample are contiguous and in order in both layouts).

    Shapes:
        valid, graph: ``(M,)`` over all node rows; returns ``(M, 2)``.
    """
    count = torch.zeros(size, dtype=torch.long, device=valid.device).index_add_(
        0, graph, valid.long())
    before = torch.cumsum(count, 0) - count  # valid nodes of the earlier samples
    rank = (torch.cumsum(valid.long(), 0) - 1 - before[graph]).to(dtype)
    rank = torch.where(valid, rank, torch.zeros_like(rank))
    return torch.stack([torch.sin(0.7 * rank), torch.cos(0.7 * rank)], -1)

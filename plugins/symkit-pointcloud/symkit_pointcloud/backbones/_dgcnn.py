"""DGCNN: EdgeConv layers on kNN graphs recomputed from each layer's features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import masked_pool, mlp
from symkit_pointcloud.backbones._io import Heads, parse_reads, point_writes, read_points
from symkit_pointcloud.ops import knn

__all__ = ["EdgeConv", "DGCNN", "dgcnn"]


class EdgeConv(nn.Module):
    """EdgeConv (Wang et al., 2019): ``x_i' = max_{j in kNN(i)} h([x_i, x_j - x_i])``.

    The graph is the kNN graph of the layer's own input features (dynamic graph); padding is
    never a neighbour.

    Shapes:
        x: ``(B, N, F_in)``; mask: ``(B, N)`` -> ``(B, N, F_out)``.
    """

    def __init__(self, in_dim: int, out_dim: int, k: int):
        super().__init__()
        self.k = k
        self.h = nn.Sequential(nn.Linear(2 * in_dim, out_dim), nn.LeakyReLU(0.2),
                               nn.Linear(out_dim, out_dim), nn.LeakyReLU(0.2))

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        idx = knn(x.detach(), self.k, mask=mask)
        rows = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
        neighbours = x[rows, idx]  # (B, N, k, F)
        centre = x.unsqueeze(2).expand_as(neighbours)
        return self.h(torch.cat([centre, neighbours - centre], dim=-1)).amax(dim=2)


class DGCNN(nn.Module):
    """Dynamic Graph CNN: stacked :class:`EdgeConv` layers, a shared linear embedding of their
    concatenated outputs, masked max+mean pooling, then output heads.

    Per-cloud outputs are permutation invariant (up to kNN ties).

    Args:
        in_dim: features per point after concatenating ``reads``.
        k: neighbours per point in every EdgeConv.
        edge_dims: output width of each EdgeConv layer.
        emb_dim: width of the embedding before pooling.
        head: hidden widths of the output heads.
        writes: output fields and shapes (leading ``-1`` = per point).
        reads: input node fields (default: the in_spec's fields, else ``pos``).
        mask: name of the ``(B, N)`` bool mask field.
        dropout: dropout in the per-cloud head.
        in_spec: filled in by the model builder; only its field names are used.

    Shapes:
        sample[reads]: ``(B, N, in_dim)`` -> ``{logits: (B, C)}`` and/or ``(B, N, ...)`` fields.
    """

    def __init__(self, in_dim: int = 3, k: int = 16, edge_dims: Sequence[int] = (64, 64, 128),
                 emb_dim: int = 256, head: Sequence[int] = (256, 128),
                 writes: Mapping[str, Any] | None = None,
                 reads: Sequence[str] | str | None = None, mask: str | None = "mask",
                 dropout: float = 0.0, in_spec: Any = None):
        super().__init__()
        self.reads = parse_reads(reads, in_spec)
        self.mask = mask
        widths = [in_dim, *edge_dims]
        self.convs = nn.ModuleList(EdgeConv(a, b, k) for a, b in zip(widths[:-1], widths[1:]))
        self.embed = mlp([emb_dim], None, final_act=True, in_features=sum(edge_dims))
        self.heads = Heads(point_writes(writes), emb_dim, 2 * emb_dim, head, dropout)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = read_points(sample, self.reads, self.mask)
        features = []
        for conv in self.convs:
            x = conv(x, mask)
            features.append(x)
        local = self.embed(torch.cat(features, dim=-1))
        pooled = torch.cat([masked_pool(local, mask, "max"), masked_pool(local, mask, "mean")],
                           dim=-1)
        return self.heads(local, pooled, mask)


def dgcnn(in_dim: int = 3, k: int = 16, edge_dims: Sequence[int] = (64, 64, 128),
          emb_dim: int = 256, head: Sequence[int] = (256, 128),
          writes: Mapping[str, Any] | None = None, reads: Sequence[str] | str | None = None,
          mask: str | None = "mask", dropout: float = 0.0, in_spec: Any = None) -> DGCNN:
    """DGCNN: EdgeConv on dynamic kNN graphs + masked max/mean pooling."""
    return DGCNN(in_dim, k, edge_dims, emb_dim, head, writes, reads, mask, dropout, in_spec)

"""PointNet: a shared per-point MLP, masked max pooling, then output heads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones import masked_pool, mlp
from symkit_pointcloud.backbones._io import Heads, parse_reads, point_writes, read_points

__all__ = ["PointNet", "pointnet"]


class PointNet(nn.Module):
    """PointNet (Qi et al., 2017) without its alignment nets: ``f(X) = rho(max_i phi(x_i))``.

    ``phi`` is one MLP shared by all points and the max ignores padding, so per-cloud outputs
    are invariant to any permutation of the points (and to how much padding there is);
    per-point outputs ``psi([phi(x_i), max_j phi(x_j)])`` are permutation equivariant.

    Args:
        in_dim: features per point after concatenating ``reads`` (3 for ``pos``).
        hidden: widths of the shared per-point MLP ``phi``.
        head: hidden widths of the output heads.
        writes: output fields and shapes (leading ``-1`` = per point).
        reads: input node fields (default: the in_spec's fields, else ``pos``).
        mask: name of the ``(B, N)`` bool mask field, used when the sample has it.
        dropout: dropout in the per-cloud head.
        in_spec: filled in by the model builder; only its field names are used.

    Shapes:
        sample[reads]: ``(B, N, in_dim)`` -> ``{logits: (B, C)}`` and/or ``{seg: (B, N, ...)}``.
    """

    def __init__(self, in_dim: int = 3, hidden: Sequence[int] = (64, 128, 256),
                 head: Sequence[int] = (256, 128), writes: Mapping[str, Any] | None = None,
                 reads: Sequence[str] | str | None = None, mask: str | None = "mask",
                 dropout: float = 0.0, in_spec: Any = None):
        super().__init__()
        self.reads = parse_reads(reads, in_spec)
        self.mask = mask
        self.phi = mlp(hidden, None, final_act=True, in_features=in_dim)
        self.heads = Heads(point_writes(writes), hidden[-1], hidden[-1], head, dropout)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = read_points(sample, self.reads, self.mask)
        local = self.phi(x)
        return self.heads(local, masked_pool(local, mask, "max"), mask)


def pointnet(in_dim: int = 3, hidden: Sequence[int] = (64, 128, 256),
             head: Sequence[int] = (256, 128), writes: Mapping[str, Any] | None = None,
             reads: Sequence[str] | str | None = None, mask: str | None = "mask",
             dropout: float = 0.0, in_spec: Any = None) -> PointNet:
    """PointNet: shared per-point MLP + masked max pooling; permutation-invariant logits."""
    return PointNet(in_dim, hidden, head, writes, reads, mask, dropout, in_spec)

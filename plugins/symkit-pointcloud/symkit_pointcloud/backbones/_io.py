"""How the point backbones read a sample and write their outputs.

Same convention as symkit's core backbones: ``reads`` names the node fields ``(B, N, ...)``
that are concatenated into per-point features; ``writes`` maps each output field to its shape,
where a leading ``-1`` stands for the point axis (``{logits: [10]}`` gives ``(B, 10)``,
``{seg: [-1, 4]}`` gives ``(B, N, 4)``); ``mask`` names an optional ``(B, N)`` bool field of
real points. Reading fields and masks, masked pooling, the ``writes`` check, the MLP and the
output heads are symkit's public helpers (:mod:`symkit.backbones`); only the point-cloud
defaults (``pos``, ``logits``) and the PointNet head trunks live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import (
    OutputHeads,
    is_per_node,
    mlp,
    node_features,
    node_mask,
    parse_writes,
    resolve_reads,
)

__all__ = ["parse_reads", "point_writes", "read_points", "Heads"]


def parse_reads(reads: Sequence[str] | str | None, in_spec: Any = None) -> list[str]:
    """Input field names: ``reads``, else the fields of ``in_spec``, else ``["pos"]``."""
    if reads is None and in_spec is None:
        return ["pos"]
    return resolve_reads(reads, in_spec)


def point_writes(writes: Mapping[str, Sequence[int] | int] | None, default: int = 10
                 ) -> dict[str, tuple[int, ...]]:
    """``{field: shape}`` (symkit's convention); default ``{"logits": (default,)}``.

    Point backbones need at least one size per field, so an empty shape is rejected.

    Raises:
        ConfigError: an empty or non-positive shape, or ``-1`` other than first (``writes.NAME``).
    """
    return parse_writes(writes, default={"logits": [default]}, scalar=False)


def read_points(sample: Mapping[str, Tensor], reads: Sequence[str], mask: str | None
                ) -> tuple[Tensor, Tensor | None]:
    """Concatenate the node fields into ``(B, N, F)`` and fetch the ``(B, N)`` mask if present."""
    x = node_features(sample, reads)
    return x, node_mask(sample, mask, x)


class Heads(nn.Module):
    """Output heads: per-cloud fields from the global feature, per-point fields from
    ``[local, global]`` (the PointNet segmentation head), each through its own MLP trunk and
    then symkit's :class:`~symkit.backbones.OutputHeads`.

    Args:
        writes: output fields and shapes (leading ``-1`` = per point).
        local_dim: width of the per-point features; global_dim: width of the pooled feature.
        head: hidden widths of both trunks (empty: the heads read the features directly).
        dropout: dropout in the per-cloud trunk.

    Shapes:
        local: ``(B, N, L)``; pooled: ``(B, G)`` -> ``{field: (B, *shape)}`` or ``(B, N, ...)``.
    """

    def __init__(self, writes: Mapping[str, tuple[int, ...]], local_dim: int, global_dim: int,
                 head: Sequence[int], dropout: float = 0.0):
        super().__init__()
        shapes = dict(writes)
        per_point = any(is_per_node(s) for s in shapes.values())
        width = head[-1] if head else None
        self.cloud_trunk = mlp(head, None, final_act=True, in_features=global_dim,
                               dropout=dropout)
        self.point_trunk = mlp(head, None, final_act=True, in_features=local_dim + global_dim) \
            if per_point else None
        self.out = OutputHeads(shapes, width or global_dim,
                               node_in_features=width or local_dim + global_dim)

    def forward(self, local: Tensor, pooled: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        point = None
        if self.point_trunk is not None:
            both = torch.cat([local, pooled.unsqueeze(1).expand(-1, local.shape[1], -1)], -1)
            point = self.point_trunk(both)
        return self.out(point, self.cloud_trunk(pooled), mask)

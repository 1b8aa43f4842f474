"""How the point backbones read a sample and write their outputs.

Same convention as symkit's core backbones: ``reads`` names the node fields ``(B, N, ...)``
that are concatenated into per-point features; ``writes`` maps each output field to its shape,
where a leading ``-1`` stands for the point axis (``{logits: [10]}`` gives ``(B, 10)``,
``{seg: [-1, 4]}`` gives ``(B, N, 4)``); ``mask`` names an optional ``(B, N)`` bool field of
real points. Reading fields, masks, mean pooling and the ``writes`` check are symkit's public
helpers (:mod:`symkit.backbones`); only the point-cloud defaults (``pos``, ``logits``), max
pooling, the explicit-width MLP and the PointNet heads live here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import masked_pool, node_features, node_mask, resolve_reads
from symkit.backbones import parse_writes as _core_parse_writes
from symkit.errors import ConfigError

__all__ = ["parse_reads", "parse_writes", "read_points", "masked_max", "masked_mean", "mlp",
           "Heads"]


def parse_reads(reads: Sequence[str] | str | None, in_spec: Any = None) -> list[str]:
    """Input field names: ``reads``, else the fields of ``in_spec``, else ``["pos"]``."""
    if reads is None and in_spec is None:
        return ["pos"]
    return resolve_reads(reads, in_spec)


def parse_writes(writes: Mapping[str, Sequence[int] | int] | None, default: int = 10
                 ) -> dict[str, tuple[int, ...]]:
    """``{field: shape}`` (symkit's convention); default ``{"logits": (default,)}``.

    Point backbones need at least one size per field, so an empty shape is rejected.
    """
    out = _core_parse_writes({"logits": [default]} if writes is None else writes)
    for name, shape in out.items():
        if not shape:
            raise ConfigError(f"writes.{name}", f"bad shape {list(shape)}: positive sizes, "
                              "only the first may be -1 (one per point)")
    return out


def read_points(sample: Mapping[str, Tensor], reads: Sequence[str], mask: str | None
                ) -> tuple[Tensor, Tensor | None]:
    """Concatenate the node fields into ``(B, N, F)`` and fetch the ``(B, N)`` mask if present."""
    x = node_features(sample, reads)
    return x, node_mask(sample, mask, x)


def masked_max(h: Tensor, mask: Tensor | None) -> Tensor:
    """Max over the point axis ignoring padding (an all-padding cloud pools to 0).

    Shapes:
        h: ``(B, N, F)``; mask: ``(B, N)`` -> ``(B, F)``.
    """
    if mask is None:
        return h.amax(dim=1)
    pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
    return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))


def masked_mean(h: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over the point axis ignoring padding. Shapes: ``(B, N, F)`` -> ``(B, F)``."""
    return masked_pool(h, mask, "mean")


def mlp(widths: Sequence[int], act: type[nn.Module] = nn.ReLU, *, final_act: bool = True,
        dropout: float = 0.0) -> nn.Sequential:
    """``Linear(widths[0], widths[1]) -> act -> ...``; ``final_act`` also activates the last."""
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2 or final_act:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Heads(nn.Module):
    """Output heads: per-cloud fields from the global feature, per-point fields from
    ``[local, global]`` (the PointNet segmentation head).

    Shapes:
        local: ``(B, N, L)``; pooled: ``(B, G)`` -> ``{field: (B, *shape)}`` or ``(B, N, ...)``.
    """

    def __init__(self, writes: Mapping[str, tuple[int, ...]], local_dim: int, global_dim: int,
                 head: Sequence[int], dropout: float = 0.0):
        super().__init__()
        self.shapes = dict(writes)
        per_point = [n for n, s in self.shapes.items() if s[0] == -1]
        width = head[-1] if head else None
        self.cloud_trunk = mlp([global_dim, *head], dropout=dropout)
        self.point_trunk = mlp([local_dim + global_dim, *head]) if per_point else None
        self.out = nn.ModuleDict({
            name: nn.Linear(
                width or (local_dim + global_dim if s[0] == -1 else global_dim),
                math.prod(s[1:] if s[0] == -1 else s),
            )
            for name, s in self.shapes.items()
        })

    def forward(self, local: Tensor, pooled: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        cloud = self.cloud_trunk(pooled)
        point = None
        if self.point_trunk is not None:
            both = torch.cat([local, pooled.unsqueeze(1).expand(-1, local.shape[1], -1)], -1)
            point = self.point_trunk(both)
        out = {}
        for name, shape in self.shapes.items():
            if shape[0] == -1:
                y = self.out[name](point).reshape(*local.shape[:2], *shape[1:])
                if mask is not None:
                    y = y * mask.reshape(*mask.shape, *(1,) * (y.ndim - 2)).to(y.dtype)
            else:
                y = self.out[name](cloud).reshape(pooled.shape[0], *shape)
            out[name] = y
        return out

"""Reading the image field and writing per-image outputs (the core backbones' convention).

``reads`` names the image field ``(B, C, H, W)``; ``writes`` maps each output field to its
per-image shape (``{logits: [10]}`` gives ``(B, 10)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.errors import ConfigError, SpecError

__all__ = ["parse_writes", "read_image", "Heads"]


def parse_writes(writes: Mapping[str, Sequence[int] | int] | None) -> dict[str, tuple[int, ...]]:
    """``{field: shape}`` with int shapes made 1-d; default ``{"logits": (10,)}``."""
    writes = {"logits": [10]} if writes is None else writes
    out = {}
    for name, shape in writes.items():
        shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        if not shape or any(s <= 0 for s in shape):
            raise ConfigError(f"writes.{name}", f"bad shape {list(shape)}: use positive sizes")
        out[str(name)] = shape
    return out


def read_image(sample: Mapping[str, Tensor], reads: str) -> Tensor:
    """The ``(B, C, H, W)`` image field named ``reads``."""
    if reads not in sample:
        raise SpecError(reads, f"missing input image; sample has {sorted(sample)}")
    x = sample[reads]
    if x.ndim != 4:
        raise SpecError(reads, f"expected an image batch (B, C, H, W), got {tuple(x.shape)}")
    return x


class Heads(nn.Module):
    """One linear map per output field from pooled features. Shapes: ``(B, F)`` -> fields."""

    def __init__(self, writes: Mapping[str, tuple[int, ...]], in_features: int,
                 dropout: float = 0.0):
        super().__init__()
        self.shapes = dict(writes)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.ModuleDict({n: nn.Linear(in_features, math.prod(s))
                                  for n, s in self.shapes.items()})

    def forward(self, h: Tensor) -> dict[str, Any]:
        h = self.dropout(h)
        return {n: self.out[n](h).reshape(h.shape[0], *s) for n, s in self.shapes.items()}

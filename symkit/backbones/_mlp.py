"""A multilayer perceptron over whole samples."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones._fields import OutputHeads, mlp, parse_writes, resolve_reads
from symkit.errors import SpecError
from symkit.registry import register

__all__ = ["MLP", "mlp_backbone"]


class MLP(nn.Module):
    """``y = W_L s(... s(W_1 [x_1; ...; x_k]))``: every read field is flattened per sample and
    the pieces concatenated; one linear head per written field.

    Args:
        reads: input field names.
        writes: output field -> per-sample shape (see :mod:`symkit.backbones._fields`).
        hidden: hidden layer widths.
        activation: activation name.

    Shapes:
        each read field: ``(B, ...)``; each written field: ``(B, *shape)``.
    """

    def __init__(self, reads: Sequence[str], writes: Mapping[str, Sequence[int]],
                 hidden: Sequence[int] = (128, 128), activation: str = "relu"):
        super().__init__()
        self.reads = list(reads)
        shapes = parse_writes(writes, per_node=False)
        self.body = mlp(hidden, None, activation, final_act=True) if hidden else nn.Identity()
        self.heads = OutputHeads(shapes, in_features=hidden[-1] if hidden else None)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        parts = []
        for name in self.reads:
            if name not in sample:
                raise SpecError(name, f"missing input field; sample has {sorted(sample)}")
            x = sample[name]
            parts.append(x.reshape(x.shape[0], math.prod(x.shape[1:])))  # B = 0 too
        x = torch.cat(parts, dim=-1)
        return self.heads(None, self.body(x))


@register("backbones", "mlp")
def mlp_backbone(
    writes: dict[str, list[int]],
    reads: list[str] | None = None,
    hidden: Sequence[int] = (128, 128),
    activation: str = "relu",
    in_spec: Any = None,
) -> MLP:
    """Multilayer perceptron on the flattened, concatenated input fields of each sample.

    Args:
        writes: output field -> per-sample shape, e.g. ``{logits: [10]}``.
        reads: input field names (default: the fields of ``in_spec``).
        hidden: hidden widths.
        activation: ``relu``, ``gelu``, ``silu``, ``tanh``, ...
        in_spec: filled from the model's context.
    """
    return MLP(resolve_reads(reads, in_spec), writes, list(hidden), activation)

"""Deep Sets (Zaheer et al. 2017) over the nodes of a sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones._fields import (
    OutputHeads,
    is_per_node,
    masked_pool,
    mlp,
    node_features,
    node_mask,
    parse_writes,
    resolve_reads,
)
from symkit.errors import ConfigError
from symkit.registry import register

__all__ = ["DeepSets", "deepsets"]


class DeepSets(nn.Module):
    """``rho(pool_i phi(x_i))`` for per-sample outputs (permutation invariant) and
    ``rho([phi(x_i); pool_j phi(x_j)])`` for per-node outputs (permutation equivariant).

    Padded nodes (``mask`` False) are left out of the pool and get zero per-node outputs.

    Args:
        reads: node field names, each ``(B, N, ...)``; flattened per node and concatenated.
        writes: output field -> shape; a leading -1 means per node.
        hidden: width of phi and rho layers.
        layers: number of layers of phi and of rho.
        pool: ``sum`` or ``mean``.
        activation: activation name.
        mask: name of the optional ``(B, N)`` bool mask field.

    Shapes:
        read fields: ``(B, N, ...)``; outputs ``(B, *shape)`` or ``(B, N, *shape[1:])``.
    """

    def __init__(self, reads: Sequence[str], writes: Mapping[str, Sequence[int]],
                 hidden: int = 128, layers: int = 2, pool: str = "sum",
                 activation: str = "relu", mask: str | None = "mask"):
        super().__init__()
        self.reads, self.pool, self.mask = list(reads), pool, mask
        shapes = parse_writes(writes)
        if pool not in ("sum", "mean"):
            raise ConfigError("pool", f"unknown pooling '{pool}'; use 'sum' or 'mean'")
        self.per_node = any(is_per_node(s) for s in shapes.values())
        self.per_sample = not all(is_per_node(s) for s in shapes.values())
        self.phi = mlp([hidden] * layers, None, activation, final_act=True)
        self.rho = mlp([hidden] * layers, None, activation, final_act=True)
        self.heads = OutputHeads(shapes, in_features=hidden)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = node_features(sample, self.reads)
        mask = node_mask(sample, self.mask, x)
        h = self.phi(x)
        pooled = masked_pool(h, mask, self.pool)
        node = self.rho(h + pooled.unsqueeze(1)) if self.per_node else None
        graph = self.rho(pooled) if self.per_sample else None
        return self.heads(node, graph, mask)


@register("backbones", "deepsets")
def deepsets(
    writes: dict[str, list[int]],
    reads: list[str] | None = None,
    hidden: int = 128,
    layers: int = 2,
    pool: str = "sum",
    activation: str = "relu",
    mask: str | None = "mask",
    in_spec: Any = None,
) -> DeepSets:
    """Deep Sets: per-node phi, masked sum/mean pooling, rho; per-graph or per-node outputs.

    Args:
        writes: output field -> shape; ``[-1, ...]`` for per-node outputs.
        reads: node field names (default: the fields of ``in_spec``).
        hidden: width of every layer.
        layers: layers in phi and in rho.
        pool: ``sum`` or ``mean``.
        activation: activation name.
        mask: name of the optional (B, N) bool node-mask field.
        in_spec: filled from the model's context.
    """
    return DeepSets(resolve_reads(reads, in_spec), writes, hidden, layers, pool, activation, mask)

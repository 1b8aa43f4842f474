"""A small Transformer encoder over the nodes of a sample (no positional encoding)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones._fields import (
    OutputHeads,
    is_per_node,
    masked_pool,
    node_features,
    node_mask,
    parse_writes,
    resolve_reads,
)
from symkit.errors import ConfigError
from symkit.registry import register

__all__ = ["SetTransformer", "set_transformer"]


class SetTransformer(nn.Module):
    """Self-attention over nodes: ``h = Encoder(W x)``; per-node outputs read ``h_i``, per-sample
    outputs read the masked pool of ``h``. Without positional encodings the encoder is
    permutation equivariant, the pooled outputs permutation invariant.

    Padded nodes (``mask`` False) are hidden from attention by ``src_key_padding_mask``, left
    out of the pool, and get zero per-node outputs.

    Args:
        reads: node field names ``(B, N, ...)``, flattened per node and concatenated.
        writes: output field -> shape; a leading -1 means per node.
        dim: model width.
        heads: attention heads (must divide ``dim``).
        layers: encoder layers.
        ff: feed-forward width (default ``2 * dim``).
        dropout: dropout in the encoder layers.
        pool: ``mean`` or ``sum`` for per-sample outputs.
        mask: name of the optional ``(B, N)`` bool mask field.

    Shapes:
        read fields: ``(B, N, ...)``; outputs ``(B, *shape)`` or ``(B, N, *shape[1:])``.
    """

    def __init__(self, reads: Sequence[str], writes: Mapping[str, Sequence[int]], dim: int = 64,
                 heads: int = 4, layers: int = 2, ff: int | None = None, dropout: float = 0.0,
                 pool: str = "mean", mask: str | None = "mask"):
        super().__init__()
        if dim % heads:
            raise ConfigError("heads", f"heads={heads} must divide dim={dim}")
        if pool not in ("sum", "mean"):
            raise ConfigError("pool", f"unknown pooling '{pool}'; use 'sum' or 'mean'")
        self.reads, self.pool, self.mask = list(reads), pool, mask
        shapes = parse_writes(writes)
        self.per_sample = not all(is_per_node(s) for s in shapes.values())
        self.embed = nn.LazyLinear(dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, ff or 2 * dim, dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )
        # nested tensors would change padded positions between train and eval; keep it dense
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.heads = OutputHeads(shapes, in_features=dim)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = node_features(sample, self.reads)
        mask = node_mask(sample, self.mask, x)
        padding = None if mask is None else ~mask
        h = self.norm(self.encoder(self.embed(x), src_key_padding_mask=padding))
        pooled = masked_pool(h, mask, self.pool) if self.per_sample else None
        return self.heads(h, pooled, mask)


@register("backbones", "set_transformer")
def set_transformer(
    writes: dict[str, list[int]],
    reads: list[str] | None = None,
    dim: int = 64,
    heads: int = 4,
    layers: int = 2,
    ff: int | None = None,
    dropout: float = 0.0,
    pool: str = "mean",
    mask: str | None = "mask",
    in_spec: Any = None,
) -> SetTransformer:
    """Transformer encoder over nodes (``nn.TransformerEncoder``) with a key-padding mask.

    Args:
        writes: output field -> shape; ``[-1, ...]`` for per-node outputs.
        reads: node field names (default: the fields of ``in_spec``).
        dim: model width; heads: attention heads; layers: encoder layers.
        ff: feed-forward width (default 2 * dim); dropout: encoder dropout.
        pool: ``mean`` or ``sum`` for per-sample outputs.
        mask: name of the optional (B, N) bool node-mask field.
        in_spec: filled from the model's context.
    """
    return SetTransformer(
        resolve_reads(reads, in_spec), writes, dim, heads, layers, ff, dropout, pool, mask
    )

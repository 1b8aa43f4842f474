"""Graph plumbing shared by the message-passing backbones: adjacency, edge indices, node scalars.

Scatter sums come from :func:`symkit.ops.scatter_sum` (torch-scatter when installed and working,
else ``index_add_``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from symkit.errors import SpecError

__all__ = ["fully_connected_mask", "global_edge_index", "node_scalars"]


def fully_connected_mask(n: int, mask: Tensor | None, batch: int, device=None) -> Tensor:
    """Which ordered pairs ``(i, j)``, ``i != j``, are edges: both nodes real.

    Shapes:
        mask: ``(B, N)`` bool or ``None``; returns ``(B, N, N)`` bool.
    """
    adj = ~torch.eye(n, dtype=torch.bool, device=device).expand(batch, n, n)
    if mask is not None:
        adj = adj & mask.unsqueeze(1) & mask.unsqueeze(2)
    return adj


def global_edge_index(edge_index: Tensor, batch: int, n: int) -> Tensor:
    """Per-sample edges ``(B, 2, E)`` (or one shared ``(2, E)``) -> edges of the flattened
    batch ``(2, B*E)`` over ``B*N`` nodes. Row 0 is the source ``j``, row 1 the target ``i``."""
    if edge_index.ndim == 2:
        edge_index = edge_index.unsqueeze(0).expand(batch, -1, -1)
    if edge_index.ndim != 3 or edge_index.shape[1] != 2:
        raise SpecError(
            "edge_index", f"expected (B, 2, E) or (2, E), got {tuple(edge_index.shape)}"
        )
    offset = torch.arange(batch, device=edge_index.device).view(batch, 1, 1) * n
    return (edge_index.long() + offset).permute(1, 0, 2).reshape(2, -1)


def node_scalars(sample: Mapping[str, Tensor], names: Sequence[str]) -> Tensor | None:
    """Stack the named node scalar fields ``(B, N)`` or ``(B, N, 1)`` into ``(B, N, C)``."""
    if not names:
        return None
    cols = []
    for name in names:
        if name not in sample:
            raise SpecError(name, f"missing node-scalar field; sample has {sorted(sample)}")
        q = sample[name]
        q = q.reshape(q.shape[0], q.shape[1], -1)
        if q.shape[-1] != 1:
            raise SpecError(name, f"expected one scalar per node, got {tuple(sample[name].shape)}")
        cols.append(q)
    return torch.cat(cols, dim=-1)

"""Batching variable-size samples: ragged (concatenated nodes) or padded (with a mask).

These are the two layouts every symmetrizer accepts (see
:mod:`symkit.symmetrizers._batching`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["RESERVED", "ragged_collate", "padded_collate"]

#: Batch keys the collates write; sample fields may not use them.
RESERVED = frozenset({"batch", "num_graphs", "mask"})


def ragged_collate(items: Sequence[Mapping[str, Tensor]], node_fields: Collection[str]
                   ) -> dict[str, Any]:
    """Concatenate node fields and stack per-sample fields.

    Shapes:
        node field ``(n_i, ...)`` per item -> ``(sum_i n_i, ...)``; per-sample field ``(...)``
        -> ``(B, ...)``; ``batch``: ``(sum_i n_i,)`` long, the sample of each node;
        ``num_graphs``: ``B`` (an int, so that empty samples are counted).
    """
    out: dict[str, Any] = {}
    sizes = None
    for name in items[0]:
        values = [it[name] for it in items]
        if name in node_fields:
            out[name] = torch.cat(values)
            if sizes is None:
                sizes = torch.tensor([v.shape[0] for v in values])
        else:
            out[name] = torch.stack(values)
    out["batch"] = torch.repeat_interleave(torch.arange(len(items)), sizes)
    out["num_graphs"] = len(items)
    return out


def padded_collate(items: Sequence[Mapping[str, Tensor]], node_fields: Collection[str]
                   ) -> dict[str, Any]:
    """Pad node fields with zeros to the largest sample and stack everything.

    Shapes:
        node field ``(n_i, ...)`` per item -> ``(B, N_max, ...)``; per-sample field ``(...)``
        -> ``(B, ...)``; ``mask``: ``(B, N_max)`` bool, ``True`` on real nodes.
    """
    out: dict[str, Any] = {}
    sizes = None
    for name in items[0]:
        values = [it[name] for it in items]
        if name in node_fields:
            n_max = max(v.shape[0] for v in values)
            padded = values[0].new_zeros((len(values), n_max, *values[0].shape[1:]))
            for b, v in enumerate(values):
                padded[b, :v.shape[0]] = v
            out[name] = padded
            if sizes is None:
                sizes = torch.tensor([v.shape[0] for v in values])
        else:
            out[name] = torch.stack(values)
    n_max = int(sizes.max()) if len(sizes) else 0
    out["mask"] = torch.arange(n_max).unsqueeze(0) < sizes.unsqueeze(1)
    return out

"""PyG models as symkit backbones: ``sample -> {writes: model(x, edge_index, ...)}``."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import parse_writes
from symkit.errors import ConfigError, SpecError
from symkit_pyg._convert import NODE_ID, Edges, edges_for, fully_connected

__all__ = ["PyGBackbone", "POOLS"]

POOLS = ("mean", "sum", "max")


class PyGBackbone(nn.Module):
    """A PyG model ``(x, edge_index, [edge_attr], [batch]) -> (total_nodes, F)`` on a ragged
    sample: ``x`` is the read node fields flattened per node and concatenated; node outputs are
    split into the written fields, graph outputs pooled over each graph first.

    The graph is the sample's ``edges`` (a PyG batch, see :func:`symkit_pyg.to_sample`),
    rebuilt for the copies a symmetrizer makes, or else the fully connected graph of each
    sample (ragged batches from the ``arrays`` data set).

    Args:
        model: the PyG module (``out_channels`` = the sum of the written sizes).
        reads: node fields, e.g. ``["x", "pos"]``.
        writes: field -> per-node shape ``[-1, ...]`` or per-graph shape ``[...]``.
        pool: ``mean``, ``sum`` or ``max`` for per-graph outputs.

    Shapes:
        read fields ``(total_nodes, ...)``, ``batch`` ``(total_nodes,)`` -> node outputs
        ``(total_nodes, *shape)``, graph outputs ``(B, *shape)``.
    """

    def __init__(self, model: nn.Module, reads: Sequence[str],
                 writes: Mapping[str, Sequence[int]], pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise ConfigError("pool", f"unknown pooling {pool!r}; use one of {list(POOLS)}")
        self.model, self.reads, self.pool = model, list(reads), pool
        self.shapes = parse_writes(writes)
        params = inspect.signature(model.forward).parameters
        self._takes_batch = "batch" in params
        self._takes_edge_attr = "edge_attr" in params

    @staticmethod
    def out_channels(writes: Mapping[str, Sequence[int]]) -> int:
        """The channels a model must output for ``writes``."""
        total = 0
        for shape in parse_writes(writes).values():
            total += int(torch.tensor(shape[1:] if shape and shape[0] == -1 else shape).prod())
        return total

    def forward(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        batch = sample.get("batch")
        if not isinstance(batch, Tensor) or batch.ndim != 1:
            raise SpecError("batch", "a PyG backbone needs a ragged sample (node fields "
                            "(total_nodes, ...) and a 'batch' index); use a PyG batch or "
                            "the arrays data set with batching: ragged")
        parts = []
        for name in self.reads:
            if name not in sample:
                raise SpecError(name, f"missing input field; sample has {sorted(sample)}")
            parts.append(sample[name].reshape(batch.shape[0], -1))
        dtype = next((p.dtype for p in parts if p.is_floating_point()),
                     torch.get_default_dtype())
        x = torch.cat([p.to(dtype) for p in parts], dim=-1)
        edges = sample.get("edges")
        attr = None
        if isinstance(edges, Edges):
            node_id = sample.get(NODE_ID)
            if node_id is None:
                node_id = torch.arange(batch.numel(), device=batch.device)
            edge_index, attr = edges_for(edges, node_id, batch)
        else:
            edge_index = fully_connected(batch)
        kwargs: dict[str, Any] = {}
        if self._takes_batch:
            kwargs["batch"] = batch
        if attr is not None and self._takes_edge_attr:
            kwargs["edge_attr"] = attr.to(dtype) if attr.is_floating_point() else attr
        h = self.model(x, edge_index, **kwargs)
        return self._split(h, batch, sample.get("num_graphs"))

    def _split(self, h: Tensor, batch: Tensor, num_graphs: Any) -> dict[str, Tensor]:
        size = int(num_graphs) if num_graphs is not None else int(batch.max()) + 1
        pooled = None
        out, start = {}, 0
        for name, shape in self.shapes.items():
            per_node = bool(shape) and shape[0] == -1
            width = int(torch.tensor(shape[1:] if per_node else shape).prod())
            if per_node:
                out[name] = h[:, start:start + width].reshape(h.shape[0], *shape[1:])
            else:
                if pooled is None:
                    pooled = _pool(h, batch, size, self.pool)
                out[name] = pooled[:, start:start + width].reshape(size, *shape)
            start += width
        if start != h.shape[-1]:
            raise SpecError(None, f"the PyG model outputs {h.shape[-1]} channels but writes "
                            f"{dict(self.shapes)} need {start}")
        return out


def _pool(h: Tensor, batch: Tensor, size: int, how: str) -> Tensor:
    index = batch.unsqueeze(-1).expand_as(h)
    if how == "max":
        out = h.new_full((size, h.shape[-1]), float("-inf"))
        return out.scatter_reduce(0, index, h, reduce="amax", include_self=True)
    out = h.new_zeros((size, h.shape[-1])).scatter_add(0, index, h)
    if how == "mean":
        count = torch.bincount(batch, minlength=size).clamp(min=1).to(h.dtype)
        out = out / count.unsqueeze(-1)
    return out

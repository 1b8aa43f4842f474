"""PyG ``Data``/``Batch`` <-> symkit's ragged sample layout, and edges that follow the copies.

A PyG batch is already ragged: node tensors ``(total_nodes, ...)`` and ``batch`` naming each
node's graph. What symkit's symmetrizers do not know is ``edge_index`` ``(2, E)``: an edge
tensor is neither per node nor per graph. :func:`to_sample` therefore keeps the edges in an
:class:`Edges` record (not a tensor, so symmetrizers pass it through untouched) and adds a node
field ``node_id`` (``arange(total_nodes)``) that the symmetrizer repeats like every node field.
:func:`edges_for` then rebuilds ``edge_index`` for whatever copies of the graphs a backbone
receives: copy ``c`` of graph ``b`` gets graph ``b``'s edges, shifted to where copy ``c``'s
nodes are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Edges", "NODE_ID", "to_sample", "edges_for", "fully_connected", "is_pyg"]

#: The node field carrying each node's index in the original batch.
NODE_ID = "node_id"


@dataclass
class Edges:
    """The edges of an original batch.

    Shapes:
        index: ``(2, E)`` long, row 0 source, row 1 target; attr: ``(E, ...)`` or ``None``;
        batch: ``(total_nodes,)`` long; ptr: ``(B + 1,)`` long, first node of each graph.
    """

    index: Tensor
    attr: Tensor | None
    batch: Tensor
    ptr: Tensor

    def to(self, device: Any) -> Edges:
        return Edges(self.index.to(device), None if self.attr is None else self.attr.to(device),
                     self.batch.to(device), self.ptr.to(device))


def is_pyg(obj: Any) -> bool:
    """Whether ``obj`` is a PyG ``Data``/``Batch`` (without importing PyG)."""
    return any(c.__module__.startswith("torch_geometric.data") for c in type(obj).__mro__)


def to_sample(data: Any) -> dict[str, Any] | None:
    """The symkit sample of a PyG ``Data`` (one graph) or ``Batch``; ``None`` for other objects.

    Node tensors (first size = number of nodes) and graph tensors (first size = number of
    graphs) become fields of the same name; ``edge_index``/``edge_attr`` become ``edges``.

    Shapes:
        node fields ``(total_nodes, ...)``; graph fields ``(B, ...)``; ``batch``
        ``(total_nodes,)``; ``num_graphs`` = ``B``; ``node_id`` ``(total_nodes,)``.
    """
    if not is_pyg(data):
        return None
    from torch_geometric.data import Batch

    if not isinstance(data, Batch):
        data = Batch.from_data_list([data])
    n, b = int(data.num_nodes), int(data.num_graphs)
    out: dict[str, Any] = {}
    for key in data.keys():
        value = data[key]
        if key in ("edge_index", "edge_attr", "batch", "ptr") or not isinstance(value, Tensor):
            continue
        if value.ndim > 0 and value.shape[0] in (n, b):
            out[key] = value
    batch = data.batch
    index = data.edge_index if "edge_index" in data else None
    if index is not None:
        attr = data.edge_attr if "edge_attr" in data else None
        out["edges"] = Edges(index, attr, batch, data.ptr)
    out[NODE_ID] = torch.arange(n, device=batch.device)
    out["batch"], out["num_graphs"] = batch, b
    return out


def edges_for(edges: Edges, node_id: Tensor, batch: Tensor) -> tuple[Tensor, Tensor | None]:
    """``edge_index`` (and ``edge_attr``) of the copies whose nodes are ``node_id``/``batch``.

    Args:
        edges: the original batch's edges.
        node_id: original node of each node received, grouped by copy, in original order
            within each copy (what symkit's :class:`~symkit.symmetrizers._batching.Copies`
            produces).
        batch: the copy of each node received, ``0 .. C - 1``, sorted.

    Shapes:
        returns ``(2, sum_c E_b(c))`` and ``(sum_c E_b(c), ...)``.
    """
    dev = node_id.device
    index, ptr, gb = edges.index.to(dev), edges.ptr.to(dev), edges.batch.to(dev)
    num_copies = int(batch.max()) + 1 if batch.numel() else 0
    start = torch.searchsorted(batch, torch.arange(num_copies, device=dev))
    graph = gb[node_id[start]]  # original graph of each copy
    edge_graph = gb[index[0]]
    order = torch.argsort(edge_graph, stable=True)
    counts = torch.bincount(edge_graph, minlength=ptr.numel() - 1)
    eptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    per_copy = counts[graph]
    copy = torch.repeat_interleave(torch.arange(num_copies, device=dev), per_copy)
    first = torch.cumsum(per_copy, 0) - per_copy
    within = torch.arange(int(per_copy.sum()), device=dev) - first[copy]
    chosen = order[eptr[graph][copy] + within]
    new = index[:, chosen] - ptr[graph][copy] + start[copy]
    attr = None if edges.attr is None else edges.attr.to(dev)[chosen]
    return new, attr


def fully_connected(batch: Tensor) -> Tensor:
    """Every ordered pair ``i != j`` of nodes in the same graph, for a sorted ``batch``.

    Shapes:
        batch ``(total_nodes,)`` -> ``(2, sum_b n_b (n_b - 1))``.
    """
    dev = batch.device
    sizes = torch.bincount(batch) if batch.numel() else batch.new_zeros(0)
    size = sizes[batch]  # nodes in each node's graph
    first = (torch.cumsum(sizes, 0) - sizes)[batch]
    src = torch.repeat_interleave(torch.arange(batch.numel(), device=dev), size)
    offset = torch.arange(int(size.sum()), device=dev) - torch.repeat_interleave(
        torch.cumsum(size, 0) - size, size)
    dst = first[src] + offset
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])

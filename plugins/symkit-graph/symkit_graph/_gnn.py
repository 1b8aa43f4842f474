"""The plain message-passing GNN used as the n-body baseline in Satorras et al. (2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import activation as make_activation
from symkit.backbones import node_features, node_mask, parse_writes, resolve_reads
from symkit.errors import ConfigError, SpecError
from symkit.ops import scatter_sum
from symkit_graph._edges import (
    RadialBasis,
    fully_connected_mask,
    global_edge_index,
    node_scalars,
    radial_basis,
)

__all__ = ["GNN", "MessagePassingLayer", "gnn", "zero_readout_"]


class MessagePassingLayer(nn.Module):
    """``m_ij = phi_e(h_i, h_j, e_ij)``, ``h_i <- h_i + phi_h(h_i, sum_j m_ij)`` (Gilmer et al.
    2017, residual node update as in the EGNN paper's GNN baseline).

    The first linear map of ``phi_e`` is split as ``W_i h_i + W_j h_j + W_e e_ij`` so the dense
    path costs ``O(N)`` node products plus ``O(N^2)`` additions, and both paths share weights.
    """

    def __init__(self, hidden: int, edge_dim: int, act: str = "silu", aggregate: str = "sum"):
        super().__init__()
        self.hidden, self.aggregate = hidden, aggregate
        self.edge_in = nn.Linear(2 * hidden + edge_dim, hidden)
        self.edge_out = nn.Sequential(make_activation(act), nn.Linear(hidden, hidden),
                                      make_activation(act))
        self.node = nn.Sequential(nn.Linear(2 * hidden, hidden), make_activation(act),
                                  nn.Linear(hidden, hidden))

    def _split(self) -> tuple[Tensor, Tensor, Tensor]:
        w, h = self.edge_in.weight, self.hidden
        return w[:, :h], w[:, h:2 * h], w[:, 2 * h:]

    def dense(self, h: Tensor, e: Tensor | None, adj: Tensor) -> Tensor:
        """Shapes: h ``(B, N, H)``; e ``(B, N, N, F)`` for edge ``j -> i`` at ``[b, i, j]``;
        adj ``(B, N, N)`` bool."""
        w_i, w_j, w_e = self._split()
        a = (h @ w_i.T).unsqueeze(2) + (h @ w_j.T).unsqueeze(1) + self.edge_in.bias
        if e is not None:
            a = a + e @ w_e.T
        m = self.edge_out(a).masked_fill(~adj.unsqueeze(-1), 0)
        agg = m.sum(dim=2)
        if self.aggregate == "mean":
            agg = agg / adj.sum(dim=2, keepdim=True).clamp(min=1).to(agg.dtype)
        return h + self.node(torch.cat([h, agg], dim=-1))

    def sparse(self, h: Tensor, e: Tensor | None, edge_index: Tensor) -> Tensor:
        """Shapes: h ``(V, H)``; e ``(E, F)``; edge_index ``(2, E)``, row 0 source ``j``, row 1
        target ``i``."""
        w_i, w_j, w_e = self._split()
        src, dst = edge_index
        a = (h @ w_i.T)[dst] + (h @ w_j.T)[src] + self.edge_in.bias
        if e is not None:
            a = a + e @ w_e.T
        agg = scatter_sum(self.edge_out(a), dst, h.shape[0])
        if self.aggregate == "mean":
            deg = scatter_sum(torch.ones_like(dst, dtype=h.dtype).unsqueeze(-1), dst, h.shape[0])
            agg = agg / deg.clamp(min=1)
        return h + self.node(torch.cat([h, agg], dim=-1))


class GNN(nn.Module):
    """Message-passing network on a per-node input, with no symmetry built in.

    Node features are the read fields flattened per node; edge features are the products
    ``q_i q_j`` of the ``edge_product`` node scalars, plus ``|x_i - x_j|^2`` when
    ``edge_distance`` and the radial basis ``e_k(|x_i - x_j|)`` when ``edge_rbf`` is set.
    Graphs are fully connected (dense batched message passing over ``(B, N, N, F)``, padded
    nodes masked out) unless the sample carries an ``edge_index`` field (sparse path). The
    output is ``residual + decoder(h)`` (or ``decoder(h)`` when ``residual`` is None), e.g.
    next position = position + learned displacement.

    Args:
        reads: node feature fields.
        out: written field name; out_shape: its per-node shape.
        hidden, layers, activation, aggregate: network size, nonlinearity, ``sum``/``mean``.
        edge_product: node scalar fields whose pairwise products are edge features.
        edge_distance: add squared distances of the ``pos`` field as an edge feature.
        pos: the position field (for distances).
        edge_rbf: a :class:`~symkit_graph._edges.RadialBasis` of distances as edge features.
        zero_readout: start the decoder's last layer at zero (see :func:`zero_readout_`).
        residual: field added to the output (same per-node shape), or None.
        mask: optional ``(B, N)`` bool node mask field.
        edge_index: field holding ``(B, 2, E)`` or ``(2, E)`` per-sample edges.

    Shapes:
        read fields ``(B, N, ...)`` -> ``out``: ``(B, N, *out_shape)``.
    """

    def __init__(self, reads: Sequence[str], out: str, out_shape: Sequence[int], hidden: int = 64,
                 layers: int = 4, activation: str = "silu", aggregate: str = "sum",
                 edge_product: Sequence[str] = ("charge",), edge_distance: bool = False,
                 pos: str = "pos", residual: str | None = "pos", mask: str | None = "mask",
                 edge_index: str | None = "edge_index", edge_rbf: RadialBasis | None = None,
                 zero_readout: bool = False):
        super().__init__()
        if aggregate not in ("sum", "mean"):
            raise ConfigError("aggregate", f"unknown aggregation '{aggregate}'; use sum or mean")
        self.reads, self.out, self.out_shape = list(reads), out, tuple(out_shape)
        self.edge_product, self.edge_distance = list(edge_product), edge_distance
        self.pos, self.residual, self.mask, self.edge_index = pos, residual, mask, edge_index
        self.edge_rbf = edge_rbf
        edge_dim = len(self.edge_product) + int(edge_distance) + (edge_rbf.n if edge_rbf else 0)
        self.embed = nn.LazyLinear(hidden)
        self.layers = nn.ModuleList(
            MessagePassingLayer(hidden, edge_dim, activation, aggregate) for _ in range(layers)
        )
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), make_activation(activation),
                                     nn.Linear(hidden, int(torch.tensor(self.out_shape).prod())))
        if zero_readout:
            zero_readout_(self.decoder[-1])

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = node_features(sample, self.reads)
        b, n = x.shape[:2]
        mask = node_mask(sample, self.mask, x)
        h = self.embed(x)
        q = node_scalars(sample, self.edge_product)
        if self.edge_index is not None and self.edge_index in sample:
            h = self._sparse(sample, h, q)
        else:
            h = self._dense(sample, h, q, mask)
        y = self.decoder(h).reshape(b, n, *self.out_shape)
        if self.residual is not None:
            if self.residual not in sample:
                raise SpecError(self.residual, "missing residual field")
            y = y + sample[self.residual].reshape(y.shape)
        if mask is not None:
            y = y.masked_fill(~mask.reshape(b, n, *(1,) * (y.ndim - 2)), 0)
        return {self.out: y}

    def _dense(self, sample, h: Tensor, q: Tensor | None, mask: Tensor | None) -> Tensor:
        b, n = h.shape[:2]
        feats = [] if q is None else [q.unsqueeze(2) * q.unsqueeze(1)]
        if self.edge_distance or self.edge_rbf is not None:
            x = sample[self.pos]
            feats += self._distance_features((x.unsqueeze(2) - x.unsqueeze(1)).square().sum(-1))
        e = torch.cat(feats, dim=-1) if feats else None
        adj = fully_connected_mask(n, mask, b, h.device)
        for layer in self.layers:
            h = layer.dense(h, e, adj)
        return h

    def _distance_features(self, sq: Tensor) -> list[Tensor]:
        """``[d^2]`` and/or the radial basis of ``d``, from squared distances ``sq`` (...,)."""
        feats = [sq.unsqueeze(-1)] if self.edge_distance else []
        return feats + ([self.edge_rbf(sq)] if self.edge_rbf is not None else [])

    def _sparse(self, sample, h: Tensor, q: Tensor | None) -> Tensor:
        b, n = h.shape[:2]
        ei = global_edge_index(sample[self.edge_index], b, n)
        src, dst = ei
        feats = [] if q is None else [q.reshape(b * n, -1)[dst] * q.reshape(b * n, -1)[src]]
        if self.edge_distance or self.edge_rbf is not None:
            x = sample[self.pos].reshape(b * n, -1)
            feats += self._distance_features((x[dst] - x[src]).square().sum(-1))
        e = torch.cat(feats, dim=-1) if feats else None
        h = h.reshape(b * n, -1)
        for layer in self.layers:
            h = layer.sparse(h, e, ei)
        return h.reshape(b, n, -1)


def zero_readout_(layer: nn.Linear) -> nn.Linear:
    """Set a readout's last linear layer to zero, in place.

    A per-atom energy readout summed over ``N`` atoms starts, with default initialisation, at
    ``N`` times an arbitrary O(1-5) offset (tens of eV for Cu13), so the first hundreds of steps
    fit that offset through the energy loss and not the forces. With a zero last layer the
    model starts exactly at ``E = 0`` (the mean training energy once the data is centred) and
    ``F = 0`` (the zero-force baseline); the layer's own gradient ``dL/dW = g h^T`` is nonzero,
    so training starts at once, and the layers below receive gradient from the second step on
    (the zero-initialised output of e.g. SpookyNet, Unke et al. 2021, and of the residual
    branches of Goyal et al. 2017).
    """
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def single_node_output(writes: Mapping[str, Sequence[int]] | None, default: str = "target",
                       dim: int = 3) -> tuple[str, tuple[int, ...]]:
    """The one per-node output ``{name: [-1, ...]}`` of a graph backbone."""
    shapes = parse_writes(writes or {default: [-1, dim]})
    if len(shapes) != 1:
        raise ConfigError("writes", f"writes exactly one per-node field, got {list(shapes)}")
    (name, shape), = shapes.items()
    if not shape or shape[0] != -1:
        raise ConfigError(f"writes.{name}", f"must be per node (start with -1), got {list(shape)}")
    return name, shape[1:]


def gnn(
    writes: dict[str, list[int]] | None = None,
    reads: list[str] | None = None,
    hidden: int = 64,
    layers: int = 4,
    activation: str = "silu",
    aggregate: str = "sum",
    edge_product: list[str] | None = None,
    edge_distance: bool = False,
    pos: str = "pos",
    residual: str | None = "pos",
    mask: str | None = "mask",
    edge_index: str | None = "edge_index",
    edge_rbf: dict[str, Any] | None = None,
    zero_readout: bool = False,
    in_spec: Any = None,
) -> GNN:
    """Plain (non-equivariant) message-passing GNN, the n-body baseline of the EGNN paper.

    Args:
        writes: one per-node output, default ``{target: [-1, 3]}``.
        reads: node feature fields (default: the fields of ``in_spec``, else pos, vel, charge).
        hidden: width; layers: message-passing layers; activation: nonlinearity.
        aggregate: ``sum`` or ``mean`` of incoming messages.
        edge_product: node scalars whose products ``q_i q_j`` are edge features (default
            ``[charge]``; ``[]`` for none).
        edge_distance: add ``|x_i - x_j|^2`` of ``pos`` as an edge feature.
        pos: position field; residual: field added to the output (None: predict directly).
        mask: optional (B, N) bool node-mask field.
        edge_index: field with given edges (B, 2, E) or (2, E); absent = fully connected.
        edge_rbf: radial-basis distance features, e.g. ``{n: 32, cutoff: 6.0, basis:
            gaussian}`` (see :class:`~symkit_graph._edges.RadialBasis`); None: off.
        zero_readout: initialise the output layer to zero, so the model starts at output 0
            (for an atomic-energy readout: the centred data's mean energy, and zero forces).
        in_spec: filled from the model's context.
    """
    reads = resolve_reads(reads, in_spec) if reads is not None or in_spec else \
        ["pos", "vel", "charge"]
    out, shape = single_node_output(writes)
    return GNN(reads, out, shape, hidden, layers, activation, aggregate,
               ["charge"] if edge_product is None else edge_product, edge_distance, pos,
               residual, mask, edge_index, radial_basis(edge_rbf), zero_readout)

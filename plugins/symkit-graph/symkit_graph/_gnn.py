"""The plain message-passing GNN used as the n-body baseline in Satorras et al. (2021)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import activation as make_activation
from symkit.backbones import node_features, node_mask, parse_writes, resolve_reads
from symkit.errors import ConfigError, SpecError
from symkit.ops import scatter_sum
from symkit.reps import Pseudovector, Vector, space_dim
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

    def dense(self, h: Tensor, e: Tensor | None, adj: Tensor, extra: Tensor | None = None
              ) -> Tensor:
        """Shapes: h ``(B, N, H)``; e ``(B, N, N, F)`` for edge ``j -> i`` at ``[b, i, j]``;
        adj ``(B, N, N)`` bool; extra ``(B, N, N, H)``: a term added to the message input."""
        w_i, w_j, w_e = self._split()
        a = (h @ w_i.T).unsqueeze(2) + (h @ w_j.T).unsqueeze(1) + self.edge_in.bias
        if e is not None:
            a = a + e @ w_e.T
        if extra is not None:
            a = a + extra
        m = self.edge_out(a).masked_fill(~adj.unsqueeze(-1), 0)
        agg = m.sum(dim=2)
        if self.aggregate == "mean":
            agg = agg / adj.sum(dim=2, keepdim=True).clamp(min=1).to(agg.dtype)
        return h + self.node(torch.cat([h, agg], dim=-1))

    def sparse(self, h: Tensor, e: Tensor | None, edge_index: Tensor,
               extra: Tensor | None = None) -> Tensor:
        """Shapes: h ``(V, H)``; e ``(E, F)``; edge_index ``(2, E)``, row 0 source ``j``, row 1
        target ``i``; extra ``(E, H)``: a term added to the message input."""
        w_i, w_j, w_e = self._split()
        src, dst = edge_index
        a = (h @ w_i.T)[dst] + (h @ w_j.T)[src] + self.edge_in.bias
        if e is not None:
            a = a + e @ w_e.T
        if extra is not None:
            a = a + extra
        agg = scatter_sum(self.edge_out(a), dst, h.shape[0])
        if self.aggregate == "mean":
            deg = scatter_sum(torch.ones_like(dst, dtype=h.dtype).unsqueeze(-1), dst, h.shape[0])
            agg = agg / deg.clamp(min=1)
        return h + self.node(torch.cat([h, agg], dim=-1))


class GNN(nn.Module):
    """Message-passing network on a per-node input, with no symmetry built in.

    Node features are the read fields flattened per node; edge features are the products
    ``q_i q_j`` of the ``edge_product`` node scalars, plus ``|x_i - x_j|^2`` when
    ``edge_distance``, plus the radial basis ``e_k(|x_i - x_j|)`` when ``edge_rbf`` is set,
    plus the ``edge_attr`` field when set (per-edge features, e.g. those of
    ``graph::local_frames``, through a linear map per layer). Graphs are fully connected (dense
    batched message passing over ``(B, N, N, F)``, padded nodes masked out) unless the sample
    carries an ``edge_index`` field (sparse path). The output is ``residual + decoder(h)`` (or
    ``decoder(h)`` when ``residual`` is None), e.g. next position = position + learned
    displacement.

    **Layers.** :meth:`frame_stages` exposes the network as stages (embedding, one per
    message-passing layer, decoder) for ``layerwise_frame_averaging``. With ``layer_geometry``
    every layer also re-reads the node features (so that, under layer-wise frame averaging, it
    sees the positions and velocities in its own frame) and updates the point and vector fields
    it reads, ``x <- x + W h`` (the Frame Averaging paper's n-body layer); the forward pass is
    the composition of the stages.

    Args:
        reads: node feature fields.
        out: written field name; out_shape: its per-node shape.
        hidden, layers, activation, aggregate: network size, nonlinearity, ``sum``/``mean``.
        edge_product: node scalar fields whose pairwise products are edge features.
        edge_distance: add squared distances of the ``pos`` field as an edge feature.
        pos: the position field (for distances).
        residual: field added to the output (same per-node shape), or None.
        mask: optional ``(B, N)`` bool node mask field.
        edge_index: field holding ``(B, 2, E)`` or ``(2, E)`` per-sample edges.
        edge_attr: field of per-edge features, ``(B, N, N, F)`` (edge ``j -> i`` at
            ``[b, i, j]``) or ``(B, E, F)`` aligned with ``edge_index``; ``None``: none.
        layer_geometry: every layer re-reads the node features and updates the point and
            vector fields among ``reads`` (``geometric``).
        geometric: the point/vector fields among ``reads`` that layers update, and ``dim``
            their dimension (with ``layer_geometry``).
        edge_rbf: radial-basis distance features (:class:`~symkit_graph._edges.RadialBasis`)
            or None.
        zero_readout: initialise the decoder's last layer to zero (:func:`zero_readout_`).

    Shapes:
        read fields ``(B, N, ...)`` -> ``out``: ``(B, N, *out_shape)``.
    """

    def __init__(self, reads: Sequence[str], out: str, out_shape: Sequence[int], hidden: int = 64,
                 layers: int = 4, activation: str = "silu", aggregate: str = "sum",
                 edge_product: Sequence[str] = ("charge",), edge_distance: bool = False,
                 pos: str = "pos", residual: str | None = "pos", mask: str | None = "mask",
                 edge_index: str | None = "edge_index", edge_attr: str | None = None,
                 layer_geometry: bool = False, geometric: Sequence[str] = (), dim: int = 3,
                 edge_rbf: RadialBasis | None = None, zero_readout: bool = False):
        super().__init__()
        if aggregate not in ("sum", "mean"):
            raise ConfigError("aggregate", f"unknown aggregation '{aggregate}'; use sum or mean")
        if layer_geometry and not geometric:
            raise ConfigError("layer_geometry", "needs point or vector fields among the reads "
                              "(and the model's in_spec to tell which they are)")
        self.reads, self.out, self.out_shape = list(reads), out, tuple(out_shape)
        self.edge_product, self.edge_distance = list(edge_product), edge_distance
        self.pos, self.residual, self.mask, self.edge_index = pos, residual, mask, edge_index
        self.edge_attr, self.layer_geometry = edge_attr, layer_geometry
        self.geometric, self.dim = list(geometric), dim
        self.edge_rbf = edge_rbf
        edge_dim = len(self.edge_product) + int(edge_distance) + (edge_rbf.n if edge_rbf else 0)
        self.embed = nn.LazyLinear(hidden)
        self.layers = nn.ModuleList(
            MessagePassingLayer(hidden, edge_dim, activation, aggregate) for _ in range(layers)
        )
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), make_activation(activation),
                                     nn.Linear(hidden, int(torch.tensor(self.out_shape).prod())))
        if edge_attr is not None:  # per layer: edge attributes -> message input
            self.edge_attr_in = nn.ModuleList(
                nn.LazyLinear(hidden, bias=False) for _ in range(layers))
        if layer_geometry:  # per layer: node features in, updates of the geometric fields out
            self.inject = nn.ModuleList(nn.LazyLinear(hidden) for _ in range(layers))
            self.move = nn.ModuleList(
                nn.Linear(hidden, dim * len(self.geometric)) for _ in range(layers))
        if zero_readout:
            zero_readout_(self.decoder[-1])

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.layer_geometry:
            from symkit_graph._gnn_stages import run_stages

            return run_stages(self, sample)
        x = node_features(sample, self.reads)
        b, n = x.shape[:2]
        mask = node_mask(sample, self.mask, x)
        h = self.embed(x)
        graph = self.graph(sample, b, n, mask)
        for i in range(len(self.layers)):
            h = self.message(i, h, graph)
        return {self.out: self.readout(sample, h, mask)}

    def graph(self, sample: Mapping[str, Tensor], b: int, n: int, mask: Tensor | None):
        """Edge features and connectivity of the sample: ``("dense", e, adj, attr)`` or
        ``("sparse", e, edge_index, attr)`` (see :meth:`message`)."""
        q = node_scalars(sample, self.edge_product)
        attr = None
        if self.edge_attr is not None:
            if self.edge_attr not in sample:
                raise SpecError(self.edge_attr, f"missing edge-attribute field; sample has "
                                f"{sorted(sample)}")
            attr = sample[self.edge_attr]
        if self.edge_index is not None and self.edge_index in sample:
            ei = global_edge_index(sample[self.edge_index], b, n)
            src, dst = ei
            feats = [] if q is None else [q.reshape(b * n, -1)[dst] * q.reshape(b * n, -1)[src]]
            if self.edge_distance or self.edge_rbf is not None:
                x = sample[self.pos].reshape(b * n, -1)
                feats += self._distance_features((x[dst] - x[src]).square().sum(-1))
            e = torch.cat(feats, dim=-1) if feats else None
            attr = None if attr is None else attr.reshape(-1, attr.shape[-1])
            return "sparse", e, ei, attr
        feats = [] if q is None else [q.unsqueeze(2) * q.unsqueeze(1)]
        if self.edge_distance or self.edge_rbf is not None:
            x = sample[self.pos]
            feats += self._distance_features((x.unsqueeze(2) - x.unsqueeze(1)).square().sum(-1))
        e = torch.cat(feats, dim=-1) if feats else None
        return "dense", e, fully_connected_mask(n, mask, b, sample[self.reads[0]].device), attr

    def _distance_features(self, sq: Tensor) -> list[Tensor]:
        """``[d^2]`` and/or the radial basis of ``d``, from squared distances ``sq`` (...,)."""
        feats = [sq.unsqueeze(-1)] if self.edge_distance else []
        return feats + ([self.edge_rbf(sq)] if self.edge_rbf is not None else [])

    def message(self, i: int, h: Tensor, graph) -> Tensor:
        """Layer ``i`` on node features ``h`` ``(B, N, H)`` over ``graph`` (:meth:`graph`)."""
        kind, e, conn, attr = graph
        layer = self.layers[i]
        extra = None if attr is None else self.edge_attr_in[i](attr.to(h.dtype))
        if kind == "dense":
            return layer.dense(h, e, conn, extra)
        b, n = h.shape[:2]
        return layer.sparse(h.reshape(b * n, -1), e, conn, extra).reshape(b, n, -1)

    def readout(self, sample: Mapping[str, Tensor], h: Tensor, mask: Tensor | None) -> Tensor:
        """``residual + decoder(h)``, padded nodes zeroed: ``(B, N, *out_shape)``."""
        b, n = h.shape[:2]
        y = self.decoder(h).reshape(b, n, *self.out_shape)
        if self.residual is not None:
            if self.residual not in sample:
                raise SpecError(self.residual, f"missing residual field (graph::gnn adds it to "
                                               f"'{self.out}'; residual: null predicts directly)")
            res = sample[self.residual]
            if res.numel() != y.numel():
                raise SpecError(self.residual, _residual_mismatch(
                    self.residual, tuple(res.shape[2:]), self.out, self.out_shape))
            y = y + res.reshape(y.shape)
        if mask is not None:
            y = y.masked_fill(~mask.reshape(b, n, *(1,) * (y.ndim - 2)), 0)
        return y

    def frame_stages(self, in_spec: Any, out_spec: Any) -> list:
        """The stages of layer-wise frame averaging: embedding, each layer, decoder."""
        from symkit_graph._gnn_stages import gnn_stages

        return gnn_stages(self, in_spec, out_spec)


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
    edge_attr: str | None = None,
    layer_geometry: bool = False,
    edge_rbf: dict[str, Any] | None = None,
    zero_readout: bool = False,
    in_spec: Any = None,
    group: Any = None,
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
        edge_attr: field of per-edge features (``graph::local_frames`` writes ``edge_attr``).
        layer_geometry: every layer re-reads the node features and updates the point/vector
            fields it reads (for ``layerwise_frame_averaging``; needs the model's in_spec).
        edge_rbf: radial-basis distance features, e.g. ``{n: 32, cutoff: 6.0, basis:
            gaussian}`` (see :class:`~symkit_graph._edges.RadialBasis`); None: off.
        zero_readout: initialise the output layer to zero, so the model starts at output 0
            (for an atomic-energy readout: the centred data's mean energy, and zero forces).
        in_spec, group: filled from the model's context.
    """
    reads = resolve_reads(reads, in_spec) if reads is not None or in_spec else \
        ["pos", "vel", "charge"]
    out, shape = single_node_output(writes)
    geometric = geometric_fields(reads, in_spec)
    dim = space_dim(group) if group is not None else None
    net = GNN(reads, out, shape, hidden, layers, activation, aggregate,
              ["charge"] if edge_product is None else edge_product, edge_distance, pos,
              residual, mask, edge_index, edge_attr, layer_geometry, geometric, dim or 3,
              radial_basis(edge_rbf), zero_readout)
    _check_residual(residual, in_spec, group, out, shape)
    return net


def _residual_mismatch(residual: str, per_node: tuple, out: str, out_shape: tuple) -> str:
    return (f"the residual field '{residual}' ({math.prod(per_node)} numbers per node, "
            f"{list(per_node)}) cannot be added to the output '{out}' ({math.prod(out_shape)} "
            f"per node, writes {[-1, *out_shape]}); set residual: null to predict '{out}' "
            "directly, or name a field of the output's shape")


def _check_residual(residual: str | None, in_spec: Any, group: Any, out: str,
                    out_shape: tuple[int, ...]) -> None:
    """At build time, when the model's spec tells: the residual field exists and has the
    output's size per node (a point or vector field has ``d`` numbers per node, so the default
    ``residual: pos`` suits a position output, not an energy)."""
    if residual is None or in_spec is None:
        return
    if residual not in in_spec:
        raise ConfigError("residual", f"'{residual}' is not a field of the model's in_spec "
                          f"({sorted(in_spec)}); graph::gnn adds the residual field to "
                          f"'{out}': name one, or set residual: null to predict '{out}' directly")
    if group is None:
        return
    per_node = in_spec[residual].rep.feature_shape(group)
    if None in per_node:  # channels or sizes only the data tells: checked on the first call
        return
    want = math.prod(out_shape)
    if want % max(1, math.prod(per_node)):  # channels multiply the per-node size, never divide
        raise ConfigError("residual", _residual_mismatch(residual, per_node, out, out_shape))


def geometric_fields(reads: Sequence[str], in_spec: Any) -> list[str]:
    """The read fields that ``in_spec`` declares points or vectors (not pseudo-vectors)."""
    if in_spec is None:
        return []
    out = []
    for name in reads:
        if name in in_spec:
            rep = in_spec[name].rep
            if isinstance(rep, Vector) and not isinstance(rep, Pseudovector):
                out.append(name)
    return out

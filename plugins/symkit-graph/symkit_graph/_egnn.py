"""E(n)-equivariant graph neural network (Satorras, Hoogeboom & Welling, ICML 2021)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.backbones import activation as make_activation
from symkit.backbones import node_mask
from symkit.errors import ConfigError, SpecError
from symkit_graph._edges import RadialBasis, fully_connected_mask, node_scalars, radial_basis
from symkit_graph._gnn import single_node_output, zero_readout_

__all__ = ["EGNN", "EquivariantLayer", "egnn"]


class EquivariantLayer(nn.Module):
    """One E(n)-equivariant layer, velocity variant (EGNN eqs. 3-7)::

        m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij)
        x_i <- x_i + mean_j (x_i - x_j) phi_x(m_ij) + phi_v(h_i) v_i
        h_i <- h_i + phi_h(h_i, sum_j m_ij)

    ``h`` and ``a`` are invariant, so ``x`` transforms as a point and ``v`` as a vector.
    """

    def __init__(self, hidden: int, edge_dim: int, act: str = "silu"):
        super().__init__()
        self.edge = nn.Sequential(
            nn.Linear(2 * hidden + 1 + edge_dim, hidden), make_activation(act),
            nn.Linear(hidden, hidden), make_activation(act),
        )
        last = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord = nn.Sequential(nn.Linear(hidden, hidden), make_activation(act), last)
        self.vel = nn.Sequential(nn.Linear(hidden, hidden), make_activation(act),
                                 nn.Linear(hidden, 1))
        self.node = nn.Sequential(nn.Linear(2 * hidden, hidden), make_activation(act),
                                  nn.Linear(hidden, hidden))

    def forward(self, h: Tensor, x: Tensor, v: Tensor | None, a: Tensor | None, adj: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Shapes: h ``(B, N, H)``; x, v ``(B, N, d)``; a ``(B, N, N, F)``; adj ``(B, N, N)``."""
        n = h.shape[1]
        diff = x.unsqueeze(2) - x.unsqueeze(1)  # [b, i, j] = x_i - x_j
        parts = [h.unsqueeze(2).expand(-1, -1, n, -1), h.unsqueeze(1).expand(-1, n, -1, -1),
                 diff.square().sum(-1, keepdim=True)]
        if a is not None:
            parts.append(a)
        m = self.edge(torch.cat(parts, dim=-1)).masked_fill(~adj.unsqueeze(-1), 0)
        deg = adj.sum(dim=2, keepdim=True).clamp(min=1).to(x.dtype)
        x = x + (diff * self.coord(m) * adj.unsqueeze(-1)).sum(dim=2) / deg
        if v is not None:
            x = x + self.vel(h) * v
        h = h + self.node(torch.cat([h, m.sum(dim=2)], dim=-1))
        return h, x


class EGNN(nn.Module):
    """EGNN on fully connected graphs (dense, batched): predicts a point per node, or (readout
    ``scalar``) an invariant per-node quantity ``phi_out(h_i)`` such as an atomic energy.

    Invariant node features are ``|v_i|`` (when ``vel`` is set) and the ``scalars`` fields;
    edge attributes are the products ``q_i q_j`` of the ``edge_product`` fields and, when
    ``edge_distance``, the input squared distances (as in the n-body experiments), and when
    ``edge_rbf`` is set the radial basis ``e_k(|x_i - x_j|)`` of the input distances.

    Args:
        pos: point field ``(B, N, d)``; vel: vector field ``(B, N, d)`` or None.
        scalars: invariant node fields ``(B, N)`` or ``(B, N, 1)``.
        edge_product: node scalars whose products are edge attributes.
        edge_distance: add the input ``|x_i - x_j|^2`` as an edge attribute.
        edge_rbf: a :class:`~symkit_graph._edges.RadialBasis` of input distances as edge
            attributes (invariant, so equivariance is kept).
        zero_readout: start the scalar readout's last layer at zero (see
            :func:`~symkit_graph._gnn.zero_readout_`).
        hidden, layers, activation: network size and nonlinearity.
        out: the written field; mask: optional (B, N) bool node mask.
        readout: ``pos`` (out is the final positions) or ``scalar`` (out is ``phi_out(h_i)``,
            invariant, of per-node shape ``out_shape``).

    Shapes:
        pos, vel: ``(B, N, d)`` -> out: ``(B, N, d)`` (pos) or ``(B, N, *out_shape)`` (scalar).
    """

    def __init__(self, pos: str = "pos", vel: str | None = "vel", scalars: Sequence[str] = (),
                 edge_product: Sequence[str] = ("charge",), edge_distance: bool = True,
                 hidden: int = 64, layers: int = 4, activation: str = "silu",
                 out: str = "target", mask: str | None = "mask", readout: str = "pos",
                 out_shape: Sequence[int] = (1,), edge_rbf: RadialBasis | None = None,
                 zero_readout: bool = False):
        super().__init__()
        if readout not in ("pos", "scalar"):
            raise ConfigError("readout", f"unknown readout '{readout}'; use pos or scalar")
        self.readout, self.out_shape = readout, tuple(out_shape)
        self.decoder = None if readout == "pos" else nn.Sequential(
            nn.Linear(hidden, hidden), make_activation(activation),
            nn.Linear(hidden, math.prod(self.out_shape)))
        if zero_readout and self.decoder is not None:
            zero_readout_(self.decoder[-1])
        self.pos, self.vel, self.scalars, self.out, self.mask = pos, vel, list(scalars), out, mask
        self.edge_product, self.edge_distance = list(edge_product), edge_distance
        self.edge_rbf = edge_rbf
        edge_dim = len(self.edge_product) + int(edge_distance) + (edge_rbf.n if edge_rbf else 0)
        self.embed = nn.LazyLinear(hidden)
        self.layers = nn.ModuleList(
            EquivariantLayer(hidden, edge_dim, activation) for _ in range(layers)
        )

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.pos not in sample:
            raise SpecError(self.pos, f"missing position field; sample has {sorted(sample)}")
        x = sample[self.pos]
        b, n = x.shape[:2]
        v = sample[self.vel] if self.vel is not None else None
        feats = [] if v is None else [v.norm(dim=-1, keepdim=True)]
        s = node_scalars(sample, self.scalars)
        if s is not None:
            feats.append(s)
        if not feats:
            feats.append(x.new_ones(b, n, 1))
        h = self.embed(torch.cat(feats, dim=-1))
        q = node_scalars(sample, self.edge_product)
        attrs = [] if q is None else [q.unsqueeze(2) * q.unsqueeze(1)]
        sq = (x.unsqueeze(2) - x.unsqueeze(1)).square().sum(-1)
        if self.edge_distance:
            attrs.append(sq.unsqueeze(-1))
        if self.edge_rbf is not None:
            attrs.append(self.edge_rbf(sq))
        a = torch.cat(attrs, dim=-1) if attrs else None
        mask = node_mask(sample, self.mask, x)
        adj = fully_connected_mask(n, mask, b, x.device)
        for layer in self.layers:
            h, x = layer(h, x, v, a, adj)
        if self.decoder is not None:
            y = self.decoder(h).reshape(b, n, *self.out_shape)
            if mask is not None:
                y = y.masked_fill(~mask.reshape(b, n, *(1,) * (y.ndim - 2)), 0)
            return {self.out: y}
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0)
        return {self.out: x}


def egnn(
    writes: dict[str, list[int]] | None = None,
    pos: str = "pos",
    vel: str | None = "vel",
    scalars: list[str] | None = None,
    edge_product: list[str] | None = None,
    edge_distance: bool = True,
    hidden: int = 64,
    layers: int = 4,
    activation: str = "silu",
    mask: str | None = "mask",
    readout: str = "pos",
    edge_rbf: dict[str, Any] | None = None,
    zero_readout: bool = False,
) -> EGNN:
    """EGNN (Satorras et al. 2021), velocity variant: a natively E(n)-equivariant reference.

    Args:
        writes: one per-node point output, default ``{target: [-1, 3]}``.
        pos: position field; vel: velocity field (None: no velocity term).
        scalars: extra invariant node fields (default none).
        edge_product: node scalars whose products are edge attributes (default ``[charge]``).
        edge_distance: input squared distances as an extra edge attribute.
        hidden: width; layers: equivariant layers; activation: nonlinearity.
        mask: optional (B, N) bool node-mask field.
        readout: ``pos`` (write the final positions) or ``scalar`` (write an invariant
            per-node output of the shape in ``writes``, e.g. ``{energy: [-1, 1]}`` atomic
            energies).
        edge_rbf: radial-basis distance attributes, e.g. ``{n: 32, cutoff: 6.0, basis:
            gaussian}`` (see :class:`~symkit_graph._edges.RadialBasis`); None: off.
        zero_readout: initialise the scalar readout's output layer to zero, so an energy
            model starts at the centred data's mean energy and zero forces.
    """
    out, shape = single_node_output(writes)
    return EGNN(pos, vel, scalars or [], ["charge"] if edge_product is None else edge_product,
                edge_distance, hidden, layers, activation, out, mask, readout, shape,
                radial_basis(edge_rbf), zero_readout)

"""Local frames: every node gets an orthonormal frame from its neighbourhood, and the backbone
sees every node's and every message's geometry in the receiving node's frame.

Kofinas et al. (2021), "Roto-translated Local Coordinate Frames for Interacting Dynamical
Systems"; local canonicalization as in LLoCa (Spinner et al. 2025, "Lorentz Local
Canonicalization").

**Frame of node i** (:func:`symkit.symmetrizers.node_frames`, on the shared PCA machinery):
the eigenbasis of the second moment of the relative positions ``r_ij = x_j - x_i`` of its
neighbours ``j -> i`` (the sample's ``edge_index``, else every other node of its graph), plus
``v_i v_i^T`` for each ``extra_fields`` vector, each axis oriented by the sign of the third
moment of the same rows: ``L_i(g x) = R L_i(x)``. The node's element is ``g_i = (L_i, o_i)``
(E(d)/SE(d)) with ``o_i`` the centroid of its graph (``origin: centroid``) or ``x_i``
(``origin: node``, as Kofinas et al.), ``L_i`` for O(d)/SO(d).

**Model.** ``f(x)_i = g_i . y_i`` with ``y = backbone(x')`` and

* node fields in their own node's frame: ``x'_i = g_i^{-1} . x_i`` (positions
  ``L_i^T (x_i - o_i)``, velocities ``L_i^T v_i``);
* per edge ``j -> i``, every non-scalar node field of ``j`` in the frame of ``i`` (points
  relative to ``x_i``: ``L_i^T (x_j - x_i)``; vectors ``L_i^T v_j``), flattened, in the field
  ``edge_field``:
  ``(B, N, N, F)`` (edge ``j -> i`` at ``[b, i, j]``, zero elsewhere) for dense fully
  connected samples, ``(B, E, F)`` aligned with a dense ``edge_index``, ``(E, F)`` for ragged
  samples (whose constructed ``edge_index`` ``(2, E)`` is written too when absent).

Every input the backbone sees is invariant, and each node output is mapped back by its own
``g_i``, so ``f(g x) = g f(x)`` for *any* backbone: a message-passing backbone that reads the
edge features (``graph::gnn`` with ``edge_attr``) becomes E(3)-equivariant, with messages
expressed in the receiving node's frame. Non-node outputs must be invariant (scalars).

**Outcomes per sample.** Exact where every node's frame is: distinct eigenvalues and decided
signs. A node with a repeated eigenvalue (a symmetric or collinear neighbourhood) gets a
Haar-random basis of that eigenspace, one with an undecided sign a random sign, one without
neighbours a Haar-random frame; its sample is ``flagged``: equivariant in distribution.

**Cost.** One backbone call (``K = 1``), plus ``O(E d^2)`` for the frames and edge features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups import Group
from symkit.reps import Point, Scalar, Vector
from symkit.spec import Spec
from symkit.symmetrizers import (
    Symmetrizer,
    act_per_node,
    batch_layout,
    check_finite,
    node_frames,
    supports_node_frames,
)
from symkit_graph._edges import global_edge_index

__all__ = ["LocalFrames", "local_frames"]


class LocalFrames(Symmetrizer):
    """``f(x)_i = g_i . backbone(x')_i`` with a frame ``g_i`` per node (see module docs).

    Args:
        backbone, group, in_spec, out_spec: see :class:`~symkit.symmetrizers.Symmetrizer`.
        field: the node point field of positions (default: the first point field).
        extra_fields: node vector fields ``v`` whose ``v_i v_i^T`` join node i's moments.
        edge_field: the field the edge features are written to (the backbone's ``edge_attr``).
        edge_index: the sample field with given edges (absent: fully connected graphs).
        origin: E(d)/SE(d): the origin of every node's frame, ``"centroid"`` (of the node's
            graph: node positions stay informative, ``L_i^T (x_i - c)``) or ``"node"`` (its own
            position, as Kofinas et al.; a node's own position is then 0).
        degeneracy_tol: relative eigen-gap below which eigenvalues count as repeated.
        sign_tol: third moment (relative to ``1/n sum |r|^3``) below which a sign is undecided.
        generator: random source of the fallbacks.

    Shapes:
        dense: node fields ``(B, N, ...)``, optional ``mask (B, N)``; ragged: ``(total, ...)``
        with ``batch``. The position field is one ``d``-vector per node.

    Raises:
        ValueError: the group is not O(d), SO(d), E(d) or SE(d).
        ConfigError: a non-node input or output field is not a scalar, or the backbone reads
            another edge-attribute field.
        SampleError: an input holds a NaN or Inf (names the sample and field).
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        field: str | None = None, extra_fields: Sequence[str] = (),
        edge_field: str = "edge_attr", edge_index: str = "edge_index",
        origin: str = "centroid", degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6,
        generator: torch.Generator | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec)
        if not self.supports(group):
            raise ValueError(f"graph::local_frames supports O(d), SO(d), E(d), SE(d); got "
                             f"{group!r}")
        for where, spec in (("in_spec", in_spec), ("out_spec", out_spec)):
            for name, f in spec.items():
                if not f.nodes and not isinstance(f.rep, Scalar):
                    raise ConfigError(f"model.{where}.{name}", "local frames act per node: a "
                                      "graph-level field must be a scalar")
        reads = getattr(backbone, "edge_attr", edge_field)
        if reads != edge_field:
            raise ConfigError("model.backbone.edge_attr", f"the backbone reads edge features "
                              f"from {reads!r}, local frames write them to {edge_field!r}")
        if origin not in ("centroid", "node"):
            raise ConfigError("model.symmetrizer.origin", f"unknown origin {origin!r}; use "
                              f"'centroid' or 'node'")
        self.origin = origin
        self.field = _position_field(in_spec, field)
        self.extra_fields = tuple(extra_fields)
        self.edge_field, self.edge_index = edge_field, edge_index
        self.degeneracy_tol, self.sign_tol, self.generator = degeneracy_tol, sign_tol, generator
        self.geometric = [n for n, f in in_spec.items()
                          if f.nodes and not isinstance(f.rep, Scalar)]

    @classmethod
    def supports(cls, group: Group) -> bool:
        return supports_node_frames(group)

    def num_elements(self) -> int | None:
        return 1

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        x = sample[self.field]
        dtype = x.dtype
        lead = x.shape[:1] if layout.ragged else x.shape[:2]
        v = lead.numel()
        if layout.ragged:
            graph = layout.batch
            valid = torch.ones(v, dtype=torch.bool, device=x.device)
        else:
            b, n = lead
            graph = torch.arange(b, device=x.device).repeat_interleave(n)
            mask = sample.get("mask")
            valid = (torch.ones(v, dtype=torch.bool, device=x.device) if mask is None
                     else mask.reshape(v).bool())
        flat = {k: sample[k].reshape(v, *sample[k].shape[len(lead):]) for k in self.in_spec
                if self.in_spec[k].nodes}
        src, dst = self._edges(sample, layout, lead, graph, valid)
        g, node_flag = self._frames(flat, src, dst, valid, graph, layout.size)
        g_inv = self.group.inverse(g)
        local = dict(sample)
        own = {}
        for name, value in flat.items():
            own[name] = act_per_node(self.in_spec[name], self.group, g_inv, value)
            local[name] = own[name].to(dtype).reshape(sample[name].shape)
        g_dst = self.group.index(g_inv, dst)
        attr = []
        for k in self.geometric:
            a = act_per_node(self.in_spec[k], self.group, g_dst, flat[k][src])
            if isinstance(self.in_spec[k].rep, Point):  # relative: L_i^T (x_j - x_i)
                a = a - own[k][dst]
            attr.append(a.flatten(1))
        attr = torch.cat(attr, -1).to(dtype) if attr else x.new_zeros(src.shape[0], 0)
        local[self.edge_field] = self._edge_layout(sample, layout, lead, attr, src, dst, local)
        out = dict(self.backbone(local))
        for name, y in out.items():
            f = self.out_spec[name] if name in self.out_spec else None
            if f is None or not f.nodes:
                continue
            yv = y.reshape(v, *y.shape[len(lead):])
            out[name] = act_per_node(f, self.group, g, yv).to(y.dtype).reshape(y.shape)
        size = layout.size
        flags = torch.zeros(size, dtype=torch.bool, device=x.device)
        self.flagged = flags.index_put_((graph[node_flag],), torch.ones_like(graph[node_flag],
                                                                              dtype=torch.bool))
        self._metrics = {"flagged_fraction": (lambda f=self.flagged: f.double().mean()
                                              if f.numel() else 0.0),
                         "flagged_node_fraction": (lambda f=node_flag[valid]: f.double().mean()
                                                   if f.numel() else 0.0)}
        return out

    def _edges(self, sample, layout, lead, graph: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """Source and target node (flat index) of every edge ``j -> i``."""
        given = sample.get(self.edge_index)
        if isinstance(given, Tensor):
            ei = given.long() if layout.ragged else global_edge_index(given, *lead)
            return ei[0], ei[1]
        same = (graph[:, None] == graph[None, :]) & valid[:, None] & valid[None, :]
        same &= ~torch.eye(graph.shape[0], dtype=torch.bool, device=graph.device)
        dst, src = torch.nonzero(same, as_tuple=True)
        return src, dst

    def _edge_layout(self, sample, layout, lead, attr: Tensor, src, dst, local) -> Tensor:
        """Edge features in the backbone's layout (see module docs)."""
        if layout.ragged:
            if self.edge_index not in sample:
                local[self.edge_index] = torch.stack([src, dst])
            return attr
        b, n = lead
        if isinstance(sample.get(self.edge_index), Tensor):
            return attr.reshape(b, -1, attr.shape[-1])
        dense = attr.new_zeros(b, n, n, attr.shape[-1])
        return dense.index_put((dst // n, dst % n, src % n), attr)

    def _frames(self, flat, src: Tensor, dst: Tensor, valid: Tensor, graph: Tensor, size: int):
        """Node elements ``g_i`` (flat, float64) and which nodes are flagged ``(V,)`` bool."""
        x = flat[self.field]
        origin = None
        if self.origin == "centroid":  # the mean of the valid nodes of each node's graph
            w = valid.to(torch.float64)[:, None]
            total = torch.zeros(size, x.shape[-1], dtype=torch.float64, device=x.device)
            total = total.index_add(0, graph, x.to(torch.float64) * w)
            count = torch.zeros(size, 1, dtype=torch.float64, device=x.device)
            count = count.index_add(0, graph, w).clamp_min(1.0)
            origin = (total / count)[graph]
        frames = node_frames(
            self.group, x, src, dst, valid=valid, origin=origin,
            extra=[flat[k].reshape(x.shape) for k in self.extra_fields],
            degeneracy_tol=self.degeneracy_tol, sign_tol=self.sign_tol, generator=self.generator,
        )
        return frames.element, frames.flagged


def _position_field(spec: Spec, name: str | None) -> str:
    """``name``, else the spec's first node point field, else its first node vector field."""
    if name is not None:
        if name not in spec or not spec[name].nodes:
            raise ConfigError("model.symmetrizer.field", f"'{name}' is not a node field of the "
                              f"in_spec {list(spec)}")
        return name
    for kind in (Point, Vector):
        for field, f in spec.items():
            if f.nodes and isinstance(f.rep, kind):
                return field
    raise ConfigError("model.in_spec", f"local frames need a node point field; got {list(spec)}")


def local_frames(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, extra_fields: list[str] = (), edge_field: str = "edge_attr",
    edge_index: str = "edge_index", origin: str = "centroid", degeneracy_tol: float = 1e-3,
    sign_tol: float = 1e-6,
) -> LocalFrames:
    """A frame per node from its neighbourhood; the backbone sees every node's and message's
    geometry in the receiving node's frame (Kofinas et al. 2021; LLoCa 2025); exact, 1 call."""
    return LocalFrames(backbone, group, in_spec, out_spec, field=field,
                       extra_fields=extra_fields, edge_field=edge_field, edge_index=edge_index,
                       origin=origin, degeneracy_tol=degeneracy_tol, sign_tol=sign_tol)



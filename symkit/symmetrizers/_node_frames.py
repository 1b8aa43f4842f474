"""Node frames: an orthonormal frame per node from the relative positions of its neighbours.

The local-frame construction of Kofinas et al. (2021, "Roto-translated Local Coordinate Frames
for Interacting Dynamical Systems") and of local canonicalization (LLoCa, Spinner et al. 2025),
with the shared PCA machinery of :mod:`symkit.symmetrizers._frames`.

For node ``i`` with neighbours ``j -> i`` and relative positions ``r_ij = x_j - x_i``, the
second moment ``C_i = 1/n_i sum_j r_ij r_ij^T`` (plus ``v_i v_i^T`` for each extra vector field
``v``) transforms as ``R C_i R^T`` under ``x -> R x + t``. Its eigenbasis ``Q_i`` (:func:`pca`:
normalized, the gap tolerance raised to the dtype by :func:`gap_tol`) with axis ``k`` oriented
by the sign of the third moment ``m_ik = 1/n_i sum_j (q_k . r_ij)^3`` (:func:`third_moments` of
the PCA canonicalizer, over the same rows: the ``r_ij`` and the extra vectors) gives ``L_i =
Q_i diag(s_i)`` with ``L_i(g x) = R L_i(x)``. For SO(d)/SE(d) the least reliable axis takes its
sign from ``det L_i = +1``. The node's element is ``g_i = (L_i, o_i)`` for E(d)/SE(d) with an
equivariant origin ``o_i`` (default ``x_i``, or e.g. the centroid of the node's graph), ``L_i``
for O(d)/SO(d).

**Flags** (the conventions of the global frames): a repeated eigenvalue (symmetric or collinear
neighbourhood) gets a Haar-random basis of its eigenspace, an undecided sign
(``|m_ik| <= sign_tol * 1/n_i sum_j |r_ij|^3``: a mirror-symmetric neighbourhood) a random
sign, a node without neighbours a Haar-random frame; such nodes are ``flagged`` and their frame
is equivariant in distribution. Padding nodes (``valid`` false) get the identity, unflagged.

**Gradient.** ``Q_i`` carries the gradient of the positions where its eigenvalues are distinct
(detached elsewhere), ``x_i`` that of the origin; signs are piecewise constant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from symkit.groups import Element, Group, Translation
from symkit.spec import Field
from symkit.symmetrizers._frames import dtype_tol, gap_tol, pca, point_moments, randomize_degenerate
from symkit.symmetrizers._geometry import has_translation, is_pca_group, make_element, proper_only
from symkit.symmetrizers._signs import third_moments

__all__ = ["NodeFrames", "node_frames", "supports_node_frames", "act_per_node"]


@dataclass
class NodeFrames:
    """The frames of ``V`` nodes.

    Attributes:
        element: ``g_i`` in the group's encoding, ``V`` elements, float64.
        flagged: ``(V,)`` bool: a degenerate neighbourhood, an undecided sign or no neighbour.
    """

    element: Element
    flagged: Tensor


def supports_node_frames(group: Group) -> bool:
    """O(d), SO(d), E(d) or SE(d) (not a product, not T(d))."""
    return is_pca_group(group) and not isinstance(group, Translation)


def node_frames(
    group: Group, points: Tensor, src: Tensor, dst: Tensor, *, valid: Tensor | None = None,
    origin: Tensor | None = None, extra: Sequence[Tensor] = (), degeneracy_tol: float = 1e-3,
    sign_tol: float = 1e-6, generator: torch.Generator | None = None,
) -> NodeFrames:
    """The frame of every node from its in-neighbours (see the module docs).

    Args:
        group: O(d), SO(d), E(d) or SE(d).
        points: node positions.
        src, dst: edges ``j -> i`` as source and target node indices.
        valid: real nodes (padding: ``False``); default all.
        origin: the translation part of each frame (E(d), SE(d)); default ``points``.
        extra: node vector fields ``v`` whose ``v_i v_i^T`` join node ``i``'s moments.
        degeneracy_tol: relative eigen-gap below which eigenvalues count as repeated.
        sign_tol: relative third moment below which an axis sign is undecided.
        generator: random source of the fallbacks.

    Shapes:
        points, origin: ``(V, d)``; src, dst: ``(E,)`` long; valid: ``(V,)`` bool; extra:
        ``(V, d)``.
    """
    v, d = points.shape[0], points.shape[-1]
    if valid is None:
        valid = torch.ones(v, dtype=torch.bool, device=points.device)
    x = points.to(torch.float64)
    rel = x[src] - x[dst]
    mom = point_moments(rel, center=False, batch=dst, num_graphs=v,
                        extra=[e[dst].reshape(-1, d) for e in extra])
    frame = pca(mom, gap_tol(degeneracy_tol, points.dtype))
    lonely = valid & frame.empty  # no neighbour: one Haar-random cluster (pca)
    # padding nodes (identity below) draw nothing: their clusters are split
    cluster = torch.where(valid[:, None], frame.cluster,
                          torch.arange(d, device=frame.cluster.device))
    basis = randomize_degenerate(frame.basis, cluster, 1, generator)[:, 0]
    # third moments of the same rows: the neighbours' r_ij and the node's own extra vectors
    rows = torch.cat([rel, *[e.to(torch.float64).reshape(-1, d) for e in extra]])
    owner = torch.cat([dst, *[torch.arange(v, device=dst.device) for _ in extra]])
    m3, r = third_moments(rows, torch.zeros_like(mom.center), basis, batch=owner,
                          spread=mom.spread)
    undecided = m3.abs() <= dtype_tol(sign_tol, points.dtype) * r[:, None]
    s = torch.where(m3 < 0, -torch.ones_like(m3), torch.ones_like(m3))
    proper = proper_only(group)
    if proper:  # the least reliable axis takes its sign from det = +1
        reliability = m3.abs() / r.clamp_min(1e-300)[:, None]
        fixed = torch.nn.functional.one_hot(reliability.argmin(-1), d).bool()
        undecided &= ~fixed
    undecided &= ~lonely[:, None]
    if bool(undecided.any()):
        coin = torch.randint(0, 2, s.shape, generator=generator,
                             device=generator.device if generator is not None else None)
        s = torch.where(undecided, 2.0 * coin.to(s) - 1.0, s)
    if proper:
        det = torch.linalg.det(basis.detach()) * s.prod(-1)
        s = torch.where(fixed & (det < 0)[:, None], -s, s)
    eye = torch.eye(d, dtype=basis.dtype, device=basis.device).expand(v, d, d)
    rot = torch.where(valid[:, None, None], basis * s[:, None, :], eye)  # padding: identity
    if has_translation(group):
        o = x if origin is None else origin.to(torch.float64)
        origin = torch.where(valid[:, None], o, torch.zeros_like(o))
    else:
        origin = None
    flagged = valid & (frame.degenerate | undecided.any(-1) | lonely)
    return NodeFrames(make_element(group, rot, origin), flagged)


def act_per_node(field: Field, group: Group, g: Element, x: Tensor) -> Tensor:
    """``g_i . x_i`` for one element per row, computed in float64.

    Shapes:
        x: ``(V, *feature)`` (one node's field per row); ``g``: ``V`` elements; returns float64.
    """
    node = Field(field.rep, nodes=True)
    return node.act(group, g, x.to(torch.float64).unsqueeze(1)).squeeze(1)

"""Frames of S_N x E(d) (and x O(d), SE(d), SO(d)): a Euclidean frame, then a sorting frame.

For point clouds and graphs the symmetry is the product of node permutations and rigid
motions, ``(sigma, g) . x = g x_{sigma^-1}``. A frame of the product is built in two steps
(the product construction of Puny et al. 2022, Sec. 3.2, with the permutation part by
canonical sorting as in Kaba et al. 2023 and Lin et al. 2024):

1. **Euclidean frame** ``F_E(x) = {h_k = (R_k, c)}`` from the points (PCA signs, or the
   finite symmetric frame sets of :mod:`._symmetric_frames`): a function of the point *set*,
   so permuting the nodes leaves it unchanged, and ``F_E(g x) = g F_E(x)``.
2. **Sorting** each canonical point cloud ``y^k_i = h_k^-1 x_i = R_k^T (x_i - c)`` (invariant
   under ``g``, permuted by ``sigma``) by an invariant key: the invariant node features
   (atom types) first, then the three canonical coordinates, lexicographically. Coordinates are
   compared through their cluster labels at tolerance ``tol`` (relative to the RMS spread,
   :func:`~._symmetric_frames.cluster_values`) so that rounding never reorders nodes whose
   coordinates differ by more than ``tol``. Nodes with equal keys (coincident points of equal
   features) are ties: every tie-breaking order is in the frame (up to ``max_ties``, else
   ``max_ties`` drawn at random: flagged), as in :func:`~._sorting.sorting_frame`.

The frame is ``{(pi_{k,t}, h_k)}`` with weight ``w_k / T_k``; for ``(sigma, g) x`` the
Euclidean elements are ``g h_k`` with the same canonical clouds permuted by ``sigma``, so the
sorts are ``sigma pi_{k,t}``: ``F((sigma, g) x) = (sigma, g) F(x)`` and the average is exact.
Node outputs are permuted back by the shared forward (``g . y`` acts on node fields).

**Cost.** ``K = |F_E| x T`` backbone copies: ``2^d`` (O/E) or ``2^(d-1)`` (SO/SE) for generic
clouds, ``T = 1`` without ties. Keys combine labels below ``N`` per coordinate in one int64,
so ``N`` up to 55,000 nodes per sample.

**Gradient.** The Euclidean part carries the gradient of its frame; permutations are
piecewise constant (the backbone's gradient through the permuted inputs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from symkit.groups import DirectProduct, Group, Symmetric
from symkit.spec import Spec
from symkit.symmetrizers._frames import ZERO_SPREAD
from symkit.symmetrizers._geometry import is_pca_group
from symkit.symmetrizers._sorting import sorting_frame
from symkit.symmetrizers._symmetric_frames import feature_labels, invariant_node_fields

__all__ = ["ProductParts", "product_parts", "product_elements", "canonical_sort_keys"]


@dataclass(frozen=True)
class ProductParts:
    """Where the factors of ``S_N x G_E`` sit in the product's element tuple."""

    perm: int
    euclid: int
    symmetric: Symmetric
    euclidean: Group


def product_parts(group: Group) -> ProductParts | None:
    """``S_N x G_E`` (either order) with ``G_E`` one of O(d), SO(d), E(d), SE(d); else ``None``."""
    if not isinstance(group, DirectProduct) or len(group.factors()) != 2:
        return None
    a, b = group.factors()
    for i, (s, e) in enumerate(((a, b), (b, a))):
        if isinstance(s, Symmetric) and is_pca_group(e) and "rotation" in e.kinds:
            return ProductParts(i, 1 - i, s, e)
    return None


def _labels(values: Tensor, tol: float) -> Tensor:
    """:func:`cluster_values` along the last axis of ``(M, N)`` values (``inf``: padding)."""
    order = torch.argsort(values, dim=-1)
    sv = torch.gather(values, -1, order)
    split = (sv.diff(dim=-1) > tol).long()
    sorted_labels = torch.cat([split[..., :1] * 0, split.cumsum(-1)], -1)
    return torch.empty_like(sorted_labels).scatter_(-1, order, sorted_labels)


def canonical_sort_keys(
    coords: Tensor, valid: Tensor, features: Tensor | None, tol: float
) -> Tensor:
    """Dense ranks of the nodes by (features, canonical coordinates), coordinates clustered.

    Args:
        coords: canonical coordinates relative to the spread, ``(M, N, d)`` float64.
        valid: ``(M, N)`` bool.
        features: invariant node features ``(M, N)`` long labels (equal = same features).
        tol: clustering tolerance of the coordinates.

    Shapes:
        returns ``(M, N)`` float64 ranks (exact integers; equal ranks are ties).
    """
    m, n, d = coords.shape
    inf = torch.full_like(coords[..., 0], float("inf"))
    key = features.long() if features is not None else torch.zeros_like(valid, dtype=torch.long)
    for i in range(d):
        key = key * (n + 1) + _labels(torch.where(valid, coords[..., i], inf), tol)
    order = torch.argsort(key, dim=-1)
    sk = torch.gather(key, -1, order)
    rank = torch.cat([sk[..., :1] * 0, (sk.diff(dim=-1) != 0).long().cumsum(-1)], -1)
    return torch.empty_like(rank).scatter_(-1, order, rank).to(torch.float64)


def _feature_labels(sample: Mapping[str, Tensor], in_spec: Spec, valid: Tensor, tol: float
                    ) -> Tensor | None:
    """Per sample, invariant node features equal up to ``tol`` (per channel, relative to its
    largest magnitude over the sample's valid nodes: :func:`~._symmetric_frames.feature_labels`)
    get equal labels ``(B, N)`` long, so rounding never splits nodes that symmetry makes alike.
    Padding rows are left out of the clustering (label 0; their sort key is infinite anyway), so
    their values never merge or split the real nodes' features."""
    names = [n for n in invariant_node_fields(in_spec) if n in sample]
    if not names:
        return None
    b, n = valid.shape
    f = torch.cat([_per_node(sample[k].detach().to(torch.float64)) for k in names], -1)
    out = torch.zeros(b, n, dtype=torch.long, device=f.device)
    for i in range(b):
        rows = valid[i].nonzero().flatten()
        if len(rows):
            labels = feature_labels(f[i, rows], len(rows), tol)
            _, inverse = torch.unique(labels, dim=0, return_inverse=True)
            out[i, rows] = inverse
    return out


def _per_node(x: Tensor) -> Tensor:
    """``(B, N, ...)`` -> ``(B, N, F)`` (``F = 1`` for ``(B, N)``; any ``B``, also 0)."""
    return x.flatten(2) if x.ndim > 2 else x[..., None]


def product_elements(
    parts: ProductParts, group: Group, g_e, w_e: Tensor, sample: Mapping[str, Tensor],
    field: str, in_spec: Spec, *, tol: float, max_ties: int,
    generator: torch.Generator | None = None,
) -> tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
    """The product frame ``{(pi_{k,t}, h_k)}`` from a Euclidean frame ``{h_k}`` (module docs).

    Args:
        parts: :func:`product_parts` of ``group``.
        g_e: ``B * K`` Euclidean elements (sample-major); w_e: their weights ``(B, K)``.
        sample: dense batch (``(B, N, d)`` points, optional ``mask``); field: the point field.
        in_spec: names the invariant node fields used first in the sort.
        tol: clustering tolerance; max_ties: tie-breaking orders per frame element.

    Returns:
        product elements (``B * K * T``, the group's tuple order), weights ``(B, K * T)`` and
        ``(B,)`` bool: samples whose tie-breaks were sampled (equivariant in distribution).
    """
    egroup = parts.euclidean
    x = sample[field].detach().to(torch.float64)
    b, n, d = x.shape
    k = w_e.shape[1]
    rot = egroup.matrix(g_e).detach().to(torch.float64).reshape(b, k, d, d)
    t = egroup.translation(g_e)
    t = (t.detach().to(torch.float64).reshape(b, k, d) if t is not None
         else x.new_zeros(b, k, d))
    mask = sample.get("mask")
    valid = mask.bool() if mask is not None else torch.ones(b, n, dtype=torch.bool,
                                                            device=x.device)
    y = torch.einsum("bkji,bknj->bkni", rot, x[:, None] - t[:, :, None])
    w = valid.to(torch.float64)
    spread = ((y[:, 0].square().sum(-1) * w).sum(1) / w.sum(1).clamp_min(1)).sqrt()
    flat = spread <= ZERO_SPREAD ** 0.5 * x.square().sum(-1).amax(1).sqrt()
    spread = torch.where(flat, torch.ones_like(spread), spread)
    feats = _feature_labels(sample, in_spec, valid, tol)
    keys = canonical_sort_keys(
        (y / spread[:, None, None, None]).reshape(b * k, n, d),
        valid.repeat_interleave(k, 0),
        feats.repeat_interleave(k, 0) if feats is not None else None, tol,
    )
    perms, w_sort, _, sampled = sorting_frame(
        keys, valid.repeat_interleave(k, 0), max_ties=max_ties, generator=generator,
        return_sampled=True,
    )
    tt = perms.shape[1]
    weights = (w_e.to(torch.float64)[:, :, None] * w_sort.reshape(b, k, tt)).reshape(b, k * tt)
    perm = perms.reshape(b * k * tt, n)
    euclid = _repeat(g_e, tt)
    element = (perm, euclid) if parts.perm == 0 else (euclid, perm)
    return element, weights, sampled.reshape(b, k).any(1)


def _repeat(g: Tensor, times: int) -> Tensor:
    """Each element ``times`` times in a row: ``B * K`` -> ``B * K * times``."""
    return g.repeat_interleave(times, dim=0) if times > 1 else g

"""Finite frames of symmetric point sets: exact frame averaging where PCA is degenerate.

When the covariance of a point set has a repeated eigenvalue (methane, SF6, cubane: all three;
ammonia, benzene: two), its PCA frame is an arbitrary basis of the degenerate eigenspace, and
a Haar-random completion is equivariant in distribution only. Yet these inputs have a *finite*
stabilizer, and a finite frame set ``F(x)`` with ``F(g x) = g F(x)`` (as multisets) exists; its
uniform average is exactly equivariant (Puny et al. 2022). Following the minimal-frame idea of
Lin et al. 2024 ("Equivariance via Minimal Frame Averaging for More Symmetries and
Efficiency", ICML), the frames here are built from the points themselves, selected by
invariant criteria only:

1. **First axis.** Centred points (``x_j - c``; ``c = 0`` for O(d)/SO(d)) are grouped into
   *shells* of equal invariant node features (atom types) and equal norm (relative to the RMS
   spread, to ``tol``); points at the centre are left out. The shell ``S_1`` with the fewest
   points is taken (ties: the larger norm, then the smaller features). ``u`` runs over
   ``S_1``.
2. **Second axis** (d = 3). For each ``u``, the points not collinear with it
   (``|u x v| > tol |u| |v|``) are grouped by features, norm and ``cos(u, v)`` (to ``tol``);
   the smallest group ``V(u)`` is taken (ties: the larger norm, the larger cosine, the smaller
   features).
3. **Frames.** For each ordered pair ``(u, v)``, Gram-Schmidt gives ``e_1 = u / |u|``,
   ``e_2 = (v - (v . e_1) e_1) / |...|`` and ``e_3 = e_1 x e_2``; the element is
   ``([e_1, e_2, e_3], c)``, and for O(d)/E(d) also ``([e_1, e_2, -e_3], c)`` (a reflection
   ``g`` maps ``e_1 x e_2`` to ``-g (e_1 x e_2)``, so the pair of handednesses is what moves
   with ``g``). In d = 2 the frames are ``[e_1, J e_1]`` (and ``[e_1, -J e_1]``), ``u`` in
   ``S_1``.

Every criterion is a function of rotation-invariant quantities (norms, cosines, features), so
the selected pairs move with the input, ``F(g x) = g F(x)``, and the average is exact; it is
deterministic (no random draw). On methane it gives 12 frames for SO(3) (24 for O(3)): the
order of its point group, the minimal size; benzene 12/24, ammonia 3/6, SF6 24/48, cubane
24/48.

**Infinite stabilizers.** No frame exists when every point lies on one line through the centre
(linear molecules: the rotations about the axis fix them) or at the centre (a single point): a
set of points not all on a line through the centre has a finite stabilizer in O(3). These
samples keep the Haar completion and stay ``flagged`` (equivariant in distribution).

**Cost.** ``|F| = |S_1| |V|`` (twice for O(d)/E(d)), at most ``n (n - 1)`` (twice); a set
larger than ``max_frames`` is not built (the Haar completion, flagged, instead). The batch runs
``K = max_b |F_b|`` backbone copies (zero weights fill the shorter sets).

**Tolerances** are ``gap_tol(degeneracy_tol, dtype)`` of :mod:`symkit.symmetrizers._frames`
(float64 1e-3 by default; float32 6e-3): grouping only merges values closer than ``tol``, which
makes a set larger but never wrong; a decision flips between ``x`` and ``g x`` only for values
within rounding of ``tol`` itself (the same caveat as an eigen-gap of ``tol``). A second axis
with ``sin(u, v) > tol`` amplifies the input's rounding by at most ``1 / tol``.

**Gradient.** The frames are differentiable functions of the points (and of the centroid), so
forces of an invariant energy stay finite and carry the frame's derivative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from symkit.reps import Scalar
from symkit.spec import Spec
from symkit.symmetrizers._frames import flatten_batch, flatten_points

__all__ = ["point_set_frames", "symmetric_frames", "merge_frames", "cluster_values",
           "invariant_node_fields", "resolve_degenerate", "MAX_FRAMES"]

#: default largest frame set built per sample (|I_h| = 120: the largest finite point group
#: of a molecule, e.g. C60, whose minimal frame has 60 x 1 x 2 elements)
MAX_FRAMES = 120


def cluster_values(values: Tensor, tol: float) -> Tensor:
    """Labels ``0, 1, ...`` of ``values`` clustered where sorted neighbours differ by ``<= tol``.

    Labels increase with the values and depend only on the multiset of values (invariant under
    a permutation of them).

    Shapes:
        values: ``(n,)``; returns ``(n,)`` long.
    """
    if values.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=values.device)
    order = torch.argsort(values)
    split = (values[order].diff() > tol).long()
    labels = torch.cat([split.new_zeros(1), split.cumsum(0)])
    out = torch.empty_like(labels)
    out[order] = labels
    return out


def invariant_node_fields(spec: Spec) -> list[str]:
    """The spec's invariant (scalar) node fields: tie-breakers of the frame groupings."""
    return [n for n, f in spec.items() if f.nodes and type(f.rep) is Scalar]


def feature_labels(features: Tensor | None, n: int, tol: float) -> Tensor:
    """Per node, the per-channel cluster labels of its invariant features.

    Each channel ``c`` is divided by its largest magnitude over the set and clustered to
    ``tol`` (:func:`cluster_values`), so features that symmetry makes equal but rounding makes
    differ (hidden features computed in floating point, e.g. the stages of layer-wise frame
    averaging) fall in one group, and the labels stay an invariant function of the set.

    Shapes:
        features: ``(n, F)`` or None; returns ``(n, F)`` long (``(n, 0)`` if None).
    """
    if features is None or features.shape[-1] == 0:
        device = features.device if features is not None else None
        return torch.zeros(n, 0, dtype=torch.long, device=device)
    f = features.detach().to(torch.float64).reshape(n, -1)
    scale = f.abs().amax(0).clamp_min(torch.finfo(torch.float64).tiny)
    return torch.stack([cluster_values(f[:, c] / scale[c], tol) for c in range(f.shape[1])],
                       dim=1)


def _smallest_group(keys: Tensor, feats: int, larger: int) -> Tensor:
    """Indices of the smallest group of equal key rows, ties broken by an invariant order.

    ``keys`` rows are ``(feature labels..., invariant labels...)``: the first ``feats``
    columns are feature labels (ties: the smaller, lexicographically), the ``larger`` columns
    after them invariant labels where the larger wins (tried first, in order). The rule
    depends only on the multiset of rows, so the group it picks moves with the input.

    Shapes:
        keys: ``(m, feats + larger)`` long, ``m >= 1``; returns ``(k,)`` long indices.
    """
    # lexicographic dense rank of the rows, one column at a time (1-D unique: no row loop)
    inverse = torch.zeros(keys.shape[0], dtype=torch.long, device=keys.device)
    for c in range(keys.shape[1]):
        col = keys[:, c] - keys[:, c].min()
        _, inverse = torch.unique(inverse * (col.max() + 1) + col, return_inverse=True)
    counts = torch.bincount(inverse)
    first = torch.full_like(counts, keys.shape[0]).scatter_reduce(
        0, inverse, torch.arange(keys.shape[0], device=keys.device), "amin")
    rows = keys[first]
    # rank the unique rows: count ascending, then each "larger" column descending, then the
    # feature labels ascending (stable sorts from the least to the most significant key)
    order = torch.arange(rows.shape[0], device=keys.device)  # unique rows: features ascending
    for col in reversed(range(feats, feats + larger)):
        order = order[torch.sort(-rows[order, col], stable=True).indices]
    order = order[torch.sort(counts[order], stable=True).indices]
    return torch.nonzero(inverse == order[0]).flatten()


def point_set_frames(
    points: Tensor, features: Tensor | None = None, *, proper: bool, tol: float = 1e-3,
    max_frames: int = MAX_FRAMES,
) -> Tensor | None:
    """The finite frame set of one centred point set (see the module docs), or ``None``.

    Args:
        points: the points about the frame's centre, float64.
        features: invariant node features (atom types, hidden scalars), clustered per channel
            to ``tol`` relative to the channel's largest magnitude (:func:`feature_labels`).
        proper: rotations only (SO(d)/SE(d)); else both handednesses.
        tol: relative tolerance of the invariant groupings.
        max_frames: return ``None`` above this many frames.

    Shapes:
        points: ``(n, d)`` with ``d`` in {2, 3}; features: ``(n, F)``; returns ``(K, d, d)``
        (frame vectors as columns) or ``None`` (an infinite stabilizer, ``d`` not 2 or 3, or
        more than ``max_frames``).
    """
    n, d = points.shape
    if d not in (2, 3) or n == 0:
        return None
    with torch.no_grad():
        p = points.detach()
        r = p.norm(dim=1)
        spread = r.square().mean().sqrt()
        if not spread > 0:
            return None
        p, rn = p / spread, r / spread  # unit spread: the cross products below cannot
        # overflow or underflow at any scale the norms survive
        away = rn > tol
        if not bool(away.any()):
            return None
        feats = feature_labels(features, n, tol)
        keys = torch.cat([feats, cluster_values(rn, tol)[:, None]], 1)
        idx = torch.nonzero(away).flatten()
        first = idx[_smallest_group(keys[idx], feats.shape[1], 1)].tolist()
        pairs = [(u, None) for u in first] if d == 2 else _second_axes(p, first, keys, away,
                                                                         tol)
    count = len(pairs) * (1 if proper else 2)
    if not pairs or count > max_frames:
        return None
    return _frames_of(points, pairs, proper)


def _second_axes(p: Tensor, first: list[int], keys: Tensor, away: Tensor, tol: float
                 ) -> list[tuple[int, int]]:
    """``(u, v)`` for ``u`` in the first shell and ``v`` in its invariant second group
    (``keys``: per point its feature labels and norm label)."""
    pairs = []
    r = p.norm(dim=1)
    for u in first:
        cos = (p @ p[u]) / (r * r[u]).clamp_min(1e-300)
        sin = torch.linalg.cross(p, p[u].expand_as(p)).norm(dim=1) / (r * r[u]).clamp_min(1e-300)
        idx = torch.nonzero(away & (sin > tol)).flatten()
        if not len(idx):
            continue
        key = torch.cat([keys[idx], cluster_values(cos[idx], tol)[:, None]], 1)
        best = idx[_smallest_group(key, keys.shape[1] - 1, 2)].tolist()
        pairs.extend((u, v) for v in best)
    return pairs


def _frames_of(points: Tensor, pairs: Sequence[tuple[int, int | None]], proper: bool) -> Tensor:
    """Gram-Schmidt frames of the pairs (differentiable in ``points``), both handednesses
    unless ``proper``. Shapes: returns ``(K, d, d)``."""
    u = torch.stack([points[i] for i, _ in pairs])
    e1 = u / u.norm(dim=1, keepdim=True)
    if points.shape[1] == 2:
        e2 = torch.stack([-e1[:, 1], e1[:, 0]], dim=1)
        cols = [torch.stack([e1, e2], -1)]
        if not proper:
            cols.append(torch.stack([e1, -e2], -1))
        return torch.cat(cols)
    v = torch.stack([points[j] for _, j in pairs])
    w = v - (v * e1).sum(1, keepdim=True) * e1
    e2 = w / w.norm(dim=1, keepdim=True)
    e3 = torch.linalg.cross(e1, e2)
    cols = [torch.stack([e1, e2, e3], -1)]
    if not proper:
        cols.append(torch.stack([e1, e2, -e3], -1))
    return torch.cat(cols)


def symmetric_frames(
    points: Tensor, center: Tensor, rows: Sequence[int], *, proper: bool, tol: float,
    mask: Tensor | None = None, batch: Tensor | None = None,
    features: Sequence[Tensor] = (), max_frames: int = MAX_FRAMES,
) -> dict[int, Tensor]:
    """:func:`point_set_frames` of the samples ``rows`` of a batch, where one exists.

    Args:
        points: the frame's point field, dense ``(B, N, *C, d)`` (optional ``mask``) or ragged
            ``(total, *C, d)`` with ``batch``.
        center: the frame's centre per sample ``(B, d)`` (differentiable).
        rows: samples to build frames for (the PCA-degenerate ones).
        features: invariant node fields (scalars) in the same layout, ``(B, N, ...)`` or
            ``(total, ...)``: tie-breakers of the groupings.
        proper, tol, max_frames: see :func:`point_set_frames`.

    Returns:
        ``{row: (K_row, d, d)}`` for the rows with a finite frame set (float64).
    """
    if not rows:
        return {}
    x, _ = flatten_points(points, mask, batch)
    channels = math.prod(points.shape[(2 if batch is None else 1):-1])
    row_of = flatten_batch(points, batch) if batch is not None else None
    feat = _node_features(features, channels, batch is None)
    out = {}
    for b in rows:
        if row_of is not None:
            keep = row_of == b
            p, f = x[keep], feat[keep] if feat is not None else None
        else:
            keep = (mask[b].bool().repeat_interleave(channels) if mask is not None
                    else torch.ones(x.shape[1], dtype=torch.bool, device=x.device))
            p, f = x[b][keep], feat[b][keep] if feat is not None else None
        frames = point_set_frames(p - center[b].to(p.dtype), f, proper=proper, tol=tol,
                                  max_frames=max_frames)
        if frames is not None:
            out[b] = frames
    return out


def _node_features(features: Sequence[Tensor], channels: int, dense: bool) -> Tensor | None:
    """Node features as one float64 tensor ``(B, N * C, F)`` (dense) or ``(total * C, F)``
    (ragged), repeated per channel of the point field."""
    if not features:
        return None
    lead = 2 if dense else 1
    out = torch.cat([f.detach().to(torch.float64).reshape(*f.shape[:lead],
                                                            math.prod(f.shape[lead:]))
                     for f in features], -1)
    return out.repeat_interleave(channels, dim=-2) if channels > 1 else out


def merge_frames(
    rot: Tensor, weights: Tensor, frames: dict[int, Tensor]
) -> tuple[Tensor, Tensor]:
    """Replace the frame sets of some samples by finite symmetric ones, padding with weight 0.

    Args:
        rot: the current rotations ``(B, K0, d, d)``; weights ``(B, K0)``.
        frames: ``{sample: (K_b, d, d)}`` from :func:`symmetric_frames`.

    Returns:
        rotations ``(B, K, d, d)`` and weights ``(B, K)``, ``K = max(K0, max K_b)``; the
        replaced samples get ``1 / K_b`` on their ``K_b`` frames, the padding slots repeat a
        sample's first element with weight 0.
    """
    b, k0, d, _ = rot.shape
    k = max([k0] + [f.shape[0] for f in frames.values()])
    if k > k0:
        rot = torch.cat([rot, rot[:, :1].expand(b, k - k0, d, d)], 1)
        weights = torch.cat([weights, weights.new_zeros(b, k - k0)], 1)
    rows, sets = list(frames), list(frames.values())
    if not rows:
        return rot, weights
    padded = torch.stack([torch.cat([f, f[:1].expand(k - f.shape[0], d, d)]) for f in sets])
    counts = torch.tensor([f.shape[0] for f in sets], device=weights.device)
    w = (torch.arange(k, device=weights.device)[None] < counts[:, None]).to(weights.dtype)
    index = torch.tensor(rows, device=rot.device)
    rot = rot.index_copy(0, index, padded.to(rot.dtype))
    weights = weights.index_copy(0, index, w / w.sum(1, keepdim=True))
    return rot, weights


def resolve_degenerate(
    sample, field: str, in_spec: Spec, layout, center: Tensor, frame, rot: Tensor,
    weights: Tensor, *, proper: bool, tol: float, max_frames: int = MAX_FRAMES,
) -> tuple[Tensor, Tensor, Tensor]:
    """The frame sets ``rot``/``weights`` of a batch with every PCA-degenerate, non-empty sample
    whose stabilizer is finite given its symmetric frame set instead (uniform weights).

    Args:
        sample: the batch; ``field`` its point field; ``in_spec`` names the invariant node
            fields used as tie-breakers; ``layout``: its :class:`BatchLayout`.
        center: frame centre per sample; frame: its :class:`~._frames.PCA`.
        rot, weights: the current sets; proper, tol, max_frames: see :func:`point_set_frames`.

    Shapes:
        rot ``(B, K0, d, d)``, weights ``(B, K0)``; returns rotations ``(B, K, d, d)``,
        weights ``(B, K)`` and the resolved samples ``(B,)`` bool.
    """
    rows = torch.nonzero(frame.degenerate & ~frame.empty).flatten().tolist()
    sets = symmetric_frames(
        sample[field], center, rows, proper=proper, tol=tol, mask=sample.get("mask"),
        batch=layout.batch, max_frames=max_frames,
        features=[sample[n] for n in invariant_node_fields(in_spec) if n in sample],
    )
    rot, weights = merge_frames(rot, weights, sets)
    resolved = torch.zeros_like(frame.degenerate)
    resolved[list(sets)] = True
    return rot, weights, resolved

"""Registered learned canonicalizers (registry ``canonicalizers``), equivariant by construction.

=====================  ==============================  ======================================
name                   group                           network -> element
=====================  ==============================  ======================================
learned_group_cnn      finite planar (C4, D4, C2, ...)  lifting G-CNN scores -> argmax
learned_image_frame    SO(2), O(2) on images            D4-invariant CNN moments -> frame
learned_point_frame    O(d), SO(d), E(d), SE(d) points  EGNN-style vectors -> Gram-Schmidt
learned_sort           S_N on node features             DeepSets scores -> argsort
learned_orbit_scores   any small finite group, any spec  ``psi(g^-1 x)`` per element -> argmax
=====================  ==============================  ======================================

A ``field`` left as ``None`` is found in ``in_spec`` (the first image field, the first point
field, or all node fields for ``learned_sort``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.canonicalizers._learned_base import LearnedCanonicalizer, Proposal
from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.groups._euclidean import homogeneous
from symkit.groups._orthogonal import Orthogonal
from symkit.groups._symmetric import Symmetric
from symkit.registry import register
from symkit.reps._image import Image
from symkit.reps._point import Point
from symkit.spec import Field, Spec
from symkit.symmetrizers._base import tile_elements
from symkit.symmetrizers._batching import Copies, batch_layout
from symkit.symmetrizers.learned._image_nets import (
    GroupCNNScores,
    ImageVectors,
    with_noise_channels,
)
from symkit.symmetrizers.learned._inputs import (
    check_finite,
    collapsed_points,
    degeneracy_tol,
    find_field,
    frame_tol,
    is_matrix_group,
    point_batch,
    sign_tol,
    tie_tol,
)
from symkit.symmetrizers.learned._matrices import complete_frame
from symkit.symmetrizers.learned._point_nets import PointVectors
from symkit.symmetrizers.learned._set_nets import NodeScores
from symkit.symmetrizers.learned._ties import argmax_ties, argsort_ties

__all__ = [
    "GroupCNNCanonicalizer",
    "ImageFrameCanonicalizer",
    "PointFrameCanonicalizer",
    "LearnedSortCanonicalizer",
    "OrbitScoresCanonicalizer",
    "default_learned_canonicalizer",
]

#: largest finite group that ``learned_orbit_scores`` enumerates
MAX_ORDER = 128


def _proper(group: Group) -> bool:
    return "reflection" not in group.kinds


def field_layout(sample: Mapping[str, object], field: str):
    """The batch layout of a sample read through one field (ragged when it has ``batch``)."""
    return batch_layout(sample, Spec({field: Field(Point(), nodes=True)}))


def with_krylov(v: Tensor, size: Tensor, pos: Tensor, c: Tensor, mask: Tensor
                ) -> tuple[Tensor, Tensor]:
    """Append ``M v_k`` to the candidate vectors, ``M`` the second-moment matrix of the points
    about ``c``.

    ``M`` transforms as ``A M A^T``, so ``M v_k`` is equivariant too, and it is fixed by every
    symmetry of the input that fixes ``v_k``: it adds no false direction on a symmetric input,
    but on a generic one it restores the directions an (untrained) network makes nearly
    dependent, which keeps the frame well conditioned. Reference size: ``tr(M) s_k``.

    Shapes:
        v: ``(B, d, m)``; size: ``(B, m)``; pos: ``(B, N, d)``; c: ``(B, d)``; mask ``(B, N)``;
        returns ``(B, d, 2m)`` and ``(B, 2m)``.
    """
    w = mask.to(pos.dtype)
    xc = (pos - c[:, None]) * w[..., None]
    m = xc.transpose(1, 2) @ xc / w.sum(1).clamp_min(1.0)[:, None, None]
    trace = m.detach().diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.cat([v, m @ v], dim=-1), torch.cat([size, trace[:, None] * size], dim=-1)


class GroupCNNCanonicalizer(LearnedCanonicalizer):
    """``h(x) = argmax_g score_g(x)`` with lifting G-CNN scores, for a finite planar group.

    Exactly equivariant for groups whose image action is exact (C1, C2, C4, D1, D2, D4).
    ``hidden``, ``layers``, ``kernel_size``, ``pooling``, ``downsample``: see
    :class:`._image_nets.GroupCNNScores` (the defaults see the whole of a 28 x 28 image).
    """

    def __init__(self, group: Group, in_spec: Spec | None = None, field: str | None = None,
                 in_channels: int = 1, hidden: int = 16, kernel_size: int = 3, *,
                 layers: int = 3, pooling: str = "avg", downsample: int = 4, **kwargs):
        super().__init__(group, in_spec, **kwargs)
        self.field = find_field(in_spec, Image, field)
        self.net = GroupCNNScores(group, in_channels + self.noise_dim, hidden, layers,
                                  kernel_size, pooling, downsample)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return (len(group.factors()) == 1 and group.is_finite and group.dim == 2
                and Image().is_exact(group))

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        x = sample[self.field]
        check_finite(sample, Spec({self.field: Field(Image())}), batch_layout(sample, Spec(
            {self.field: Field(Image())})))
        logits = self.net(with_noise_channels(x, noise))
        elements = self.group.elements(device=logits.device)
        index, self.flagged = argmax_ties(logits, tie_tol(self.input_dtype),
                                          self.generator)
        return Proposal(self.group.index(elements, index), logits=logits)


class ImageFrameCanonicalizer(LearnedCanonicalizer):
    """A rotation (O(2): rotation or reflection) of an image from two equivariant vectors.

    SO(2): ``e1 = v1 / |v1|``, ``e2 = J e1`` (``J`` the quarter turn). O(2): Gram-Schmidt on
    ``(v1, v2)``; the sign of the pseudo-scalar ``det(v1, v2)`` decides the reflection. Exact
    for 90-degree rotations and flips of the grid; other angles only up to image resampling.
    """

    compute_dtype = torch.float64

    def __init__(self, group: Group, in_spec: Spec | None = None, field: str | None = None,
                 in_channels: int = 1, hidden: int = 16, layers: int = 3, *,
                 downsample: int = 1, dilate: bool = True, **kwargs):
        super().__init__(group, in_spec, **kwargs)
        self.field = find_field(in_spec, Image, field)
        self.net = ImageVectors(in_channels + self.noise_dim, 2, hidden, layers, downsample,
                                dilate)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Orthogonal) and group.dim == 2

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        x = sample[self.field]
        check_finite(sample, Spec({self.field: Field(Image())}), batch_layout(sample, Spec(
            {self.field: Field(Image())})))
        v, size = self.net(with_noise_channels(x, noise))
        frame, self.flagged = complete_frame(v, size, proper=_proper(self.group),
                                             tol=degeneracy_tol(self.input_dtype),
                                             sign_tol=sign_tol(self.input_dtype),
                                             generator=self.generator)
        return Proposal(frame, rotation=frame)


class PointFrameCanonicalizer(LearnedCanonicalizer):
    """``h(x) = (GS(v_1..v_d), centroid)`` from EGNN-style equivariant vectors of a point set.

    O(d)/E(d): Gram-Schmidt on ``d`` vectors (reflections from ``det``); SO(d)/SE(d): Gram-Schmidt
    on the first ``d - 1`` independent ones and the last axis their generalized cross product,
    which is exact for mirror-symmetric inputs; E(d)/SE(d) add the centroid as translation. See
    :func:`._matrices.complete_frame` for the degenerate inputs (vectors cancelled by symmetry:
    benzene, methane, CO2, a single atom), which are flagged and given a Haar-random completion.
    Dense, masked (``mask``) and ragged (``batch``) batches are read alike; padding is ignored.

    Gradient: the frame is a smooth function of the positions on non-degenerate inputs (forces of
    an invariant output through it are exact); on flagged ones it is finite, with the random
    axes following the kept ones.

    Args:
        tol: relative size below which a vector counts as cancelled (default:
            :func:`._inputs.frame_tol` of the input dtype: the input's rounding or the
            network's own, whichever moves the frame more).
    """

    compute_dtype = torch.float64

    def __init__(self, group: Group, in_spec: Spec | None = None, field: str | None = None,
                 hidden: int = 32, tol: float | None = None, **kwargs):
        super().__init__(group, in_spec, **kwargs)
        self.field = find_field(in_spec, Point, field)
        self.affine = "translation" in group.kinds
        self.tol = tol
        self.net = PointVectors(group.dim, hidden, self.noise_dim, center=self.affine)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_matrix_group(group)

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        layout = field_layout(sample, self.field)
        check_finite(sample, Spec({self.field: Field(Point(), nodes=True)}), layout)
        pos, mask = point_batch(sample, self.field, layout)
        v, c, size, rho = self.net(pos, noise, mask=mask)
        v, size = with_krylov(v, size, pos, c, mask)
        tol = self.tol if self.tol is not None else frame_tol(self.input_dtype,
                                                               self.compute_dtype)
        frame, self.flagged = complete_frame(
            v, size, proper=_proper(self.group), tol=tol, sign_tol=sign_tol(self.input_dtype),
            generator=self.generator,
            collapsed=collapsed_points(pos, mask, rho, sign_tol(self.input_dtype)))
        element = homogeneous(frame, c) if self.affine else frame
        return Proposal(element, rotation=frame)


class LearnedSortCanonicalizer(LearnedCanonicalizer):
    """``h(x) = argsort(s(x))`` with DeepSets node scores: ``h^-1 x`` lists nodes by score.

    Reads ``field`` or, when ``None``, all node fields of ``in_spec`` concatenated per node.
    """

    def __init__(self, group: Group, in_spec: Spec | None = None, field: str | None = None,
                 hidden: int = 32, in_features: int | None = None, **kwargs):
        super().__init__(group, in_spec, **kwargs)
        self.fields = [field] if field else [n for n, f in (in_spec or {}).items() if f.nodes]
        if not self.fields:
            raise ConfigError("field", "learned_sort needs node fields; name the field")
        self.net = NodeScores(in_features, hidden, self.noise_dim)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Symmetric)

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        x = torch.cat([sample[n].reshape(*sample[n].shape[:2], math.prod(sample[n].shape[2:]))
                       for n in self.fields], -1)
        check_finite({"x": x}, Spec({"x": Field(Point(), nodes=True)}),
                     batch_layout({"x": x}, Spec({"x": Field(Point(), nodes=True)})))
        scores = self.net(x, noise)
        order, self.flagged = argsort_ties(scores, tie_tol(self.input_dtype),
                                           self.generator)
        return Proposal(order, scores=scores)


class OrbitScoresCanonicalizer(LearnedCanonicalizer):
    """``h(x) = argmax_g psi(g^-1 . x)`` over all elements of a small finite group.

    ``psi`` is any network (an MLP over the flattened input fields); the scores
    ``score_g(x) = psi(g^-1 x)`` satisfy ``score_g(h x) = score_{h^-1 g}(x)``, so ``argmax`` is
    exactly equivariant for every spec the group acts on, at the cost of ``|G|`` calls of ``psi``.
    """

    def __init__(self, group: Group, in_spec: Spec | None = None, hidden: int = 32, **kwargs):
        super().__init__(group, in_spec, **kwargs)
        if not in_spec:
            raise ConfigError("in_spec", "learned_orbit_scores needs the input spec")
        self.psi = torch.nn.Sequential(torch.nn.LazyLinear(hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, 1))

    @classmethod
    def supports(cls, group: Group) -> bool:
        return bool(group.is_finite) and (group.order or 0) <= MAX_ORDER

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        check_finite(sample, self.in_spec, batch_layout(sample, self.in_spec))
        copies = Copies(sample, batch_layout(sample, self.in_spec), self.group.order)
        device = next(v.device for v in sample.values() if isinstance(v, Tensor))
        elements = self.group.elements(device=device)
        if copies.layout.size == 0:  # nothing to score (reps need not act on empty batches)
            logits = torch.zeros(0, self.group.order, device=device)
            self.flagged = torch.zeros(0, dtype=torch.bool, device=device)
            return Proposal(self.group.index(elements, logits.argmax(-1)), logits=logits)
        g_inv = tile_elements(self.group.inverse(elements), copies.layout.size)
        moved = self.in_spec.act(self.group, g_inv, copies.sample)
        parts = [moved[n].flatten(1) for n in self.in_spec if n in moved]
        if noise is not None and self.noise_dim:
            parts.append(noise.repeat_interleave(self.group.order, dim=0).to(parts[0].dtype))
        logits = self.psi(torch.cat(parts, dim=1)).reshape(copies.layout.size, self.group.order)
        index, self.flagged = argmax_ties(logits, tie_tol(self.input_dtype),
                                          self.generator)
        return Proposal(self.group.index(elements, index), logits=logits)


@register("canonicalizers", "learned_group_cnn")
def learned_group_cnn(
    group: Group, in_spec: Spec | None = None, field: str | None = None, in_channels: int = 1,
    hidden: int = 16, kernel_size: int = 3, layers: int = 3, pooling: str = "avg",
    downsample: int = 4, noise_dim: int = 0, prior_weight: float = 0.0, tau: float = 1.0,
) -> GroupCNNCanonicalizer:
    """Deep lifting G-CNN canonicalizer for C_n/D_n on images (exact where rot90/flip are).

    Args:
        hidden: channels of every layer of the scoring G-CNN.
        kernel_size: odd filter size.
        layers: number of convolutions (depth).
        pooling: ``max`` or ``avg``: 2x2 pooling between layers.
        downsample: average-pooling factor of the image before the first layer (1: none).
    """
    return GroupCNNCanonicalizer(group, in_spec, field, in_channels, hidden, kernel_size,
                                 layers=layers, pooling=pooling, downsample=downsample,
                                 noise_dim=noise_dim, prior_weight=prior_weight, tau=tau)


@register("canonicalizers", "learned_image_frame")
def learned_image_frame(
    group: Group, in_spec: Spec | None = None, field: str | None = None, in_channels: int = 1,
    hidden: int = 16, layers: int = 3, downsample: int = 1, dilate: bool = True,
    noise_dim: int = 0, prior_weight: float = 0.0,
) -> ImageFrameCanonicalizer:
    """SO(2)/O(2) canonicalizer for images from equivariant moment vectors.

    Args:
        hidden: channels of every D4-invariant layer.
        layers: number of convolutions (depth).
        downsample: average-pooling factor of the image before the first layer (1: none).
        dilate: dilate the layers (1, 2, 4, ...) so the receptive field covers the image.
    """
    return ImageFrameCanonicalizer(group, in_spec, field, in_channels, hidden, layers,
                                   downsample=downsample, dilate=dilate, noise_dim=noise_dim,
                                   prior_weight=prior_weight)


@register("canonicalizers", "learned_point_frame")
def learned_point_frame(
    group: Group, in_spec: Spec | None = None, field: str | None = None, hidden: int = 32,
    noise_dim: int = 0, prior_weight: float = 0.0, tol: float | None = None,
) -> PointFrameCanonicalizer:
    """O(d)/SO(d)/E(d)/SE(d) canonicalizer for point sets: EGNN vectors + Gram-Schmidt."""
    return PointFrameCanonicalizer(group, in_spec, field, hidden, tol, noise_dim=noise_dim,
                                   prior_weight=prior_weight)


@register("canonicalizers", "learned_sort")
def learned_sort(
    group: Group, in_spec: Spec | None = None, field: str | None = None, hidden: int = 32,
    in_features: int | None = None, noise_dim: int = 0, prior_weight: float = 0.0, tau: float = 1.0,
) -> LearnedSortCanonicalizer:
    """S_N canonicalizer: sort nodes by learned DeepSets scores (soft sort while training)."""
    return LearnedSortCanonicalizer(group, in_spec, field, hidden, in_features, noise_dim=noise_dim,
                             prior_weight=prior_weight, tau=tau)


@register("canonicalizers", "learned_orbit_scores")
def learned_orbit_scores(
    group: Group, in_spec: Spec | None = None, hidden: int = 32, noise_dim: int = 0,
    prior_weight: float = 0.0, tau: float = 1.0,
) -> OrbitScoresCanonicalizer:
    """Finite groups (order <= 128) on any spec: argmax of psi(g^-1 x) over all elements."""
    return OrbitScoresCanonicalizer(group, in_spec, hidden, noise_dim=noise_dim,
                                    prior_weight=prior_weight, tau=tau)


def default_learned_canonicalizer(group: Group, in_spec: Spec, **params) -> LearnedCanonicalizer:
    """The first learned canonicalizer that fits ``group`` and the fields of ``in_spec``.

    Images: ``learned_group_cnn`` then ``learned_image_frame``; points: ``learned_point_frame``;
    S_N: ``learned_sort``; other finite groups: ``learned_orbit_scores``.
    """
    reps = [f.rep for f in in_spec.values()]
    has_image = any(isinstance(r, Image) for r in reps)
    has_points = any(isinstance(r, Point) for r in reps)
    choices = [(GroupCNNCanonicalizer, has_image), (ImageFrameCanonicalizer, has_image),
               (PointFrameCanonicalizer, has_points), (LearnedSortCanonicalizer, True),
               (OrbitScoresCanonicalizer, True)]
    for cls, fits in choices:
        if fits and cls.supports(group):
            return cls(group, in_spec, **params)
    raise ConfigError("canonicalizer", f"no learned canonicalizer supports {group!r} with "
                      f"inputs {in_spec!r}")

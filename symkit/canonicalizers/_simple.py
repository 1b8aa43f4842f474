"""Canonicalizers by centring, scale normalization and sorting."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.canonicalizers._base import Canonicalizer
from symkit.groups import Group, Scaling, Symmetric, Translation
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._batching import batch_layout, check_finite
from symkit.symmetrizers._frame_averaging import _fraction, _sort_key
from symkit.symmetrizers._frames import point_moments
from symkit.symmetrizers._geometry import point_field
from symkit.symmetrizers._sorting import sorting_frame

__all__ = ["CentroidCanonicalizer", "ScaleCanonicalizer", "SortCanonicalizer"]


class CentroidCanonicalizer(Canonicalizer):
    """T(d): ``h(x) = c(x)``, the translation by the centroid of the (valid) points.

    Differentiable in the points; a sample without points gets ``c = 0`` and is ``flagged``.

    Args:
        group: T(d); in_spec: input spec; field: the point field (default: first ``point``).
    """

    def __init__(self, group: Group, in_spec: Spec, *, field: str | None = None):
        super().__init__(group, in_spec)
        self.field = point_field(in_spec, field)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Translation)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, (self.field,), layout)
        mom = point_moments(
            sample[self.field], center=True, mask=sample.get("mask"), batch=layout.batch,
            num_graphs=layout.size,
        )
        self.flagged = mom.count <= 0  # no points: the zero translation
        self._metrics = {"degenerate_fraction": _fraction(self.flagged)}
        return mom.center


class ScaleCanonicalizer(Canonicalizer):
    """Scaling: ``h(x) = s(x)``, the RMS radius ``sqrt(1/n sum_j |x_j|^2)`` of the points.

    Then ``h(x)^-1 x`` has RMS radius 1. All-zero (or empty) point sets are a fixed point of
    every scaling; they get ``s = 1`` and are ``flagged`` (an output that must scale cannot).
    Gradient: ``s`` is differentiable in the points (away from 0).
    """

    def __init__(self, group: Group, in_spec: Spec, *, field: str | None = None):
        super().__init__(group, in_spec)
        self.field = point_field(in_spec, field)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Scaling)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, (self.field,), layout)
        mom = point_moments(
            sample[self.field], center=False, mask=sample.get("mask"), batch=layout.batch,
            num_graphs=layout.size,
        )
        zero = mom.scale <= 0
        self.flagged = zero
        self._metrics = {"degenerate_fraction": _fraction(zero)}
        return torch.where(zero, torch.ones_like(mom.scale), mom.scale.clamp_min(1e-300).sqrt())


class SortCanonicalizer(Canonicalizer):
    """S_N: the order that sorts nodes by a scalar key (ties broken uniformly at random).

    Samples with tied keys are ``flagged`` (equivariant in distribution). Permutations carry
    no gradient; the output's gradient is the backbone's through the permuted inputs.

    Args:
        key: scalar node field to sort by (default: the first node field, first channel).
        generator: random source for tie-breaks.
    """

    def __init__(
        self, group: Group, in_spec: Spec, *, key: str | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__(group, in_spec)
        self.key, self.generator = key, generator

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Symmetric)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        check_finite(sample, self.in_spec, batch_layout(sample, self.in_spec))
        key = _sort_key(sample, self.in_spec, self.key)
        perms, _, ties = sorting_frame(key, sample.get("mask"), max_ties=1,
                                       generator=self.generator)
        self.flagged = ties  # a random tie-break: equivariant in distribution
        self._metrics = {"tied_fraction": float(ties.double().mean()) if len(ties) else 0.0,
                         "degenerate_fraction": _fraction(ties)}
        return perms[:, 0]


@register("canonicalizers", "centroid")
def centroid(group: Group, in_spec: Spec, *, field: str | None = None) -> CentroidCanonicalizer:
    """T(d): translate by the centroid of the points."""
    return CentroidCanonicalizer(group, in_spec, field=field)


@register("canonicalizers", "scale")
def scale(group: Group, in_spec: Spec, *, field: str | None = None) -> ScaleCanonicalizer:
    """Scaling: normalize the RMS radius of the points to 1."""
    return ScaleCanonicalizer(group, in_spec, field=field)


@register("canonicalizers", "sort")
def sort(group: Group, in_spec: Spec, *, key: str | None = None) -> SortCanonicalizer:
    """S_N: sort nodes by a scalar key."""
    return SortCanonicalizer(group, in_spec, key=key)

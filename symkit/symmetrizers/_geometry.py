"""Which part of a group frames act on, how to build its elements, and where the points are.

Frames and canonicalizers produce a rotation ``R`` (``(n, d, d)``) and/or a translation ``t``
(``(n, d)``); :func:`make_element` turns them into an element of O(d), SO(d), E(d), SE(d) or
T(d) in the encodings of ``docs/internals.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.groups import Euclidean, Group, Orthogonal, Translation
from symkit.groups._euclidean import homogeneous
from symkit.reps import Point, Pseudovector, Vector
from symkit.spec import Spec

__all__ = [
    "is_pca_group",
    "proper_only",
    "has_translation",
    "make_element",
    "point_field",
    "vector_fields",
]


def is_pca_group(group: Group) -> bool:
    """O(d), SO(d), E(d), SE(d) or T(d) (not a product): the groups PCA frames handle."""
    return isinstance(group, (Orthogonal, Euclidean, Translation))


def proper_only(group: Group) -> bool:
    """Whether the group's rotations all have ``det = +1`` (SO(d), SE(d))."""
    return "reflection" not in group.kinds


def has_translation(group: Group) -> bool:
    return "translation" in group.kinds


def make_element(group: Group, rot: Tensor | None, t: Tensor | None) -> Tensor:
    """The element ``x -> rot x + t`` of ``group`` (a missing part is the identity).

    Shapes:
        rot: ``(n, d, d)``; t: ``(n, d)``; returns the group's encoding of ``n`` elements.
    """
    like = rot if rot is not None else t
    n, d = like.shape[0], like.shape[-1]
    if isinstance(group, Translation):
        return t
    if rot is None:
        rot = torch.eye(d, dtype=like.dtype, device=like.device).expand(n, d, d)
    if isinstance(group, Euclidean):
        return homogeneous(rot, t if t is not None else rot.new_zeros(n, d))
    return rot


def point_field(spec: Spec, name: str | None = None) -> str:
    """The field frames are computed from: ``name``, else the spec's first ``point`` field,
    else its first vector field."""
    if name is not None:
        if name not in spec:
            raise KeyError(f"frame field '{name}' is not in the input spec {list(spec)}")
        return name
    for kind in (Point, Vector):
        for field, f in spec.items():
            if isinstance(f.rep, kind) and not isinstance(f.rep, Pseudovector):
                return field
    raise KeyError(f"the input spec {list(spec)} has no point or vector field to build frames")


def vector_fields(sample: Mapping[str, Tensor], names: list[str] | tuple[str, ...]) -> list[Tensor]:
    """The tensors of the named extra fields (missing ones are an error naming the field)."""
    missing = [n for n in names if n not in sample]
    if missing:
        raise KeyError(f"extra frame fields {missing} are not in the sample")
    return [sample[n] for n in names]

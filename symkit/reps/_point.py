"""Points of affine space: ``x -> R x + t``."""

from __future__ import annotations

from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.registry import register
from symkit.reps._cartesian import Vector, apply_matrix

__all__ = ["Point", "point"]


class Point(Vector):
    """A position: ``x -> R x + t`` with ``R = matrix(g)`` and ``t = translation(g)``.

    Either part may be absent (``None``): rotations act linearly, translations only shift.
    Supported on groups with at most one spatial factor (``S_n x E(3)`` yes, ``C4 x T(2)`` no:
    a direct product's factors commute, rotations and translations of points do not).

    Shapes:
        x: ``(n, ..., d)``; the translation ``(n, d)`` broadcasts over the middle dims.
    """

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        m = group.matrix(g)
        if m is not None:
            x = apply_matrix(m, x)
        t = group.translation(g)
        if t is not None:
            t = t.to(dtype=x.dtype, device=x.device)
            x = x + t.reshape(t.shape[0], *(1,) * (x.ndim - 2), t.shape[-1])
        return x

    def is_invariant(self, group: Group) -> bool:
        return False

    def supports(self, group: Group) -> bool:
        # x -> R x + t only composes correctly when one factor carries both parts: a direct
        # product like C4 x T(2) has commuting factors, but rotations and shifts do not commute.
        return sum(f.dim is not None for f in group.factors()) <= 1

    def __repr__(self) -> str:
        return "Point"


@register("reps", "point")
def point() -> Point:
    """Point ``x -> R x + t`` (positions)."""
    return Point()

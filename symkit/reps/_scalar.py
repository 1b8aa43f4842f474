"""The trivial representation: every element acts as the identity."""

from __future__ import annotations

from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.registry import register
from symkit.reps._base import Rep

__all__ = ["Scalar", "scalar"]


class Scalar(Rep):
    """An invariant field (charge, mass, class label): ``rho(g) x = x``.

    Any trailing shape and any dtype (integer labels included) are accepted.

    Shapes:
        x: ``(n, ...)``.
    """

    feature_ndim = 0

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        return x

    def is_invariant(self, group: Group) -> bool:
        return True

    def __repr__(self) -> str:
        return "Scalar"


@register("reps", "scalar")
def scalar() -> Scalar:
    """Invariant field: every element acts as the identity."""
    return Scalar()

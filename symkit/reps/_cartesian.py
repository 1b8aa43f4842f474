"""Cartesian tensors: vectors, pseudovectors and rank-k tensors under the group's matrix.

For an element ``g`` with defining matrix ``R = matrix(g)`` (``d x d``):

* vector:       ``v -> R v``
* pseudovector: ``v -> det(R) R v`` (for orthogonal ``R`` this is the cross-product law)
* tensor(k):    ``T -> (R (x) ... (x) R) T``, i.e. ``T'_{i..} = R_{ia} ... R_{kc} T_{a..c}``

Translations are ignored (a displacement does not move under a shift); groups whose
``matrix(g)`` is ``None`` (permutations, translations only, trivial) act as the identity.
"""

from __future__ import annotations

import math

from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.registry import register
from symkit.reps._base import Rep, space_dim

__all__ = ["Vector", "Pseudovector", "CartesianTensor", "apply_matrix", "vector", "pseudovector",
           "tensor"]


def apply_matrix(m: Tensor, x: Tensor, dim: int = -1) -> Tensor:
    """``m[b]`` along ``dim`` of row ``b``: ``out[b, .., i, ..] = m[b, i, j] x[b, .., j, ..]``.

    Shapes:
        m: ``(n, d, d)``; x: ``(n, ..., d, ...)`` (``d`` at ``dim``); out: like ``x``.
    """
    m = m.to(dtype=x.dtype, device=x.device)
    moved = x.movedim(dim, -1)
    flat = moved.reshape(moved.shape[0], math.prod(moved.shape[1:-1]), moved.shape[-1])
    out = flat @ m.transpose(1, 2)
    return out.reshape(moved.shape).movedim(-1, dim)


def _supports_matrix(group: Group) -> bool:
    dims = {f.dim for f in group.factors() if f.dim is not None}
    return len(dims) <= 1


class CartesianTensor(Rep):
    """Rank-``k`` Cartesian tensor: ``R`` acts on each of the last ``k`` dims.

    Args:
        rank: number of trailing ``d``-sized axes (1 = vector).

    Shapes:
        x: ``(n, ..., d, ..., d)`` with ``rank`` trailing axes of size ``d = group.dim``.
    """

    def __init__(self, rank: int = 2):
        if rank < 0:
            raise ValueError(f"tensor rank must be >= 0, got {rank}")
        self.rank = rank
        self.feature_ndim = rank

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        m = group.matrix(g)
        if m is None:
            return x
        for axis in range(x.ndim - self.rank, x.ndim):
            x = apply_matrix(m, x, axis)
        return x

    def feature_shape(self, group: Group) -> tuple[int | None, ...]:
        return (space_dim(group),) * self.rank

    def supports(self, group: Group) -> bool:
        return _supports_matrix(group)

    def is_invariant(self, group: Group) -> bool:
        return self.rank == 0 or space_dim(group) is None

    def __repr__(self) -> str:
        return f"CartesianTensor(rank={self.rank})"


class Vector(CartesianTensor):
    """A vector (displacement, velocity, force): ``v -> R v``; translations ignored.

    Shapes:
        x: ``(n, ..., d)``.
    """

    def __init__(self):
        super().__init__(rank=1)

    def __repr__(self) -> str:
        return "Vector"


class Pseudovector(Vector):
    """An axial vector (angular momentum, magnetic field): ``v -> det(R) R v``.

    For orthogonal ``R`` this is how a cross product ``a x b`` of two vectors transforms: it
    flips under reflections. For a scaling ``s I`` it gives ``s^(d+1) v``.

    Shapes:
        x: ``(n, ..., d)``.
    """

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        m = group.matrix(g)
        if m is None:
            return x
        m = m.to(dtype=x.dtype, device=x.device)
        return apply_matrix(m * m.det()[:, None, None], x)

    def __repr__(self) -> str:
        return "Pseudovector"


@register("reps", "vector")
def vector() -> Vector:
    """Vector ``v -> R v`` (translations ignored)."""
    return Vector()


@register("reps", "pseudovector")
def pseudovector() -> Pseudovector:
    """Pseudovector ``v -> det(R) R v``: flips sign under reflections."""
    return Pseudovector()


@register("reps", "tensor")
def tensor(rank: int = 2) -> CartesianTensor:
    """Rank-``rank`` Cartesian tensor: ``R`` acts on each of the last ``rank`` dims."""
    return CartesianTensor(rank)

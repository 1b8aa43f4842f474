"""The orthogonal groups O(d) and SO(d), acting on R^d by matrices."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, haar_orthogonal
from symkit.groups._validate import positive_int
from symkit.registry import register

__all__ = ["Orthogonal", "SpecialOrthogonal", "o", "so", "o2", "o3", "so2", "so3"]


class Orthogonal(Group):
    """O(d) = {R in R^{d x d} : R^T R = I}: rotations and reflections of R^d.

    :meth:`sample` is Haar (uniform) on O(d); kind ``rotation`` is Haar on SO(d) and kind
    ``reflection`` is Haar on the coset ``det R = -1``. For ``d = 1``, O(1) = {+1, -1}.

    Args:
        d: dimension of the space (``d >= 1``).

    Shapes:
        element batch: ``(B, d, d)`` float; ``matrix``: the same tensor.
    """

    orthogonal = True
    kinds: tuple[str, ...] = ("rotation", "reflection")
    _name = "o"

    def __init__(self, d: int = 3):
        self.dim = positive_int(self._name, "d", d)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.eye(self.dim, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b

    def inverse(self, a: Tensor) -> Tensor:
        return a.transpose(-1, -2)

    def _det(self) -> int | None:
        return None

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        return finish(haar_orthogonal(n, self.dim, generator, det=self._det()), dtype, device)

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        if kind not in self.kinds:
            return super().sample_kind(kind, n)
        det = 1 if kind == "rotation" else -1
        return finish(haar_orthogonal(n, self.dim, generator, det=det), dtype, device)

    def matrix(self, g: Tensor) -> Tensor:
        return g

    def __repr__(self) -> str:
        return f"O({self.dim})"


class SpecialOrthogonal(Orthogonal):
    """SO(d) = {R in O(d) : det R = 1}: the rotations of R^d, sampled from Haar measure.

    Args:
        d: dimension of the space (``d >= 1``; SO(1) is trivial).

    Shapes:
        element batch: ``(B, d, d)`` float; ``matrix``: the same tensor.
    """

    kinds = ("rotation",)
    _name = "so"

    def _det(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"SO({self.dim})"


@register("groups", "o")
def o(d: int = 3) -> Orthogonal:
    """O(d): rotations and reflections of R^d."""
    return Orthogonal(d)


@register("groups", "so")
def so(d: int = 3) -> SpecialOrthogonal:
    """SO(d): rotations of R^d."""
    return SpecialOrthogonal(d)


@register("groups", "o2")
def o2() -> Orthogonal:
    """O(2): rotations and reflections of the plane."""
    return Orthogonal(2)


@register("groups", "o3")
def o3() -> Orthogonal:
    """O(3): rotations and reflections of space."""
    return Orthogonal(3)


@register("groups", "so2")
def so2() -> SpecialOrthogonal:
    """SO(2): rotations of the plane."""
    return SpecialOrthogonal(2)


@register("groups", "so3")
def so3() -> SpecialOrthogonal:
    """SO(3): rotations of space."""
    return SpecialOrthogonal(3)

"""The cyclic group C_n of rotations of the plane by multiples of 2 pi / n."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, uniform_int
from symkit.groups._validate import positive_int
from symkit.registry import register

__all__ = ["Cyclic", "cyclic", "c4", "rotation_2d"]


def rotation_2d(angle: Tensor) -> Tensor:
    """Rotation matrices ``[[cos, -sin], [sin, cos]]``. Shapes: ``angle (n,)`` -> ``(n, 2, 2)``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


class Cyclic(Group):
    """C_n = {r^k : k = 0..n-1}, ``r`` the rotation of the plane by ``2 pi / n``.

    Args:
        n: order of the group (``n >= 1``).

    Shapes:
        element batch: ``(B,)`` long, ``k`` in ``[0, n)``; ``matrix``: ``(B, 2, 2)`` float64.
    """

    dim = 2
    is_finite = True
    kinds = ("rotation",)
    orthogonal = True

    def __init__(self, n: int = 4):
        self.n = positive_int("cyclic", "n", n)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.zeros(n, dtype=torch.long, device=device)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return (a + b) % self.n

    def inverse(self, a: Tensor) -> Tensor:
        return (-a) % self.n

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return finish(uniform_int(self.n, (n,), generator), None, device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        if kind != "rotation":
            return super().sample_kind(kind, n)
        return self.sample(n, generator=generator, device=device)

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.arange(self.n, device=device)

    @property
    def order(self) -> int:
        return self.n

    def element_index(self, g: Tensor) -> Tensor:
        return g

    def matrix(self, g: Tensor) -> Tensor:
        return rotation_2d(g.to(torch.float64) * (2 * math.pi / self.n))

    def __repr__(self) -> str:
        return f"C{self.n}"


@register("groups", "cyclic")
def cyclic(n: int = 4) -> Cyclic:
    """The cyclic group C_n of plane rotations by multiples of 2 pi / n."""
    return Cyclic(n)


@register("groups", "c4")
def c4() -> Cyclic:
    """C4: plane rotations by multiples of 90 degrees."""
    return Cyclic(4)
